"""The answer of ``POST /v1/responses`` in the Responses API's shapes, whole or as SSE events.

A chat.send result becomes a ``response`` object (output items: reasoning, message,
function_call); a chat's events become the Responses event sequence, as the recordings in
``../shared/fixtures/wire/openai_responses`` show it: ``response.created`` and
``response.in_progress``, then for each output item its ``output_item.added``, part, delta and
done events, then ``response.completed`` with the whole response and its usage
(``response.incomplete`` when the answer was cut short). A failure once the stream is open is an
``error`` event followed by ``response.failed``. Every event carries a running
``sequence_number``. Pure: :mod:`daemon.rpc.responses_http` only writes what this gives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from daemon.adapters.types import Event, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from daemon.errors import DaemonError, UpstreamProtocol
from daemon.rpc.ids import next_id
from daemon.rpc.responses_wire import error_body

# Finish reasons that end a response short of complete, and the reason it gives.
_ENDINGS: Mapping[str, tuple[str, str | None]] = {
    "length": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
}
_OPENING = ("response.created", "response.in_progress")


def wire_usage(usage: Usage) -> dict[str, Any]:
    """The Responses usage object for a normalized one."""
    return {
        "input_tokens": usage["inputTokens"],
        "input_tokens_details": {"cached_tokens": usage["cacheReadTokens"]},
        "output_tokens": usage["outputTokens"],
        "output_tokens_details": {"reasoning_tokens": usage["reasoningTokens"]},
        "total_tokens": usage["inputTokens"] + usage["outputTokens"],
    }


def response_head(body: Mapping[str, Any], model: str, response_id: str) -> dict[str, Any]:
    """A response in progress: what it echoes of the request, no output yet."""
    reasoning = body.get("reasoning") or {}
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "previous_response_id": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": False,
        "temperature": body.get("temperature"),
        "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "top_p": None,
        "truncation": "disabled",
        "usage": None,
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def finished(
    head: Mapping[str, Any], output: list[dict[str, Any]], result: Mapping[str, Any]
) -> dict[str, Any]:
    """The whole response: ``head`` with the output, status and usage of ``result``."""
    status, reason = _ENDINGS.get(result["finishReason"], ("completed", None))
    return {
        **head,
        "status": status,
        "incomplete_details": None if reason is None else {"reason": reason},
        "output": output,
        "usage": wire_usage(result["usage"]),
    }


def message_item(item_id: str, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    """An assistant ``message`` output item."""
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def reasoning_item(
    item_id: str, summary: list[dict[str, Any]], signature: str | None
) -> dict[str, Any]:
    """A ``reasoning`` output item; a provider's signature rides in ``encrypted_content``."""
    item: dict[str, Any] = {"id": item_id, "type": "reasoning", "summary": summary}
    if signature:
        item["encrypted_content"] = signature
    return item


