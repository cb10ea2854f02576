"""The ``cohere-chat`` family: Cohere's native v2 Chat, ``POST {base}/chat``, JSON or SSE.

Messages keep their roles (system, user, assistant, tool); tool calls carry their arguments as
a JSON string; tool results are ``tool`` turns with a ``tool_call_id``. Cohere's stream names
each event (``message-start`` ... ``message-end``) and ends with ``data: [DONE]``.
:class:`StreamParser` numbers tool calls in arrival order. A tool plan (the model's stated
intent before calling tools) and thinking content both become reasoning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from daemon.adapters import common
from daemon.adapters.openai_shapes import wire_part, wire_tool_calls
from daemon.adapters.types import (
    ChatCall,
    Event,
    Finish,
    FinishReason,
    HttpRequest,
    ReasoningDelta,
    Target,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
    empty_usage,
)
from daemon.errors import UpstreamProtocol, UpstreamUnavailable
from daemon.log import scrub

# Cohere's models listing lives on v1 only; it pages, 20 models by default, 1000 at most.
MODELS_QUERY = "?endpoint=chat&page_size=1000"
_FINISH: Mapping[str, FinishReason] = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR_LIMIT": "length",  # older API versions
    "ERROR_TOXIC": "content_filter",
}
_TOOL_CHOICE: Mapping[str, str] = {"required": "REQUIRED", "none": "NONE"}


def build_request(target: Target, call: ChatCall) -> HttpRequest:
    """The HTTP request for ``call`` to ``target``."""
    body: dict[str, Any] = {
        "model": target.model,
        "messages": [_message(m) for m in call.messages],
        "stream": call.stream,
    }
    if call.max_tokens is not None:
        body["max_tokens"] = call.max_tokens
    if call.stop:
        body["stop_sequences"] = list(call.stop)
    if call.temperature is not None:
        body["temperature"] = call.temperature
    if call.tools:
        tools = call.tools
        choice = call.tool_choice
        if isinstance(choice, dict):  # no "this tool" choice: offer only that one, required
            tools = [t for t in tools if t["name"] == choice["name"]] or tools
            choice = "required"
        body["tools"] = [_wire_tool(tool) for tool in tools]
        if choice in _TOOL_CHOICE:
            body["tool_choice"] = _TOOL_CHOICE[choice]  # "auto" is the default: omitted
    if call.reasoning is not None:
        body["thinking"] = {"type": "enabled"}
    headers = common.headers(
        target, accept="text/event-stream" if call.stream else "application/json"
    )
    return HttpRequest("POST", f"{target.base_url}/chat", headers, orjson.dumps(body))


def _message(message: Mapping[str, Any]) -> dict[str, Any]:
    role = message["role"]
    content = message.get("content", "")
    if role == "tool":
        return {
            "role": "tool",
            "tool_call_id": message["toolCallId"],
            "content": common.text_of(content),
        }
    if role == "system":
        return {"role": "system", "content": common.text_of(content)}
    if role == "user":
        wire = content if isinstance(content, str) else [wire_part(p) for p in content]
        return {"role": "user", "content": wire}
    turn: dict[str, Any] = {"role": "assistant"}
    text = common.text_of(content)
    calls = message.get("toolCalls") or ()
    if text or not calls:
        turn["content"] = text
    if calls:
        turn["tool_calls"] = wire_tool_calls(list(calls))
    return turn


def _wire_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    function = {"name": tool["name"], "parameters": tool.get("parameters") or {"type": "object"}}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def parse_usage(raw: Mapping[str, Any]) -> Usage:
    """Cohere's usage: the billed units, or the raw token counts when no bill is given."""
    usage = empty_usage()
    counts = raw.get("billed_units") or raw.get("tokens") or {}
    usage["inputTokens"] = int(counts.get("input_tokens") or 0)
    usage["outputTokens"] = int(counts.get("output_tokens") or 0)
    return usage


def _finish(reason: str | None, error: Any = None) -> FinishReason:
    """The normalized finish reason; an ``ERROR`` finish raises with Cohere's ``error`` text."""
    if reason == "ERROR":
        detail = scrub(str(error))[: common.DETAIL_LIMIT] if error else ""
        raise UpstreamUnavailable(detail or "Cohere ended the answer with an error")
    return _FINISH.get(reason or "COMPLETE", "stop")


def _message_delta(event: Mapping[str, Any]) -> dict[str, Any]:
    message = (event.get("delta") or {}).get("message") or {}
    return message if isinstance(message, dict) else {}


