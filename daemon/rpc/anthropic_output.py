"""The answer of ``POST /v1/messages`` in Anthropic's Messages shapes, whole or as SSE events.

A chat.send result becomes a ``message`` object (content blocks: thinking, text, tool_use), a
token count the ``count_tokens`` answer; a chat's events become Anthropic's named SSE events:
``message_start`` and a ``ping``, then each content block's start, deltas and stop (one block
open at a time, tool calls whole and in order), then ``message_delta`` with the stop reason and
usage, and ``message_stop``. A failure once the stream is open is an in-band ``error`` event.
The request side (and the error body this reuses) is :mod:`daemon.rpc.anthropic_wire`; kept
apart as :mod:`daemon.rpc.responses_output` is from :mod:`daemon.rpc.responses_wire`. Pure:
:mod:`daemon.rpc.anthropic_http` only writes what this gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from daemon.adapters.types import (
    Event,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
    empty_usage,
)
from daemon.errors import DaemonError
from daemon.rpc.anthropic_wire import error_body
from daemon.rpc.ids import next_id
from daemon.rpc.tool_order import ToolCallOrder

_STOP_REASONS: Mapping[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "error": "end_turn",  # a malformed tool call (Gemini): the turn is over, Anthropic has no word
}
_TEXT_BLOCK: Mapping[str, str] = {"type": "text", "text": ""}
_TEXT_KEY = ("text", 0)
# A text delta's frame around its index and its text: what frame() makes of
# {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": t}},
# spelled out once because every streamed word takes it.
_TEXT_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":',
    b',"delta":{"type":"text_delta","text":',
    b"}}\n\n",
)
_THINKING_BLOCK: Mapping[str, str] = {"type": "thinking", "thinking": "", "signature": ""}


def wire_usage(usage: Usage) -> dict[str, int]:
    """Anthropic's usage object for a normalized one."""
    return {
        "input_tokens": usage["inputTokens"],
        "cache_creation_input_tokens": usage["cacheWriteTokens"],
        "cache_read_input_tokens": usage["cacheReadTokens"],
        "output_tokens": usage["outputTokens"],
    }


def stop_reason(finish: str) -> str:
    """Anthropic's ``stop_reason`` for a normalized finish reason."""
    return _STOP_REASONS.get(finish, "end_turn")