def summary_part(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def call_item(item_id: str, status: str, call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A ``function_call`` output item (``arguments`` is JSON text)."""
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def output_items(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A normalized assistant message as output items: reasoning, text, function calls."""
    items = []
    if message.get("reasoning"):
        summary = [summary_part(message["reasoning"])]
        items.append(reasoning_item(next_id("rs_"), summary, message.get("reasoningSignature")))
    if message.get("content"):
        items.append(message_item(next_id("msg_"), "completed", [text_part(message["content"])]))
    for call in message.get("toolCalls") or ():
        arguments = orjson.dumps(call["arguments"]).decode()
        call_id = call["id"] or next_id("call_")
        items.append(call_item(next_id("fc_"), "completed", call_id, call["name"], arguments))
    return items


def response(result: Mapping[str, Any], head: Mapping[str, Any]) -> dict[str, Any]:
    """The ``response`` object for a chat.send result."""
    return finished(head, output_items(result["message"]), result)


# --- the stream ----------------------------------------------------------------------------


class Kind(StrEnum):
    """The output items a chat's events become."""

    MESSAGE = "message"
    REASONING = "reasoning"
    FUNCTION_CALL = "function_call"


# A text delta's frame around its sequence number, its item and its text: what _event() makes
# of response.output_text.delta with item_id, output_index, content_index 0, delta and empty
# logprobs, spelled out once because every streamed word takes it.
_TEXT_DELTA = (
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
    b'"sequence_number":',
    b',"logprobs":[]}\n\n',
)
_TEXT_DELTA_AT = b',"item_id":%b,"output_index":%b,"content_index":0,"delta":'

_PREFIXES: Mapping[Kind, str] = {
    Kind.MESSAGE: "msg_",
    Kind.REASONING: "rs_",
    Kind.FUNCTION_CALL: "fc_",
}


@dataclass(slots=True)
class _Item:
    """One output item as it streams: its text (message), summary (reasoning) or arguments."""

    kind: Kind
    id: str
    index: int = -1  # its output_index, once announced
    pieces: list[str] = field(default_factory=list)
    call_id: str = ""
    name: str = ""
    signature: str | None = None
    delta_at: bytes = b""  # where its text deltas go, as their frames spell it (once known)

    def whole(self, status: str) -> dict[str, Any]:
        """The item as ``output_item.done`` and the finished response carry it."""
        text = "".join(self.pieces)
        if self.kind is Kind.MESSAGE:
            return message_item(self.id, status, [text_part(text)])
        if self.kind is Kind.REASONING:
            return reasoning_item(self.id, [summary_part(text)], self.signature)
        return call_item(self.id, status, self.call_id, self.name, text)

    def added(self) -> dict[str, Any]:
        """The item as ``output_item.added`` announces it: empty."""
        if self.kind is Kind.MESSAGE:
            return message_item(self.id, "in_progress", [])
        if self.kind is Kind.REASONING:
            return reasoning_item(self.id, [], None)
        return call_item(self.id, "in_progress", self.call_id, self.name, "")


class StreamEncoder:
    """Turns one chat's events into the Responses SSE events; the endpoint only writes them.

    Text and reasoning stream into one open item at a time (a change of kind closes it and opens
    the next). Each tool call is an item of its own, keyed by ``output_index`` on this wire, so
    fragments of several calls may interleave; a call is announced once its name is known (its
    earlier argument fragments follow at once) and every call is closed at the end.
    """

    def __init__(self, head: Mapping[str, Any]) -> None:
        self.head = head
        self.items: list[_Item] = []
        self.sequence = len(_OPENING)  # the opening events, sent lazily, number from 0
        self._open: _Item | None = None  # the text or reasoning item deltas go to
        self._calls: dict[int, _Item] = {}  # by the chat's tool call ordinal

    def start(self) -> list[bytes]:
        """``response.created`` and ``response.in_progress``, as the API opens a stream."""
        return [
            _frame(kind, {"sequence_number": number, "response": self.head})
            for number, kind in enumerate(_OPENING)
        ]

    def feed(self, events: list[Event]) -> list[bytes]:
        """The SSE events for a batch of chat events (none for usage and finish)."""
        frames: list[bytes] = []
        for event in events:
            if isinstance(event, TextDelta) and event.text:
                frames += self._text(event.text)
            elif isinstance(event, ReasoningDelta) and (event.text or event.signature):
                frames += self._reasoning(event)
            elif isinstance(event, ToolCallDelta):
                frames += self._tool(event)
        return frames

    def finish(self, result: Mapping[str, Any]) -> list[bytes]:
        """Every open item's done events, then ``response.completed`` (or ``.incomplete``)."""
        unnamed = [ordinal for ordinal, call in self._calls.items() if call.index < 0]
        if unnamed:
            raise UpstreamProtocol(f"tool call {unnamed[0]} ended without a function name")
        frames = self._close_open()
        for call in self._calls.values():
            frames += self._close(call)
        done = finished(self.head, [item.whole("completed") for item in self.items], result)
        frames.append(self._event(f"response.{done['status']}", response=done))
        return frames

    def fail(self, exc: DaemonError) -> bytes:
        """``exc`` in band: an ``error`` event, then ``response.failed``."""
        error = error_body(exc)[1]["error"]
        failed = {**self.head, "status": "failed"}
        failed["error"] = {"code": error["code"], "message": error["message"]}
        return self._event("error", error=error) + self._event("response.failed", response=failed)

    def _text(self, text: str) -> list[bytes]:
        frames = self._switch(Kind.MESSAGE)
        item = self._current()
        item.pieces.append(text)
        if not item.delta_at:
            index = str(item.index).encode()
            item.delta_at = _TEXT_DELTA_AT % (orjson.dumps(item.id), index)
        number, self.sequence = self.sequence, self.sequence + 1
        head, tail = _TEXT_DELTA
        frames.append(head + str(number).encode() + item.delta_at + orjson.dumps(text) + tail)
        return frames

    def _reasoning(self, event: ReasoningDelta) -> list[bytes]:
        opened = self._open is not None and self._open.kind is Kind.REASONING
        frames = self._switch(Kind.REASONING) if event.text or not opened else []
        item = self._current()
        item.signature = event.signature or item.signature
        if event.text:
            item.pieces.append(event.text)
            at = {"item_id": item.id, "output_index": item.index, "summary_index": 0}
            kind = "response.reasoning_summary_text.delta"
            frames.append(self._event(kind, **at, delta=event.text))
        return frames

    def _tool(self, event: ToolCallDelta) -> list[bytes]:
        call = self._calls.setdefault(event.index, _Item(Kind.FUNCTION_CALL, next_id("fc_")))
        call.call_id = call.call_id or event.id or ""
        call.name = call.name or event.name or ""
        call.pieces.append(event.arguments)
        if call.index >= 0:
            return [self._arguments(call, event.arguments)] if event.arguments else []
        if not call.name:
            return []  # held: an announced call names its function
        frames = self._close_open()
        call.call_id = call.call_id or next_id("call_")
        frames.append(self._announce(call))
        held = "".join(call.pieces)
        return [*frames, self._arguments(call, held)] if held else frames

    def _arguments(self, call: _Item, delta: str) -> bytes:
        at = {"item_id": call.id, "output_index": call.index}
        return self._event("response.function_call_arguments.delta", **at, delta=delta)

    def _current(self) -> _Item:
        assert self._open is not None, "a delta goes to the item _switch opened"
        return self._open

    def _switch(self, kind: Kind) -> list[bytes]:
        """Open an item of ``kind`` for the next deltas, closing another open one first."""
        if self._open is not None and self._open.kind is kind:
            return []
        frames = self._close_open()
        item = self._open = _Item(kind, next_id(_PREFIXES[kind]))
        frames.append(self._announce(item))
        frames.append(_PART_ADDED[kind](self, item))
        return frames

    def _announce(self, item: _Item) -> bytes:
        item.index = len(self.items)
        self.items.append(item)
        return self._event("response.output_item.added", output_index=item.index, item=item.added())

    def _close_open(self) -> list[bytes]:
        if self._open is None:
            return []
        item, self._open = self._open, None
        return self._close(item)

    def _close(self, item: _Item) -> list[bytes]:
        frames = _CLOSING[item.kind](self, item, "".join(item.pieces))
        whole = item.whole("completed")
        frames.append(self._event("response.output_item.done", output_index=item.index, item=whole))
        return frames

    def _event(self, kind: str, **fields: Any) -> bytes:
        number, self.sequence = self.sequence, self.sequence + 1
        return _frame(kind, {"sequence_number": number, **fields})

    def _text_opened(self, item: _Item) -> bytes:
        at = {"item_id": item.id, "output_index": item.index, "content_index": 0}
        return self._event("response.content_part.added", **at, part=text_part(""))

    def _summary_opened(self, item: _Item) -> bytes:
        at = {"item_id": item.id, "output_index": item.index, "summary_index": 0}
        return self._event("response.reasoning_summary_part.added", **at, part=summary_part(""))

    def _text_closed(self, item: _Item, text: str) -> list[bytes]:
        at = {"item_id": item.id, "output_index": item.index, "content_index": 0}
        return [
            self._event("response.output_text.done", **at, text=text, logprobs=[]),
            self._event("response.content_part.done", **at, part=text_part(text)),
        ]

    def _summary_closed(self, item: _Item, text: str) -> list[bytes]:
        at = {"item_id": item.id, "output_index": item.index, "summary_index": 0}
        return [
            self._event("response.reasoning_summary_text.done", **at, text=text),
            self._event("response.reasoning_summary_part.done", **at, part=summary_part(text)),
        ]

    def _arguments_closed(self, item: _Item, text: str) -> list[bytes]:
        at = {"item_id": item.id, "output_index": item.index}
        return [self._event("response.function_call_arguments.done", **at, arguments=text)]


def _frame(kind: str, fields: Mapping[str, Any]) -> bytes:
    """One SSE event, named after its ``type`` as the API's are."""
    payload = orjson.dumps({"type": kind, **fields})
    return b"event: " + kind.encode() + b"\ndata: " + payload + b"\n\n"


_PART_ADDED: Mapping[Kind, Callable[[StreamEncoder, _Item], bytes]] = {
    Kind.MESSAGE: StreamEncoder._text_opened,
    Kind.REASONING: StreamEncoder._summary_opened,
}
_CLOSING: Mapping[Kind, Callable[[StreamEncoder, _Item, str], list[bytes]]] = {
    Kind.MESSAGE: StreamEncoder._text_closed,
    Kind.REASONING: StreamEncoder._summary_closed,
    Kind.FUNCTION_CALL: StreamEncoder._arguments_closed,
}