class StreamParser:
    """Turns one answer's SSE payloads into events; ``done`` at ``message-end`` or ``[DONE]``."""

    def __init__(self) -> None:
        self.tools: dict[int, int] = {}  # the event's index -> tool call ordinal
        self.done = False

    def feed(self, payload: bytes) -> list[Event]:
        if payload.strip() == b"[DONE]":
            self.done = True
            return []
        event = common.json_object(payload)
        kind = str(event.get("type", ""))
        handler = getattr(self, f"_on_{kind.replace('-', '_')}", None)
        return handler(event) if handler is not None else []  # *-start/*-end, citations

    def _on_content_delta(self, event: Mapping[str, Any]) -> list[Event]:
        content = _message_delta(event).get("content") or {}
        if content.get("thinking"):
            return [ReasoningDelta(content["thinking"])]
        if content.get("text"):
            return [TextDelta(content["text"])]
        return []

    def _on_content_start(self, event: Mapping[str, Any]) -> list[Event]:
        return self._on_content_delta(event)  # starts have carried "" so far; keep any text

    def _on_tool_plan_delta(self, event: Mapping[str, Any]) -> list[Event]:
        plan = _message_delta(event).get("tool_plan")
        return [ReasoningDelta(plan)] if plan else []

    def _on_tool_call_start(self, event: Mapping[str, Any]) -> list[Event]:
        call = _message_delta(event).get("tool_calls") or {}
        ordinal = self.tools.setdefault(int(event.get("index", len(self.tools))), len(self.tools))
        function = call.get("function") or {}
        return [
            ToolCallDelta(
                ordinal, call.get("id"), function.get("name"), function.get("arguments") or ""
            )
        ]

    def _on_tool_call_delta(self, event: Mapping[str, Any]) -> list[Event]:
        ordinal = self.tools.get(int(event.get("index", -1)))
        if ordinal is None:
            raise UpstreamProtocol("tool arguments for a tool call that never started")
        call = _message_delta(event).get("tool_calls") or {}
        arguments = (call.get("function") or {}).get("arguments") or ""
        return [ToolCallDelta(ordinal, arguments=arguments)] if arguments else []

    def _on_message_end(self, event: Mapping[str, Any]) -> list[Event]:
        delta = event.get("delta") or {}
        self.done = True
        reason = _finish(delta.get("finish_reason"), delta.get("error"))
        return [UsageEvent(parse_usage(delta.get("usage") or {})), Finish(reason)]


def parse_body(payload: bytes) -> list[Event]:
    """Events equivalent to a whole (non-streamed) answer."""
    body = common.json_object(payload)
    message = body.get("message")
    if not isinstance(message, dict):
        raise UpstreamProtocol("the answer has no message")
    events: list[Event] = []
    if message.get("tool_plan"):
        events.append(ReasoningDelta(message["tool_plan"]))
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "thinking" and block.get("thinking"):
            events.append(ReasoningDelta(block["thinking"]))
        elif kind == "text" and block.get("text"):
            events.append(TextDelta(block["text"]))
    for ordinal, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        arguments = function.get("arguments") or ""
        events.append(ToolCallDelta(ordinal, call.get("id"), function.get("name"), arguments))
    events.append(UsageEvent(parse_usage(body.get("usage") or {})))
    events.append(Finish(_finish(body.get("finish_reason"))))
    return events


# The typed error for an HTTP error answer (Cohere's ``{"id", "message"}`` envelope).
map_error = common.error_from_status


# Send a call and yield its events as they arrive, one list per network read.
stream = common.streamer(build_request, parse_body, StreamParser, map_error)


def models_url(base_url: str) -> str:
    """The v1 models listing beside a v2 base URL."""
    base = base_url.rstrip("/")
    if base.endswith("/v2"):
        base = base[: -len("/v2")] + "/v1"
    return f"{base}/models{MODELS_QUERY}"


def parse_models(payload: bytes) -> list[str]:
    """Model names from ``{"models": [{"name": ...}, ...]}``, sorted."""
    try:
        listing = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise UpstreamProtocol("the model list is not JSON") from None
    items = listing.get("models") if isinstance(listing, dict) else None
    return sorted(
        str(item["name"]) for item in items or () if isinstance(item, dict) and "name" in item
    )


async def models(
    session: aiohttp.ClientSession, target: Target, connect_timeout: float
) -> list[str]:
    """Chat model names from ``GET .../v1/models``, every page."""
    headers = common.headers(target, accept="application/json")

    def page(token: str | None) -> HttpRequest:
        url = models_url(target.base_url)
        if token:
            url += f"&page_token={quote(token, safe='')}"
        return HttpRequest("GET", url, headers)

    return await common.paged_models(
        session, page, parse_models, common.token_in("next_page_token"), connect_timeout, map_error
    )
