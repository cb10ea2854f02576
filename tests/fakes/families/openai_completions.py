"""OpenAI Chat Completions (``POST /v1/chat/completions``) for the contract suite.

The chunk and body layouts are the ones ``tests/fakes/openai_chat.py`` renders (checked there,
and in ``test_family_fakes``, against ``wire/openai_chat``); this module maps the shared
:class:`Script` onto them. The fake checks that each ``tool`` message answers a ``tool_calls``
entry of the assistant message before it, as OpenAI does. OpenAI has no in-stream error event
for a model that fails halfway: the connection breaks.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from typing import Any

from daemon.providers.model import ApiFamily
from tests.fakes import openai_chat
from tests.fakes.families.script import Script, ToolResult, Turn
from tests.fakes.families.wire import JSON, Request, Wire, bearer_is, dumps

_KINDS = {400: "invalid_request_error", 401: "invalid_request_error", 429: "requests"}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or () if p.get("type") == "text")


def _images(content: Any) -> int:
    """``image_url`` parts whose URL is a data URL or an http(s) one."""
    parts = [] if isinstance(content, str) else content or ()
    urls = [
        (p.get("image_url") or {}).get("url", "") for p in parts if p.get("type") == "image_url"
    ]
    return sum(1 for url in urls if url.startswith(("data:image/", "https://", "http://")))


def _read(request: Request) -> Turn:
    body = request.body
    messages: list[JSON] = body["messages"]
    answered = len(messages)  # where the trailing run of tool results starts
    while answered and messages[answered - 1]["role"] == "tool":
        answered -= 1
    tail = messages[answered:]
    results = [ToolResult(m["tool_call_id"], _text(m["content"])) for m in tail]
    before = messages[answered - 1] if tail and answered else {}
    earlier = [c["id"] for c in before.get("tool_calls") or ()]
    users = [m for m in messages if m["role"] == "user"]
    system = [_text(m["content"]) for m in messages if m["role"] in ("system", "developer")]
    return Turn(
        model=body["model"],
        stream=bool(body.get("stream")),
        user_text=_text(users[-1]["content"]) if users and not tail else "",
        images=_images(users[-1]["content"]) if users and not tail else 0,
        tool_names=[t["function"]["name"] for t in body.get("tools") or ()],
        tool_results=results,
        earlier_call_ids=earlier,
        system=" ".join(system),
        stop=[body["stop"]] if isinstance(body.get("stop"), str) else body.get("stop") or [],
    )


def _reply(script: Script, turn: Turn) -> openai_chat.Reply:
    calls = [
        openai_chat.ToolCall(_call_id(turn, index), call.name, json.dumps(call.arguments))
        for index, call in enumerate(script.calls)
    ]
    return openai_chat.Reply(script.text, script.reasoning, calls, script.input_tokens)


def _call_id(turn: Turn, index: int) -> str:
    digest = hashlib.sha256(f"{turn.model}{turn.user_text}{index}".encode()).hexdigest()
    return f"call_{digest[:24]}"


def _envelope(turn: Turn) -> openai_chat.Envelope:
    digest = hashlib.sha256(turn.model.encode()).hexdigest()
    rng = random.Random(digest)
    base = turn.options.base
    return openai_chat.Envelope(f"chatcmpl-{digest[:29]}", 1_763_700_000, base, False, False, rng)


def _json_body(script: Script, turn: Turn) -> bytes:
    return openai_chat.completion_body(_reply(script, turn), _envelope(turn))


def _stream_frames(script: Script, turn: Turn) -> list[bytes]:
    return openai_chat.stream_frames(_reply(script, turn), _envelope(turn), include_usage=True)


def _error_body(status: int, message: str) -> bytes:
    kind = _KINDS.get(status, "server_error")
    return dumps({"error": {"message": message, "type": kind, "param": None, "code": None}})


def _models_body(models: list[str], query: Mapping[str, str]) -> bytes:
    data = [
        {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "system"} for m in models
    ]
    return dumps({"object": "list", "data": data})


def _authorized(headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
    return bearer_is(headers, key)


WIRE = Wire(
    family=ApiFamily.OPENAI_COMPLETIONS,
    provider="openai",
    mount="/openai",
    base_path="/v1",
    routes=(("POST", "/v1/chat/completions"),),
    authorized=_authorized,
    read=_read,
    json_body=_json_body,
    stream_frames=_stream_frames,
    error_body=_error_body,
    recordings="openai_chat",
    models_body=_models_body,
    models_route="/v1/models",
    # OpenAI's own models return no reasoning text; compatible servers (DeepSeek, vLLM, ...)
    # send it as ``reasoning_content``, which the recordings of OpenAI itself cannot show.
    unrecorded=frozenset(
        {"choices[].delta.reasoning_content", "choices[].message.reasoning_content"}
    ),
)
