"""OpenAI Responses (``POST /v1/responses``) as recorded in ``wire/openai_responses``.

Served as the ``bedrock-mantle`` catalog row, the one provider whose family is plain
openai-responses. The fake checks what the real API insists on: a bearer key; ``input`` as a
string or a list of known items (role messages whose parts are ``input_text`` / ``output_text``
/ …, ``function_call``, ``function_call_output``, ``reasoning``); ``function`` tools with a
top-level ``name``; a known ``reasoning.effort`` / ``summary``; and ``function_call_output`` items
that answer a ``function_call`` item sent before them. Streams are named events, each with
``type`` and a running ``sequence_number``: ``response.created``, ``response.in_progress``, each
output item's added / part / delta / done events (reasoning summary, message, function call),
then ``response.completed`` with the whole response and its usage; no ``[DONE]``. A failure
mid-stream is an ``error`` event followed by ``response.failed`` (``openai-error.1.chunks.txt``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from daemon.providers.model import ApiFamily
from tests.fakes.families.script import Call, RequestRejected, Script, ToolResult, Turn
from tests.fakes.families.wire import JSON, Request, Wire, bearer_is, dumps, sse

_CREATED = 1757604033  # a fixed created_at: answers stay byte-identical between runs
_ROLES = ("assistant", "system", "developer", "user")
_PARTS = ("input_text", "input_image", "input_file", "output_text", "refusal", "summary_text")
_ITEMS = ("message", "function_call", "function_call_output", "reasoning")
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
_SUMMARIES = (None, "auto", "concise", "detailed")
# (error.type, error.code) by status, as OpenAI words them.
_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    429: ("tokens", "rate_limit_exceeded"),
}


def _authorized(headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
    return bearer_is(headers, key)


def _supported(value: Any, allowed: Iterable[Any]) -> None:
    """RequestRejected in OpenAI's words unless ``value`` is one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        listed = ", ".join(repr(a) for a in allowed if a is not None)
        raise RequestRejected(f"Invalid value: {value!r}. Supported values are: {listed}.")


def _text(content: Any) -> str:
    """The text of a message's or a tool output's content (a string or typed parts)."""
    if isinstance(content, str):
        return content
    for part in content:
        _supported(part.get("type"), _PARTS)
    return "".join(p.get("text", "") for p in content if p["type"] in ("input_text", "output_text"))


def _images(content: Any) -> int:
    """``input_image`` parts whose ``image_url`` is a data URL or an http(s) one."""
    parts = [] if isinstance(content, str) else content
    urls = [str(p.get("image_url") or "") for p in parts if p.get("type") == "input_image"]
    return sum(1 for url in urls if url.startswith(("data:image/", "https://", "http://")))


def _items(raw: Any) -> list[JSON]:
    """The ``input`` items, each of a known kind; a plain string is one user message."""
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise RequestRejected("Missing required parameter: 'input'.")
    for item in raw:
        _supported(item.get("type", "message"), _ITEMS)
        if item.get("type", "message") == "message":
            _supported(item.get("role"), _ROLES)
            _text(item["content"])
        elif item["type"] != "reasoning" and not isinstance(item["call_id"], str):
            raise RequestRejected("Invalid type for 'input[].call_id': expected a string.")
    return raw


def _tool_names(tools: list[JSON]) -> list[str]:
    """The function tools' names (built-in tools such as web_search have none)."""
    for index, tool in enumerate(tools):
        if tool.get("type") == "function" and not tool.get("name"):
            raise RequestRejected(f"Missing required parameter: 'tools[{index}].name'.")
    return [tool["name"] for tool in tools if tool.get("type") == "function"]


def _check_reasoning(reasoning: Any) -> None:
    if reasoning is None:
        return
    _supported(reasoning.get("effort"), (None, *_EFFORTS))
    _supported(reasoning.get("summary"), _SUMMARIES)


