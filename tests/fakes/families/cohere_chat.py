"""Cohere v2 Chat (``POST /v2/chat``) as recorded in ``wire/cohere_v2``.

The fake checks what the real API insists on: a bearer key; ``messages`` with the roles
``system`` / ``user`` / ``assistant`` / ``tool`` and text content (a string or ``text`` parts);
assistant ``tool_calls`` as ``{id, type: "function", function: {name, arguments}}`` with the
arguments as a JSON string; tools as ``{type: "function", function: {name, ...}}``; a
``thinking.type`` of ``enabled`` / ``disabled``; and ``tool`` messages whose ``tool_call_id``
answers an earlier call. Streams are named events: ``message-start``, ``content-start`` /
``-delta`` / ``-end`` (thinking, then text), ``tool-plan-delta``, ``tool-call-start`` / ``-delta``
/ ``-end``, ``message-end`` (finish reason and usage), then a bare ``data: [DONE]``.
Cohere has no error event; a failure mid-stream is a ``message-end`` whose finish reason is
``ERROR`` and whose ``delta.error`` says why (Cohere's API definition, not a recording).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from daemon.providers.model import ApiFamily
from tests.fakes.families.script import Call, RequestRejected, Script, ToolResult, Turn
from tests.fakes.families.wire import JSON, Request, Wire, bearer_is, dumps, sse

_ROLES = ("system", "user", "assistant", "tool")
_THINKING = ("enabled", "disabled")
_DONE = b"data: [DONE]\n\n"


def _authorized(headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
    return bearer_is(headers, key)


def _invalid(message: str) -> RequestRejected:
    return RequestRejected(f"invalid request: {message}")


def _text(content: Any) -> str:
    """The text of a message's content: a string, or its ``text`` parts (documents skipped)."""
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(part["text"] for part in content if part.get("type") == "text")


def _images(content: Any) -> int:
    """``image_url`` parts whose URL is a data URL or an http(s) one."""
    parts = [] if content is None or isinstance(content, str) else content
    urls = [
        (p.get("image_url") or {}).get("url", "") for p in parts if p.get("type") == "image_url"
    ]
    return sum(1 for url in urls if url.startswith(("data:image/", "https://", "http://")))


def _check_calls(message: JSON) -> list[str]:
    """The ids of an assistant message's tool calls, each call in Cohere's shape."""
    ids = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        if call.get("type") != "function" or not function.get("name"):
            raise _invalid("tool_calls must be of type function, with a function name")
        try:
            json.loads(function["arguments"])
        except (KeyError, TypeError, ValueError):
            raise _invalid("tool call arguments must be a JSON string") from None
        ids.append(call["id"])
    return ids


def _check_request(body: JSON) -> list[JSON]:
    """The messages, once the request is one Cohere accepts."""
    messages: list[JSON] = body["messages"]
    if not messages:
        raise _invalid("messages cannot be empty")
    for index, message in enumerate(messages):
        if message.get("role") not in _ROLES:
            raise _invalid(f"messages[{index}].role must be one of {', '.join(_ROLES)}")
        if message["role"] == "tool" and not message.get("tool_call_id"):
            raise _invalid(f"messages[{index}].tool_call_id is required")
    for index, tool in enumerate(body.get("tools") or []):
        if tool.get("type") != "function" or not (tool.get("function") or {}).get("name"):
            raise _invalid(f"tools[{index}] must be of type function, with a function name")
    thinking = body.get("thinking")
    if thinking is not None and thinking.get("type") not in _THINKING:
        raise _invalid("thinking.type must be one of enabled, disabled")
    return messages


def _read(request: Request) -> Turn:
    body = request.body
    messages = _check_request(body)
    earlier = [i for m in messages if m["role"] == "assistant" for i in _check_calls(m)]
    users = [i for i, message in enumerate(messages) if message["role"] == "user"]
    after = messages[users[-1] + 1 :] if users else messages
    results = [
        ToolResult(m["tool_call_id"], _text(m["content"])) for m in after if m["role"] == "tool"
    ]
    last = messages[-1]
    return Turn(
        model=body["model"],
        stream=bool(body.get("stream")),
        user_text=_text(last["content"]) if last["role"] == "user" else "",
        images=_images(last["content"]) if last["role"] == "user" else 0,
        stop=body.get("stop_sequences") or [],
        tool_names=[tool["function"]["name"] for tool in body.get("tools") or []],
        tool_results=results,
        earlier_call_ids=earlier,
        system="\n".join(_text(m["content"]) for m in messages if m["role"] == "system"),
    )


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()


def _answer_id(turn: Turn) -> str:
    """A UUID, as Cohere gives its answers, fixed by the turn."""
    return str(uuid.UUID(_digest(turn.model, turn.user_text, len(turn.tool_results))[:32]))


def _call_id(turn: Turn, index: int, call: Call) -> str:
    """Cohere's style: the tool's name, ``_``, twelve lower-case letters and digits."""
    return f"{call.name}_{_digest('call', turn.model, turn.user_text, index)[:12]}"


def _plan(script: Script) -> list[str]:
    """The tool plan Cohere states before its calls, in word pieces."""
    words = f"I will use {script.calls[0].name} to answer this.".split(" ")
    return [words[0], *(f" {word}" for word in words[1:])]


