"""The ``openai-completions`` family: ``POST {base}/chat/completions``, JSON or SSE.

Most catalog rows speak it. Pure functions build the request and parse chunks and bodies;
:func:`stream` is the one I/O step. Provider differences are quirk flags on the row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from daemon.adapters import common
from daemon.adapters.forwarding import Forwarding
from daemon.adapters.openai_shapes import wire_part, wire_tool_calls
from daemon.adapters.relay import CHAT_STREAM
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
from daemon.providers.model import Quirk

DONE = b"[DONE]"
_FINISH: Mapping[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def build_request(target: Target, call: ChatCall) -> HttpRequest:
    """The HTTP request for ``call`` to ``target``."""
    url = common.with_query_key(f"{target.base_url}/chat/completions", target)
    return request_to(url, target, call)


def request_to(url: str, target: Target, call: ChatCall) -> HttpRequest:
    """The Chat Completions request for ``call``, posted to ``url``.

    Families that speak this wire at another address (Azure OpenAI) build their URL and
    call this, so the body and headers stay defined once.
    """
    body: dict[str, Any] = {
        "model": target.model,
        "messages": [_wire_message(m) for m in call.messages],
        "stream": call.stream,
    }
    if call.stream and not target.provider.has(Quirk.NO_STREAM_USAGE):
        body["stream_options"] = {"include_usage": True}
    if call.max_tokens is not None:
        limit_key = (
            "max_completion_tokens"
            if target.provider.has(Quirk.MAX_COMPLETION_TOKENS)
            else "max_tokens"
        )
        body[limit_key] = call.max_tokens
    if call.temperature is not None:
        body["temperature"] = call.temperature
    if call.stop:
        body["stop"] = list(call.stop)
    if call.tools:
        body["tools"] = [_wire_tool(tool) for tool in call.tools]
        if call.tool_choice is not None and not target.provider.has(Quirk.NO_TOOL_CHOICE):
            body["tool_choice"] = _wire_tool_choice(call.tool_choice)
    if call.reasoning is not None:
        body["reasoning_effort"] = call.reasoning
    headers = common.headers(
        target, accept="text/event-stream" if call.stream else "application/json"
    )
    return HttpRequest("POST", url, headers, orjson.dumps(body))


# A client's own Chat Completions request, sent on whole (see :mod:`daemon.routing`).


def _wire_message(message: dict[str, Any]) -> dict[str, Any]:
    role, content = message["role"], message.get("content", "")
    if role == "tool":
        return {
            "role": "tool",
            "tool_call_id": message["toolCallId"],
            "content": common.text_of(content),
        }
    if role == "assistant":
        wire: dict[str, Any] = {"role": "assistant", "content": common.text_of(content) or None}
        if message.get("toolCalls"):
            wire["tool_calls"] = wire_tool_calls(message["toolCalls"])
        return wire
    if isinstance(content, str):
        return {"role": role, "content": content}
    return {"role": role, "content": [wire_part(part) for part in content]}


def _wire_tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = {"name": tool["name"], "parameters": tool.get("parameters", {"type": "object"})}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _wire_tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and "name" in choice:
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


def parse_usage(raw: Mapping[str, Any]) -> Usage:
    """OpenAI's usage object in the normalized shape."""
    prompt = raw.get("prompt_tokens_details") or {}
    completion = raw.get("completion_tokens_details") or {}
    return {
        "inputTokens": int(raw.get("prompt_tokens") or 0),
        "outputTokens": int(raw.get("completion_tokens") or 0),
        "cacheReadTokens": int(prompt.get("cached_tokens") or 0),
        "cacheWriteTokens": 0,
        "reasoningTokens": int(completion.get("reasoning_tokens") or 0),
    }


def parse_chunk(payload: bytes) -> list[Event] | None:
    """Events in one SSE ``data`` payload; None for ``[DONE]``."""
    if payload.strip() == DONE:
        return None
    chunk = common.json_object(payload)
    if "error" in chunk:
        raise common.error_from_body(chunk, status=200)
    events: list[Event] = []
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        _content_events(delta, events)
        for call in delta.get("tool_calls") or ():
            function = call.get("function") or {}
            events.append(
                ToolCallDelta(
                    index=int(call.get("index", 0)),
                    id=call.get("id"),
                    name=function.get("name"),
                    arguments=function.get("arguments") or "",
                )
            )
        if choice.get("finish_reason"):
            events.append(Finish(_FINISH.get(choice["finish_reason"], "stop")))
    if chunk.get("usage"):
        events.append(UsageEvent(parse_usage(chunk["usage"])))
    return events


def parse_body(payload: bytes) -> list[Event]:
    """Events equivalent to a whole (non-streamed) completion."""
    body = common.json_object(payload)
    if "error" in body:
        raise common.error_from_body(body, status=200)
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise UpstreamProtocol("the completion has no choices")
    message = choices[0].get("message") or {}
    events: list[Event] = []
    _content_events(message, events)
    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        events.append(
            ToolCallDelta(
                index, call.get("id"), function.get("name"), function.get("arguments") or ""
            )
        )
    events.append(Finish(_FINISH.get(choices[0].get("finish_reason") or "stop", "stop")))
    if body.get("usage"):
        events.append(UsageEvent(parse_usage(body["usage"])))
    return events


def _content_events(delta: Mapping[str, Any], events: list[Event]) -> None:
    # DeepSeek and vLLM send "reasoning_content"; OpenRouter and others "reasoning".
    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        events.append(ReasoningDelta(reasoning))
    content = delta.get("content")
    if isinstance(content, str) and content:
        events.append(TextDelta(content))


# The typed error for an HTTP error answer.
map_error = common.error_from_status

# A client's own Chat Completions request, sent on whole (see :mod:`daemon.routing`).
forwarding = Forwarding("/chat/completions", "choices", CHAT_STREAM, map_error, least=1)


class StreamParser:
    """Chat Completions chunks into events; ``done`` at ``[DONE]`` (later ones are ignored)."""

    def __init__(self) -> None:
        self.done = False

    def feed(self, payload: bytes) -> list[Event]:
        events = None if self.done else parse_chunk(payload)
        if events is None:
            self.done = True
            return []
        return events


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
