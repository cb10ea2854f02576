"""The ``anthropic-messages`` family: ``POST {base}/messages``, JSON or SSE.

Anthropic's own API (``x-api-key``) and the gateways that speak it with a bearer token
(MiniMax, Kimi for coding). System messages move to the top-level ``system``; tool results
become ``tool_result`` blocks of a user turn; consecutive turns of one role are merged, as the
API wants roles to alternate. :class:`StreamParser` keeps the per-stream state Anthropic's
events need (which content block is which tool call, the input token count).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from daemon.adapters import common
from daemon.adapters.forwarding import Forwarding
from daemon.adapters.relay import MESSAGES_STREAM
from daemon.adapters.types import (
    THINKING_BUDGET,
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
from daemon.errors import UpstreamProtocol

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_FINISH: Mapping[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# What a count_tokens body must not carry (the API refuses extra fields): the answer's settings.
_NOT_COUNTED = ("max_tokens", "stream", "temperature", "stop_sequences")
_TOOL_CHOICE: Mapping[str, dict[str, str]] = {
    "auto": {"type": "auto"},
    "required": {"type": "any"},
    "none": {"type": "none"},
}


def build_request(target: Target, call: ChatCall) -> HttpRequest:
    """The HTTP request for ``call`` to ``target``."""
    body = {"model": target.model, **request_body(call)}
    headers = common.headers(
        target, accept="text/event-stream" if call.stream else "application/json"
    )
    headers.setdefault("anthropic-version", API_VERSION)
    return HttpRequest("POST", f"{target.base_url}/messages", headers, orjson.dumps(body))


def request_body(call: ChatCall) -> dict[str, Any]:
    """The Messages body for ``call``, without ``model`` (Vertex names it in the URL)."""
    system = common.system_texts(call)
    body: dict[str, Any] = {
        "messages": common.merged_turns(
            [m for m in call.messages if m["role"] != "system"], _blocks
        ),
        "max_tokens": call.max_tokens or DEFAULT_MAX_TOKENS,
        "stream": call.stream,
    }
    if system:
        body["system"] = "\n\n".join(system)
    if call.temperature is not None:
        body["temperature"] = call.temperature
    if call.stop:
        body["stop_sequences"] = list(call.stop)
    if call.tools:
        body["tools"] = [_wire_tool(tool) for tool in call.tools]
        if call.tool_choice is not None:
            body["tool_choice"] = _wire_tool_choice(call.tool_choice)
    if call.reasoning is not None:
        budget = THINKING_BUDGET[call.reasoning]  # max_tokens must exceed it
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        body["max_tokens"] = max(body["max_tokens"], budget + DEFAULT_MAX_TOKENS)
        body.pop("temperature", None)  # thinking requires the default temperature
    return body


def _block(part: Mapping[str, Any]) -> dict[str, Any]:
    if part["type"] == "text":
        return {"type": "text", "text": part["text"]}
    if part.get("url"):
        return {"type": "image", "source": {"type": "url", "url": part["url"]}}
    media_type = part.get("mimeType", "image/png")
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": media_type, "data": part["data"]},
    }


def _blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content", "")
    if message["role"] == "tool":
        return [
            {
                "type": "tool_result",
                "tool_use_id": message["toolCallId"],
                "content": common.text_of(content),
            }
        ]
    blocks = (
        [{"type": "text", "text": content}]
        if isinstance(content, str)
        else [_block(p) for p in content]
    )
    blocks = [
        b for b in blocks if b["type"] != "text" or b["text"]
    ]  # empty text blocks are refused
    if message.get("reasoningSignature"):
        # With thinking on, Anthropic wants the turn's signed thinking back before its tool
        # calls; unsigned reasoning (another family's) cannot be sent as thinking at all.
        thinking = message.get("reasoning", "")
        signature = message["reasoningSignature"]
        blocks.insert(0, {"type": "thinking", "thinking": thinking, "signature": signature})
    for call in message.get("toolCalls") or ():
        blocks.append(
            {"type": "tool_use", "id": call["id"], "name": call["name"], "input": call["arguments"]}
        )
    return blocks


def _wire_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    wire = {"name": tool["name"], "input_schema": tool.get("parameters") or {"type": "object"}}
    if tool.get("description"):
        wire["description"] = tool["description"]
    return wire


def _wire_tool_choice(choice: Any) -> dict[str, str]:
    if isinstance(choice, dict):
        return {"type": "tool", "name": choice["name"]}
    return _TOOL_CHOICE[choice]


def parse_usage(raw: Mapping[str, Any], usage: Usage | None = None) -> Usage:
    """Anthropic's usage counts merged into ``usage`` (message_delta repeats only some)."""
    merged = empty_usage() if usage is None else usage.copy()

    def count(key: str, default: int) -> int:
        value = raw.get(key)
        return default if value is None else int(value)

    merged["inputTokens"] = count("input_tokens", merged["inputTokens"])
    merged["outputTokens"] = count("output_tokens", merged["outputTokens"])
    merged["cacheReadTokens"] = count("cache_read_input_tokens", merged["cacheReadTokens"])
    merged["cacheWriteTokens"] = count("cache_creation_input_tokens", merged["cacheWriteTokens"])
    return merged