def _read(request: Request) -> Turn:
    body = request.body
    items = _items(body.get("input"))
    _check_reasoning(body.get("reasoning"))
    users = [i for i, item in enumerate(items) if item.get("role") == "user"]
    after = items[users[-1] + 1 :] if users else items
    results = [
        ToolResult(item["call_id"], _text(item["output"]))
        for item in after
        if item.get("type") == "function_call_output"
    ]
    last = items[-1] if items else {}
    return Turn(
        model=body["model"],
        stream=bool(body.get("stream")),
        user_text=_text(last["content"]) if last.get("role") == "user" else "",
        images=_images(last["content"]) if last.get("role") == "user" else 0,
        tool_names=_tool_names(body.get("tools") or []),
        tool_results=results,
        earlier_call_ids=[i["call_id"] for i in items if i.get("type") == "function_call"],
        system=body.get("instructions") or "",
    )


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()


def _item_id(prefix: str, turn: Turn, index: int = 0) -> str:
    """An id in OpenAI's style (``resp_``, ``msg_``, ``rs_``, ``fc_`` + 50 hex digits)."""
    return prefix + _digest(prefix, turn.model, turn.user_text, len(turn.tool_results), index)[:50]


def _call_id(turn: Turn, index: int) -> str:
    return "call_" + _digest(turn.model, turn.user_text, index)[:24]


def _pad(delta: str) -> str:
    """The ``obfuscation`` padding OpenAI adds to every delta (random there, fixed here)."""
    return _digest("pad", delta)[: 4 + len(delta) % 11]


def _usage(script: Script) -> JSON:
    return {
        "input_tokens": script.input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": script.output_tokens,
        "output_tokens_details": {"reasoning_tokens": len(script.reasoning)},
        "total_tokens": script.input_tokens + script.output_tokens,
    }


def _text_part(text: str) -> JSON:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _message_item(turn: Turn, status: str, content: list[JSON]) -> JSON:
    item_id = _item_id("msg_", turn)
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def _reasoning_item(turn: Turn, summary: list[JSON]) -> JSON:
    return {"id": _item_id("rs_", turn), "type": "reasoning", "summary": summary}


def _call_item(turn: Turn, ordinal: int, call: Call, arguments: str, status: str) -> JSON:
    return {
        "id": _item_id("fc_", turn, ordinal),
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": _call_id(turn, ordinal),
        "name": call.name,
    }


def _arguments(call: Call) -> str:
    return json.dumps(call.arguments, separators=(",", ":"))


def _output(script: Script, turn: Turn) -> list[JSON]:
    """The finished output items: reasoning summary, message, function calls."""
    items: list[JSON] = []
    if script.reasoning:
        summary = {"type": "summary_text", "text": "".join(script.reasoning)}
        items.append(_reasoning_item(turn, [summary]))
    if script.text:
        items.append(_message_item(turn, "completed", [_text_part(script.whole_text())]))
    for ordinal, call in enumerate(script.calls):
        items.append(_call_item(turn, ordinal, call, _arguments(call), "completed"))
    return items


def _response(turn: Turn, status: str, output: list[JSON], usage: JSON | None) -> JSON:
    return {
        "id": _item_id("resp_", turn),
        "object": "response",
        "created_at": _CREATED,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": turn.system or None,
        "model": turn.options.base,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "usage": usage,
    }


def _json_body(script: Script, turn: Turn) -> bytes:
    return dumps(_response(turn, "completed", _output(script, turn), _usage(script)))


def _item_event(kind: str, index: int, item: JSON) -> JSON:
    return {"type": f"response.output_item.{kind}", "output_index": index, "item": item}


def _reasoning_events(index: int, turn: Turn, pieces: list[str]) -> list[JSON]:
    text = "".join(pieces)
    at = {"item_id": _item_id("rs_", turn), "output_index": index, "summary_index": 0}
    kind = "response.reasoning_summary"
    return [
        _item_event("added", index, _reasoning_item(turn, [])),
        {"type": f"{kind}_part.added", **at, "part": {"type": "summary_text", "text": ""}},
        *({"type": f"{kind}_text.delta", **at, "delta": p, "obfuscation": _pad(p)} for p in pieces),
        {"type": f"{kind}_text.done", **at, "text": text},
        {"type": f"{kind}_part.done", **at, "part": {"type": "summary_text", "text": text}},
        _item_event("done", index, _reasoning_item(turn, [{"type": "summary_text", "text": text}])),
    ]