def _finish(script: Script) -> str:
    return "TOOL_CALL" if script.calls else "COMPLETE"


def _usage(script: Script) -> JSON:
    counts = {"input_tokens": script.input_tokens, "output_tokens": script.output_tokens}
    return {"billed_units": counts, "tokens": dict(counts)}


def _tool_call(turn: Turn, index: int, call: Call, arguments: str) -> JSON:
    function = {"name": call.name, "arguments": arguments}
    return {"id": _call_id(turn, index, call), "type": "function", "function": function}


def _json_body(script: Script, turn: Turn) -> bytes:
    message: JSON = {"role": "assistant"}
    content: list[JSON] = []
    if script.reasoning:
        content.append({"type": "thinking", "thinking": "".join(script.reasoning)})
    if script.text:
        content.append({"type": "text", "text": script.whole_text()})
    if content:
        message["content"] = content
    if script.calls:
        message["tool_plan"] = "".join(_plan(script))
        message["tool_calls"] = [
            _tool_call(turn, i, call, json.dumps(call.arguments, separators=(",", ":")))
            for i, call in enumerate(script.calls)
        ]
    answer = {"id": _answer_id(turn), "message": message, "finish_reason": _finish(script)}
    return dumps({**answer, "usage": _usage(script)})


def _event(kind: str, **fields: Any) -> bytes:
    return sse({"type": kind, **fields}, event=kind)


def _content_frames(index: int, kind: str, pieces: list[str]) -> list[bytes]:
    """One content block (``thinking`` or ``text``): start, a delta per piece, end."""
    start = {"message": {"content": {"type": kind, kind: ""}}}
    frames = [_event("content-start", index=index, delta=start)]
    for piece in pieces:
        delta = {"message": {"content": {kind: piece}}}
        frames.append(_event("content-delta", index=index, delta=delta))
    return [*frames, _event("content-end", index=index)]


def _call_frames(turn: Turn, index: int, call: Call) -> list[bytes]:
    arguments = json.dumps(call.arguments, indent=4)  # streamed arguments come pretty-printed
    start = {"message": {"tool_calls": _tool_call(turn, index, call, "")}}
    frames = [_event("tool-call-start", index=index, delta=start)]
    for cut in range(0, len(arguments), 8):
        piece = {"function": {"arguments": arguments[cut : cut + 8]}}
        frames.append(
            _event("tool-call-delta", index=index, delta={"message": {"tool_calls": piece}})
        )
    return [*frames, _event("tool-call-end", index=index)]


def _stream_frames(script: Script, turn: Turn) -> list[bytes]:
    empty = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    start = {"id": _answer_id(turn), "type": "message-start", "delta": {"message": empty}}
    frames = [sse(start, event="message-start")]
    blocks = [
        (kind, pieces)
        for kind, pieces in (("thinking", script.reasoning), ("text", script.text))
        if pieces
    ]
    for index, (kind, pieces) in enumerate(blocks):
        frames += _content_frames(index, kind, pieces)
    if script.calls:
        frames += [
            _event("tool-plan-delta", delta={"message": {"tool_plan": p}}) for p in _plan(script)
        ]
    for index, call in enumerate(script.calls):
        frames += _call_frames(turn, index, call)
    end = {"finish_reason": _finish(script), "usage": _usage(script)}
    return [*frames, _event("message-end", delta=end), _DONE]


def _error_body(status: int, message: str) -> bytes:
    return dumps({"id": str(uuid.UUID(_digest(status, message)[:32])), "message": message})


def _stream_error(message: str) -> bytes:
    return _event("message-end", delta={"error": message, "finish_reason": "ERROR"}) + _DONE


def _models_body(models: list[str], query: Mapping[str, str]) -> bytes:
    """Cohere's v1 listing (``GET /v1/models?endpoint=chat``), one model a page, as documented:
    ``models[]`` with ``name``, ``endpoints`` and ``context_length``, and ``next_page_token``."""
    chat_only = query.get("endpoint") == "chat"
    start = int(query.get("page_token", "0"))
    listed = [
        {
            "name": m,
            "endpoints": ["chat"] if chat_only else ["chat", "embed"],
            "context_length": 128000,
        }
        for m in models[start : start + 1]
    ]
    page: JSON = {"models": listed}
    if start + 1 < len(models):
        page["next_page_token"] = str(start + 1)
    return dumps(page)


WIRE = Wire(
    family=ApiFamily.COHERE_CHAT,
    provider="cohere",
    mount="/cohere",
    base_path="/v2",  # the catalog's https://api.cohere.com/v2; the adapter adds /chat
    routes=(("POST", "/v2/chat"),),
    authorized=_authorized,
    read=_read,
    json_body=_json_body,
    stream_frames=_stream_frames,
    error_body=_error_body,
    stream_error=_stream_error,
    recordings="cohere_v2",
    models_body=_models_body,
    models_route="/v1/models",  # beside the v2 chat: the listing lives in v1
    # A whole answer's thinking block is documented (the SDK's ChatThinkingContent) as
    # {"type": "thinking", "thinking"}, the fields the recorded thinking stream carries; a
    # message-end's "error" is documented (ChatMessageEndEventDelta.error) for an ERROR finish.
    unrecorded=frozenset({"message.content[].thinking", "delta.error"}),
)
