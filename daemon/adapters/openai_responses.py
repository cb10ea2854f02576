"""The ``openai-responses`` family: ``POST {base}/responses``, JSON or SSE.

OpenAI's newer API. A conversation is a list of ``input`` items: role messages with typed
content parts, and ``function_call`` / ``function_call_output`` items for tool traffic.
System messages move to the top-level ``instructions``. Nothing is stored upstream
(``store: false``). :class:`StreamParser` keeps the per-stream state the typed events need
(which output item is which tool call, whether reasoning came already).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from daemon.adapters import common
from daemon.adapters.forwarding import Forwarding
from daemon.adapters.openai_shapes import image_url
from daemon.adapters.relay import RESPONSES_STREAM
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
)
from daemon.errors import UpstreamProtocol

SUMMARY_BREAK = "\n\n"  # between reasoning summary parts, streamed or not


def build_request(target: Target, call: ChatCall) -> HttpRequest:
    """The HTTP request for ``call`` to ``target``."""
    headers = common.headers(
        target, accept="text/event-stream" if call.stream else "application/json"
    )
    url = common.with_query_key(f"{target.base_url}/responses", target)
    return HttpRequest("POST", url, headers, orjson.dumps(request_body(target, call)))


def request_body(target: Target, call: ChatCall) -> dict[str, Any]:
    """The JSON body of a Responses call (the Codex backend adds to it)."""
    system = common.system_texts(call)
    body: dict[str, Any] = {
        "model": target.model,
        "input": [item for m in call.messages if m["role"] != "system" for item in _items(m)],
        "stream": call.stream,
        "store": False,
    }
    if system:
        body["instructions"] = "\n\n".join(system)
    if call.max_tokens is not None:
        body["max_output_tokens"] = call.max_tokens
    if call.temperature is not None and call.reasoning is None:
        # Reasoning models refuse a temperature ("Unsupported parameter"), as Anthropic's
        # thinking does: with reasoning on, the model's own sampling applies.
        body["temperature"] = call.temperature
    if call.tools:
        body["tools"] = [_wire_tool(tool) for tool in call.tools]
        if call.tool_choice is not None:
            body["tool_choice"] = _wire_tool_choice(call.tool_choice)
    if call.reasoning is not None:
        body["reasoning"] = {"effort": call.reasoning, "summary": "auto"}
    return body


def _input_part(part: Mapping[str, Any]) -> dict[str, Any]:
    if part["type"] == "text":
        return {"type": "input_text", "text": part["text"]}
    return {"type": "input_image", "image_url": image_url(part)}


def _items(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The input items of one normalized message (an assistant turn may give several)."""
    role, content = message["role"], message.get("content", "")
    if role == "tool":
        return [
            {
                "type": "function_call_output",
                "call_id": message["toolCallId"],
                "output": common.text_of(content),
            }
        ]
    if role == "assistant":
        text = common.text_of(content)
        items: list[dict[str, Any]] = []
        if text:
            items.append({"role": "assistant", "content": [{"type": "output_text", "text": text}]})
        for call in message.get("toolCalls") or ():
            items.append(
                {
                    "type": "function_call",
                    "call_id": call["id"],
                    "name": call["name"],
                    "arguments": orjson.dumps(call["arguments"]).decode(),
                }
            )
        return items
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
    return [{"role": role, "content": [_input_part(part) for part in parts]}]


def _wire_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    wire = {
        "type": "function",
        "name": tool["name"],
        "parameters": tool.get("parameters") or {"type": "object"},
    }
    if tool.get("description"):
        wire["description"] = tool["description"]
    return wire


def _wire_tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and "name" in choice:
        return {"type": "function", "name": choice["name"]}
    return choice


def parse_usage(raw: Mapping[str, Any]) -> Usage:
    """The Responses usage object in the normalized shape."""
    given = raw.get("input_tokens_details") or {}
    produced = raw.get("output_tokens_details") or {}
    return {
        "inputTokens": int(raw.get("input_tokens") or 0),
        "outputTokens": int(raw.get("output_tokens") or 0),
        "cacheReadTokens": int(given.get("cached_tokens") or 0),
        "cacheWriteTokens": int(given.get("cache_write_tokens") or 0),
        "reasoningTokens": int(produced.get("reasoning_tokens") or 0),
    }


def _ending(response: Mapping[str, Any], calls: bool) -> list[Event]:
    """Usage and finish reason of a finished response object."""
    events: list[Event] = []
    if response.get("usage"):
        events.append(UsageEvent(parse_usage(response["usage"])))
    reason: FinishReason = "tool_calls" if calls else "stop"
    if response.get("status") == "incomplete":
        cause = (response.get("incomplete_details") or {}).get("reason")
        reason = "length" if cause == "max_output_tokens" else "content_filter"
    events.append(Finish(reason))
    return events