def content_blocks(normalized: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An assistant message's content blocks: thinking, then text, then tool calls."""
    blocks: list[dict[str, Any]] = []
    if normalized.get("reasoning"):
        # Unsigned when it was not Anthropic's thinking (and then not accepted back).
        signature = normalized.get("reasoningSignature", "")
        blocks.append(
            {"type": "thinking", "thinking": normalized["reasoning"], "signature": signature}
        )
    if normalized.get("content"):
        blocks.append({"type": "text", "text": normalized["content"]})
    blocks.extend(
        {
            "type": "tool_use",
            "id": call["id"] or next_id("toolu_"),
            "name": call["name"],
            "input": call["arguments"],
        }
        for call in normalized.get("toolCalls") or ()
    )
    return blocks


def message(result: Mapping[str, Any], model: str, message_id: str) -> dict[str, Any]:
    """An Anthropic ``message`` object for a chat.send result."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content_blocks(result["message"]),
        "stop_reason": stop_reason(result["finishReason"]),
        "stop_sequence": None,
        "usage": wire_usage(result["usage"]),
    }


def count_answer(tokens: int, *, estimated: bool) -> dict[str, Any]:
    """The count_tokens answer: Anthropic's ``input_tokens``, and whether it is the daemon's
    estimate rather than the provider's own count."""
    return {"input_tokens": tokens, "estimated": estimated}


def frame(payload: Mapping[str, Any]) -> bytes:
    """One SSE event, named after its payload's ``type`` as Anthropic's are."""
    kind: str = payload["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def error_frame(exc: DaemonError) -> bytes:
    """The in-band ``error`` event for a failure once the stream is open."""
    return frame(error_body(exc)[1])


class StreamEncoder:
    """Turns one chat's events into Anthropic's SSE events; the endpoint only writes them.

    Anthropic streams one content block at a time, so a change of kind (thinking, text, another
    tool call) stops the open block and starts the next. Tool calls come through a
    :class:`~daemon.rpc.tool_order.ToolCallOrder` first: whatever order the upstream sent their
    fragments in, each call is one block, and a call waits until the one before it is whole.
    """

    def __init__(self, message_id: str, model: str) -> None:
        self.message_id = message_id
        self.model = model
        self.index = -1  # the open (or last) block's index
        self._open: tuple[str, int] | None = None  # kind of the open block, and its tool ordinal
        self._order = ToolCallOrder(blocks=True)

    def start(self) -> bytes:
        """``message_start`` and a ``ping``, as Anthropic opens a stream."""
        # Input tokens are known only at the end here; message_delta carries them (as the API
        # does nowadays), and the SDKs take its counts over message_start's.
        started: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": wire_usage(empty_usage()),
        }
        return frame({"type": "message_start", "message": started}) + frame({"type": "ping"})

    def feed(self, events: list[Event]) -> list[bytes]:
        """The SSE events for a batch of chat events (none for usage and finish); UpstreamProtocol
        when a tool call goes on after its block had to close."""
        return self._encode(self._order.feed(events))

    def finish(self, result: Mapping[str, Any]) -> bytes:
        """The end of the stream: the calls still held, the open block's stop,
        ``message_delta``, ``message_stop``."""
        frames = self._encode(self._order.end())
        frames += self._stop()
        delta = {"stop_reason": stop_reason(result["finishReason"]), "stop_sequence": None}
        frames.append(
            frame({"type": "message_delta", "delta": delta, "usage": wire_usage(result["usage"])})
        )
        frames.append(frame({"type": "message_stop"}))
        return b"".join(frames)

    def _encode(self, events: list[Event]) -> list[bytes]:
        frames: list[bytes] = []
        for event in events:
            if isinstance(event, TextDelta) and event.text:
                if self._open != _TEXT_KEY:
                    frames += self._begin(_TEXT_KEY, _TEXT_BLOCK)
                head, middle, tail = _TEXT_DELTA
                index = str(self.index).encode()
                frames.append(head + index + middle + orjson.dumps(event.text) + tail)
            elif isinstance(event, ReasoningDelta) and event.text:
                delta = {"type": "thinking_delta", "thinking": event.text}
                frames += self._delta(_THINKING_BLOCK, delta)
            elif isinstance(event, ReasoningDelta) and event.signature:
                delta = {"type": "signature_delta", "signature": event.signature}
                frames += self._delta(_THINKING_BLOCK, delta)
            elif isinstance(event, ToolCallDelta):
                frames += self._tool(event)
        return frames

    def _tool(self, event: ToolCallDelta) -> list[bytes]:
        key = ("tool", event.index)
        frames: list[bytes] = []
        if self._open != key:  # the order begins each call once, with its id and name
            block = {
                "type": "tool_use",
                "id": event.id or next_id("toolu_"),
                "name": event.name or "",
                "input": {},
            }
            frames = self._begin(key, block)
        if event.arguments:
            delta = {"type": "input_json_delta", "partial_json": event.arguments}
            frames.append(self._delta_frame(delta))
        return frames

    def _delta(self, block: Mapping[str, Any], delta: dict[str, Any]) -> list[bytes]:
        key = (block["type"], 0)
        frames = [] if self._open == key else self._begin(key, block)
        frames.append(self._delta_frame(delta))
        return frames

    def _delta_frame(self, delta: dict[str, Any]) -> bytes:
        return frame({"type": "content_block_delta", "index": self.index, "delta": delta})

    def _begin(self, key: tuple[str, int], block: Mapping[str, Any]) -> list[bytes]:
        frames = self._stop()
        self.index += 1
        self._open = key
        frames.append(
            frame({"type": "content_block_start", "index": self.index, "content_block": block})
        )
        return frames

    def _stop(self) -> list[bytes]:
        if self._open is None:
            return []
        self._open = None
        return [frame({"type": "content_block_stop", "index": self.index})]