def _message_events(index: int, turn: Turn, pieces: list[str]) -> list[JSON]:
    text = "".join(pieces)
    at = {"item_id": _item_id("msg_", turn), "output_index": index, "content_index": 0}
    deltas = (
        {
            "type": "response.output_text.delta",
            **at,
            "delta": p,
            "logprobs": [],
            "obfuscation": _pad(p),
        }
        for p in pieces
    )
    return [
        _item_event("added", index, _message_item(turn, "in_progress", [])),
        {"type": "response.content_part.added", **at, "part": _text_part("")},
        *deltas,
        {"type": "response.output_text.done", **at, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **at, "part": _text_part(text)},
        _item_event("done", index, _message_item(turn, "completed", [_text_part(text)])),
    ]


def _call_events(index: int, turn: Turn, ordinal: int, call: Call) -> list[JSON]:
    arguments = _arguments(call)
    at = {"item_id": _item_id("fc_", turn, ordinal), "output_index": index}
    kind = "response.function_call_arguments"
    pieces = [arguments[cut : cut + 8] for cut in range(0, len(arguments), 8)]
    return [
        _item_event("added", index, _call_item(turn, ordinal, call, "", "in_progress")),
        *({"type": f"{kind}.delta", **at, "delta": p, "obfuscation": _pad(p)} for p in pieces),
        {"type": f"{kind}.done", **at, "arguments": arguments},
        _item_event("done", index, _call_item(turn, ordinal, call, arguments, "completed")),
    ]


def _stream_frames(script: Script, turn: Turn) -> list[bytes]:
    started = _response(turn, "in_progress", [], None)
    events: list[JSON] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
    ]
    index = 0
    if script.reasoning:
        events += _reasoning_events(index, turn, script.reasoning)
        index += 1
    if script.text:
        events += _message_events(index, turn, script.text)
        index += 1
    for ordinal, call in enumerate(script.calls):
        events += _call_events(index + ordinal, turn, ordinal, call)
    done = _response(turn, "completed", _output(script, turn), _usage(script))
    events.append({"type": "response.completed", "response": done})
    return [sse({**e, "sequence_number": n}, event=e["type"]) for n, e in enumerate(events)]


def _error_body(status: int, message: str) -> bytes:
    kind, code = _ERRORS.get(status, ("server_error", None))
    return dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


def _stream_error(message: str) -> bytes:
    """``error`` then ``response.failed``, as recorded. This hook gets only the message, so the
    frames carry no ``sequence_number`` (it could not continue the stream's) and the failed
    response has an id of its own."""
    error = {"type": "server_error", "code": "server_error", "message": message, "param": None}
    failed = {
        "id": "resp_" + _digest("failed", message)[:50],
        "object": "response",
        "created_at": _CREATED,
        "status": "failed",
        "error": {"code": "server_error", "message": message},
        "incomplete_details": None,
        "output": [],
        "usage": None,
    }
    return sse({"type": "error", "error": error}, event="error") + sse(
        {"type": "response.failed", "response": failed}, event="response.failed"
    )


WIRE = Wire(
    family=ApiFamily.OPENAI_RESPONSES,
    provider="bedrock-mantle",
    mount="/responses",
    base_path="/v1",
    routes=(("POST", "/v1/responses"),),
    authorized=_authorized,
    read=_read,
    json_body=_json_body,
    stream_frames=_stream_frames,
    error_body=_error_body,
    stream_content_type="text/event-stream; charset=utf-8",
    stream_error=_stream_error,
    recordings="openai_responses",
    # No recording lists models (GET /v1/models), so the fake offers no model list.
    # The recorded whole (non-streamed) responses have no reasoning item; a reasoning item is
    # documented as {"id", "type": "reasoning", "summary": [{"type": "summary_text", "text"}]},
    # which is what the recorded streams carry inside response.completed.
    unrecorded=frozenset(
        {"output[].summary", "output[].summary[].type", "output[].summary[].text"}
    ),
)