class StreamParser:
    """Turns one response's SSE payloads into events; ``done`` once it completed or stopped."""

    def __init__(self) -> None:
        self.tools: dict[int, int] = {}  # output_index -> tool call ordinal
        self.streamed: set[int] = set()  # ordinals whose arguments came as deltas
        self.reasoned = False
        self.done = False

    def feed(self, payload: bytes) -> list[Event]:
        event = common.json_object(payload)
        kind = event.get("type")
        if not isinstance(kind, str):
            return []
        if kind == "error":
            raise common.error_from_body(event, status=200)
        name = kind.removeprefix("response.").replace(".", "_")
        handler = getattr(self, f"_on_{name}", None)
        return handler(event) if handler is not None else []  # and types added later

    def _on_output_text_delta(self, event: Mapping[str, Any]) -> list[Event]:
        delta = event.get("delta")
        return [TextDelta(delta)] if isinstance(delta, str) and delta else []

    def _on_reasoning_summary_part_added(self, event: Mapping[str, Any]) -> list[Event]:
        return [ReasoningDelta(SUMMARY_BREAK)] if self.reasoned else []

    def _on_reasoning_summary_text_delta(self, event: Mapping[str, Any]) -> list[Event]:
        delta = event.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        self.reasoned = True
        return [ReasoningDelta(delta)]

    _on_reasoning_text_delta = _on_reasoning_summary_text_delta

    def _on_output_item_added(self, event: Mapping[str, Any]) -> list[Event]:
        item = event.get("item") or {}
        if item.get("type") != "function_call":
            return []
        ordinal = self.tools.setdefault(int(event.get("output_index", -1)), len(self.tools))
        return [ToolCallDelta(ordinal, item.get("call_id"), item.get("name"))]

    def _on_function_call_arguments_delta(self, event: Mapping[str, Any]) -> list[Event]:
        ordinal = self.tools.get(int(event.get("output_index", -1)))
        if ordinal is None:
            raise UpstreamProtocol("call arguments for an output item that is not a tool call")
        self.streamed.add(ordinal)
        return [ToolCallDelta(ordinal, arguments=event.get("delta") or "")]

    def _on_output_item_done(self, event: Mapping[str, Any]) -> list[Event]:
        """Arguments sent whole, for servers that skip the delta events."""
        item = event.get("item") or {}
        ordinal = self.tools.get(int(event.get("output_index", -1)))
        if item.get("type") != "function_call" or ordinal is None or ordinal in self.streamed:
            return []
        self.streamed.add(ordinal)
        return [ToolCallDelta(ordinal, arguments=item.get("arguments") or "")]

    def _on_completed(self, event: Mapping[str, Any]) -> list[Event]:
        self.done = True
        return _ending(event.get("response") or {}, bool(self.tools))

    def _on_incomplete(self, event: Mapping[str, Any]) -> list[Event]:
        self.done = True
        response = {"status": "incomplete", **(event.get("response") or {})}
        return _ending(response, bool(self.tools))

    def _on_failed(self, event: Mapping[str, Any]) -> list[Event]:
        raise common.error_from_body(event.get("response") or {}, status=200)


def parse_body(payload: bytes) -> list[Event]:
    """Events equivalent to a whole (non-streamed) response."""
    body = common.json_object(payload)
    if body.get("error") or body.get("status") == "failed":
        raise common.error_from_body(body, status=200)
    if not isinstance(body.get("output"), list):
        raise UpstreamProtocol("the response has no output list")
    events: list[Event] = []
    summaries: list[str] = []
    tools = 0
    for item in body["output"]:
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                if part.get("type") == "output_text" and part.get("text"):
                    events.append(TextDelta(part["text"]))
        elif kind == "reasoning":
            parts = item.get("summary") or item.get("content") or ()
            summaries += [part["text"] for part in parts if part.get("text")]
        elif kind == "function_call":
            events.append(
                ToolCallDelta(
                    tools, item.get("call_id"), item.get("name"), item.get("arguments") or ""
                )
            )
            tools += 1
    if summaries:
        events.insert(0, ReasoningDelta(SUMMARY_BREAK.join(summaries)))
    return events + _ending(body, tools > 0)


# The typed error for an HTTP error answer.
map_error = common.error_from_status

# A client's own Responses request, sent on whole (see :mod:`daemon.routing`).
forwarding = Forwarding("/responses", "output", RESPONSES_STREAM, map_error)


# Send a call and yield its events as they arrive, one list per network read.
stream = common.streamer(build_request, parse_body, StreamParser, map_error)


async def models(
    session: aiohttp.ClientSession, target: Target, connect_timeout: float
) -> list[str]:
    """Model ids from ``GET {base}/models``."""
    headers = common.headers(target, accept="application/json")
    url = common.with_query_key(f"{target.base_url}/models", target)
    return await common.list_models(
        session, HttpRequest("GET", url, headers), connect_timeout, map_error
    )