class StreamParser:
    """Turns one message's SSE payloads into events; ``done`` once ``message_stop`` came."""

    def __init__(self) -> None:
        self.tools: dict[int, int] = {}  # content block index -> tool call ordinal
        self.usage = empty_usage()
        self.done = False

    def feed(self, payload: bytes) -> list[Event]:
        event = common.json_object(payload)
        kind = event.get("type")
        if kind == "error":
            raise common.error_from_body(event, status=200)
        handler = getattr(self, f"_on_{kind}", None)
        return handler(event) if handler is not None else []  # ping, and types added later

    def _on_message_start(self, event: Mapping[str, Any]) -> list[Event]:
        self.usage = parse_usage((event.get("message") or {}).get("usage") or {})
        return []

    def _on_content_block_start(self, event: Mapping[str, Any]) -> list[Event]:
        block = event.get("content_block") or {}
        if block.get("type") == "tool_use":
            ordinal = self.tools.setdefault(int(event["index"]), len(self.tools))
            return [ToolCallDelta(ordinal, block.get("id"), block.get("name"))]
        if block.get("type") == "text" and block.get("text"):
            return [TextDelta(block["text"])]
        return []

    def _on_content_block_delta(self, event: Mapping[str, Any]) -> list[Event]:
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            return [TextDelta(delta.get("text", ""))]
        if kind == "thinking_delta":
            return [ReasoningDelta(delta.get("thinking", ""))]
        if kind == "signature_delta":
            return [ReasoningDelta("", signature=delta.get("signature"))]
        if kind == "input_json_delta":
            ordinal = self.tools.get(int(event.get("index", -1)))
            if ordinal is None:
                raise UpstreamProtocol("tool input for a content block that is not a tool call")
            return [ToolCallDelta(ordinal, arguments=delta.get("partial_json", ""))]
        return []  # citations are not part of the normalized message

    def _on_message_delta(self, event: Mapping[str, Any]) -> list[Event]:
        self.usage = parse_usage(event.get("usage") or {}, self.usage)
        events: list[Event] = [UsageEvent(self.usage)]
        reason = (event.get("delta") or {}).get("stop_reason")
        if reason:
            events.append(Finish(_FINISH.get(reason, "stop")))
        return events

    def _on_message_stop(self, event: Mapping[str, Any]) -> list[Event]:
        self.done = True
        return []


def parse_body(payload: bytes) -> list[Event]:
    """Events equivalent to a whole (non-streamed) message."""
    body = common.json_object(payload)
    if body.get("type") == "error":
        raise common.error_from_body(body, status=200)
    if not isinstance(body.get("content"), list):
        raise UpstreamProtocol("the message has no content list")
    events: list[Event] = []
    tools = 0
    for block in body["content"]:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            events.append(TextDelta(block["text"]))
        elif kind == "thinking" and block.get("thinking"):
            events.append(ReasoningDelta(block["thinking"], signature=block.get("signature")))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            events.append(ToolCallDelta(tools, block.get("id"), block.get("name"), arguments))
            tools += 1
    events.append(UsageEvent(parse_usage(body.get("usage") or {})))
    events.append(Finish(_FINISH.get(body.get("stop_reason") or "end_turn", "stop")))
    return events


# The typed error for an HTTP error answer (Anthropic's 529 "overloaded" included).
map_error = common.error_from_status

# A client's own Messages request, sent on whole (see :mod:`daemon.routing`).
forwarding = Forwarding(
    "/messages", "content", MESSAGES_STREAM, map_error, defaults={"anthropic-version": API_VERSION}
)


# Send a call and yield its events as they arrive, one list per network read.
stream = common.streamer(build_request, parse_body, StreamParser, map_error)


def _after_last(page: Mapping[str, Any]) -> str | None:
    """Anthropic pages with ``has_more`` and the page's ``last_id`` as the next ``after_id``."""
    return str(page["last_id"]) if page.get("has_more") and page.get("last_id") else None


async def models(
    session: aiohttp.ClientSession, target: Target, connect_timeout: float
) -> list[str]:
    """Model ids from ``GET {base}/models``, every page (1000 a page, the API's maximum)."""
    headers = common.headers(target, accept="application/json")
    headers.setdefault("anthropic-version", API_VERSION)

    def page(after: str | None) -> HttpRequest:
        url = f"{target.base_url}/models?limit=1000"
        if after:
            url += f"&after_id={quote(after, safe='')}"
        return HttpRequest("GET", url, headers)

    return await common.paged_models(
        session, page, common.model_ids, _after_last, connect_timeout, map_error
    )


async def count_tokens(
    session: aiohttp.ClientSession, target: Target, call: ChatCall, connect_timeout: float
) -> int:
    """The provider's count of ``call``'s input tokens: ``POST {base}/messages/count_tokens``
    with the Messages body less what only shapes the answer."""
    body = {"model": target.model, **request_body(call)}
    for name in _NOT_COUNTED:
        body.pop(name, None)
    headers = common.headers(target, accept="application/json")
    headers.setdefault("anthropic-version", API_VERSION)
    url = f"{target.base_url}/messages/count_tokens"
    request = HttpRequest("POST", url, headers, orjson.dumps(body))
    answer = await common.fetch_json(session, request, connect_timeout, map_error)
    return common.count_in(answer, "input_tokens")
