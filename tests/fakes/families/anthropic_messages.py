"""Anthropic Messages (``POST /v1/messages``) as recorded in ``wire/anthropic_messages``.

The fake checks what the real API insists on: ``x-api-key`` and ``anthropic-version``,
``max_tokens``, alternating roles, and ``tool_result`` blocks that answer a ``tool_use`` of the
previous assistant turn. Streams are ``message_start``, ``content_block_*``, ``ping``,
``message_delta`` and ``message_stop``; an overload mid-stream is an ``error`` event.

``POST /v1/messages/count_tokens`` counts a request's input tokens as a message's usage would:
no recording shows it, so it follows the API reference (the Messages body less the answer's
settings, which the API refuses as extra inputs; the answer ``{"input_tokens": N}``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from daemon.providers.model import ApiFamily
from tests.fakes.families.script import (
    Call,
    RequestRejected,
    Script,
    ToolResult,
    Turn,
    input_tokens,
)
from tests.fakes.families.wire import JSON, Request, Wire, dumps, sse

_KINDS = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}
SIGNATURE = "EqQBCgIYAhIM"  # what the fake signs its thinking with, and expects back
# Anthropic's words when a tool loop with thinking on drops the signed thinking block.
UNSIGNED_THINKING = (
    "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
    "`tool_use`. When `thinking` is enabled, a final `assistant` message must start with a "
    "thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks)."
)
# Messages fields a count_tokens body may not carry: they shape the answer, not the input.
ANSWER_ONLY = ("max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences")


def _authorized(headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
    return headers.get("x-api-key") == key and bool(headers.get("anthropic-version"))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if b.get("type") == "text")


def _starts_with_signed_thinking(blocks: list[JSON]) -> bool:
    first = blocks[0] if blocks else {}
    return first.get("type") == "thinking" and first.get("signature") == SIGNATURE


def _images(content: Any) -> int:
    """``image`` blocks with a base64 source (media type and data) or a URL source."""
    blocks = [] if isinstance(content, str) else content
    sources = [b.get("source") or {} for b in blocks if b.get("type") == "image"]
    base64 = [
        s for s in sources if s.get("type") == "base64" and s.get("media_type") and s.get("data")
    ]
    return len(base64) + sum(1 for s in sources if s.get("type") == "url" and s.get("url"))


def _read(request: Request) -> Turn:
    if not isinstance(request.body.get("max_tokens"), int):
        raise RequestRejected("max_tokens: Field required")
    return _turn(request.body)


def _count_tokens(request: Request) -> bytes:
    body = request.body
    for name in ANSWER_ONLY:
        if name in body:
            raise RequestRejected(f"{name}: Extra inputs are not permitted")
    for name in ("model", "messages"):
        if name not in body:
            raise RequestRejected(f"{name}: Field required")
    return dumps({"input_tokens": input_tokens(_turn(body))})


def _turn(body: JSON) -> Turn:
    """The turn a Messages body (or a count_tokens body: the same, less the answer's settings)
    asks about; RequestRejected for what the API refuses."""
    messages: list[JSON] = body["messages"]
    roles = [m["role"] for m in messages]
    if roles[:1] != ["user"] or any(a == b for a, b in zip(roles, roles[1:], strict=False)):
        raise RequestRejected("messages: roles must alternate, starting with user")
    last = messages[-1]["content"]
    blocks = [] if isinstance(last, str) else last
    results = [
        ToolResult(b["tool_use_id"], _text(b["content"]))
        for b in blocks
        if b.get("type") == "tool_result"
    ]
    previous = messages[-2]["content"] if len(messages) > 1 else []
    earlier = [b["id"] for b in previous if isinstance(b, dict) and b.get("type") == "tool_use"]
    if body.get("thinking") and earlier and not _starts_with_signed_thinking(previous):
        raise RequestRejected(UNSIGNED_THINKING)
    system = body.get("system") or ""
    return Turn(
        model=body["model"],
        stream=bool(body.get("stream")),
        user_text=_text(last),
        images=_images(last),
        stop=body.get("stop_sequences") or [],
        tool_names=[tool["name"] for tool in body.get("tools") or []],
        tool_results=results,
        earlier_call_ids=earlier,
        system=system if isinstance(system, str) else _text(system),
    )


def _call_id(turn: Turn, index: int) -> str:
    digest = hashlib.sha256(f"{turn.model}{turn.user_text}{index}".encode()).hexdigest()
    return f"toolu_01{digest[:22]}"


def _usage(script: Script, *, output: int) -> JSON:
    return {
        "input_tokens": script.input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output,
        "service_tier": "standard",
    }


def _stop_reason(script: Script) -> str:
    return "tool_use" if script.calls else "end_turn"


def _blocks(script: Script, turn: Turn) -> list[JSON]:
    blocks: list[JSON] = []
    if script.reasoning:
        thinking = "".join(script.reasoning)
        blocks.append({"type": "thinking", "thinking": thinking, "signature": SIGNATURE})
    if script.text:
        blocks.append({"type": "text", "text": script.whole_text()})
    for index, call in enumerate(script.calls):
        block = {"type": "tool_use", "id": _call_id(turn, index), "name": call.name}
        blocks.append({**block, "input": call.arguments})
    return blocks


def _message(script: Script, turn: Turn, content: list[JSON], output: int) -> JSON:
    return {
        "id": "msg_01" + hashlib.sha256(turn.model.encode()).hexdigest()[:22],
        "type": "message",
        "role": "assistant",
        "model": turn.options.base,
        "content": content,
        "stop_reason": _stop_reason(script) if content else None,
        "stop_sequence": None,
        "usage": _usage(script, output=output),
    }


def _json_body(script: Script, turn: Turn) -> bytes:
    return dumps(_message(script, turn, _blocks(script, turn), script.output_tokens))


def _tool_frames(index: int, call_id: str, call: Call) -> list[bytes]:
    arguments = json.dumps(call.arguments)
    start = {"type": "tool_use", "id": call_id, "name": call.name, "input": {}}
    frames = [_event("content_block_start", index=index, content_block=start)]
    for cut in range(0, len(arguments), 8):
        delta = {"type": "input_json_delta", "partial_json": arguments[cut : cut + 8]}
        frames.append(_event("content_block_delta", index=index, delta=delta))
    return [*frames, _event("content_block_stop", index=index)]


def _event(kind: str, **fields: Any) -> bytes:
    return sse({"type": kind, **fields}, event=kind)


def _stream_frames(script: Script, turn: Turn) -> list[bytes]:
    frames = [_event("message_start", message=_message(script, turn, [], 1))]
    index = 0
    if script.reasoning:
        start = {"type": "thinking", "thinking": "", "signature": ""}
        frames.append(_event("content_block_start", index=index, content_block=start))
        for piece in script.reasoning:
            delta = {"type": "thinking_delta", "thinking": piece}
            frames.append(_event("content_block_delta", index=index, delta=delta))
        signature = {"type": "signature_delta", "signature": SIGNATURE}
        frames.append(_event("content_block_delta", index=index, delta=signature))
        frames.append(_event("content_block_stop", index=index))
        index += 1
    if script.text:
        block = {"type": "text", "text": ""}
        frames.append(_event("content_block_start", index=index, content_block=block))
        frames.append(sse({"type": "ping"}, event="ping"))
        for piece in script.text:
            delta = {"type": "text_delta", "text": piece}
            frames.append(_event("content_block_delta", index=index, delta=delta))
        frames.append(_event("content_block_stop", index=index))
        index += 1
    for ordinal, call in enumerate(script.calls):
        frames += _tool_frames(index, _call_id(turn, ordinal), call)
        index += 1
    ending: JSON = {"stop_reason": _stop_reason(script), "stop_sequence": None}
    usage = {"output_tokens": script.output_tokens}
    frames.append(_event("message_delta", delta=ending, usage=usage))
    return [*frames, _event("message_stop")]


def _error_body(status: int, message: str) -> bytes:
    kind = _KINDS.get(status, "api_error")
    return dumps({"type": "error", "error": {"type": kind, "message": message}})


def _stream_error(message: str) -> bytes:
    return _event("error", error={"type": "overloaded_error", "message": message})


def _models_body(models: list[str], query: Mapping[str, str]) -> bytes:
    """One model a page; ``after_id`` names the last model of the page before."""
    after = query.get("after_id")
    start = models.index(after) + 1 if after else 0
    data = [{"type": "model", "id": m, "display_name": m} for m in models[start : start + 1]]
    more = start + 1 < len(models)
    ends = {"first_id": models[start], "last_id": models[start]}
    return dumps({"data": data, "has_more": more, **ends})


WIRE = Wire(
    family=ApiFamily.ANTHROPIC_MESSAGES,
    provider="anthropic",
    mount="/anthropic",
    base_path="/v1",
    routes=(("POST", "/v1/messages"),),
    authorized=_authorized,
    read=_read,
    json_body=_json_body,
    stream_frames=_stream_frames,
    error_body=_error_body,
    stream_error=_stream_error,
    recordings="anthropic_messages",
    models_body=_models_body,
    models_route="/v1/models",
    count_route="/v1/messages/count_tokens",
    count_tokens=_count_tokens,
    free_form=("content[].input", "content_block.input"),
    # The recordings stream their thinking; a whole message's thinking block is documented as
    # {"type": "thinking", "thinking", "signature"}, the same fields the stream carries.
    unrecorded=frozenset({"content[].thinking", "content[].signature"}),
)
