"""Pure conversions between Anthropic's Messages API shapes and chat.send's.

Used by the Anthropic-compatible endpoint: a request body becomes chat.send params (then checked
by the same schema), a result becomes a ``message``, events become Anthropic's named SSE events,
and a DaemonError becomes Anthropic's error body and status. What the normalized shapes cannot
carry (documents, server tools, ``top_k``, ...) is refused with a 400 naming it, never
dropped; only unsigned (or redacted) earlier thinking is left out of the conversation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from daemon.adapters.types import (
    THINKING_BUDGET,
    Event,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
    empty_usage,
)
from daemon.errors import (
    CircuitOpen,
    DaemonError,
    InternalError,
    InvalidParams,
    ShuttingDown,
    UpstreamUnavailable,
)
from daemon.rpc import openai_wire
from daemon.rpc.ids import next_id
from daemon.rpc.tool_order import ToolCallOrder

# Anthropic's error type per HTTP status; another 4xx is a request error, another 5xx api_error.
_ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_OVERLOADED = 529
_STOP_REASONS: Mapping[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "error": "end_turn",  # a malformed tool call (Gemini): the turn is over, Anthropic has no word
}
_TOOL_CHOICES: Mapping[str, str] = {"auto": "auto", "any": "required", "none": "none"}
# Sampling controls chat.send cannot pass on: refused, since ignoring them changes the answer.
_UNSUPPORTED_FIELDS = ("top_p", "top_k")
# Thinking budget -> effort: the largest whose floor the budget reaches. The floors are the
# adapters' budgets, so effort -> budget -> effort is a round trip; below the lowest is
# "minimal". Claude Code's 4000/10000/31999 give low/medium/high.
_EFFORT_FLOORS = sorted(
    ((budget, effort) for effort, budget in THINKING_BUDGET.items() if effort != "minimal"),
    reverse=True,
)
_ADAPTIVE_EFFORT = "medium"  # "the model decides": thinking on, at the middle setting
_OWN_REASONING = frozenset({"thinking", "redacted_thinking"})
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


def error_body(exc: DaemonError) -> tuple[int, dict[str, Any]]:
    """Anthropic's ``{"type": "error", "error": {...}}`` and HTTP status for a daemon error.

    The status and message are the OpenAI endpoint's (one reading of the error tree for both),
    except that an overloaded or paused provider (or a draining daemon) is Anthropic's retryable
    529 and a fault of the daemon itself a 500.
    """
    status, _ = openai_wire.http_status(exc)
    if _overloaded(exc):
        status = _OVERLOADED
    elif isinstance(exc, InternalError):
        status = 500
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    message = exc.detail or exc.message
    return status, {"type": "error", "error": {"type": kind, "message": message}}


def _overloaded(exc: DaemonError) -> bool:
    if isinstance(exc, CircuitOpen | ShuttingDown):
        return True
    return isinstance(exc, UpstreamUnavailable) and exc.data.get("status") in (503, _OVERLOADED)


def _unsupported(what: str, field: str) -> InvalidParams:
    return InvalidParams(f"{what} is not supported by /v1/messages", field=field, reason=what)


def _invalid(field: str, must: str) -> InvalidParams:
    return InvalidParams(f"{field} {must}", field=field, reason=must)


def to_send_params(body: Mapping[str, Any], provider: str | None, model: str) -> dict[str, Any]:
    """chat.send params for an Anthropic Messages request (validated afterwards by its schema)."""
    for name in _UNSUPPORTED_FIELDS:
        if body.get(name) not in (None, []):
            raise _unsupported(name, name)
    messages = body.get("messages")
    params: dict[str, Any] = {
        "model": model,
        "messages": [*_system(body.get("system")), *_messages(messages)]
        if isinstance(messages, list)
        else messages,  # the schema names the problem
    }
    if provider is not None:
        params["provider"] = provider
    choice = body.get("tool_choice")
    optional = {
        "tools": _tools(body.get("tools")),
        "toolChoice": None if choice is None else _tool_choice(choice),
        "maxTokens": body.get("max_tokens"),
        "temperature": body.get("temperature"),
        "reasoning": _reasoning(body.get("thinking")),
        "stopSequences": body.get("stop_sequences") or None,
    }
    params.update({key: value for key, value in optional.items() if value is not None})
    return params


def _blocks(content: Any, field: str) -> list[Mapping[str, Any]]:
    """``content`` as a list of block objects; a 400 naming ``field`` otherwise."""
    if not isinstance(content, list):
        raise _invalid(field, "must be a string or an array of content blocks")
    for index, block in enumerate(content):
        if not isinstance(block, dict):
            raise _invalid(f"{field}.{index}", "must be a content block object")
    return content


def _text(block: Mapping[str, Any], field: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise _invalid(f"{field}.text", "must be a string")
    return text


def _system(system: Any) -> list[dict[str, Any]]:
    if not system:  # None, "" or []
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    parts = []
    for index, block in enumerate(_blocks(system, "system")):
        if block.get("type") != "text":
            raise _unsupported(f"system block type {block.get('type')!r}", f"system.{index}.type")
        parts.append({"type": "text", "text": _text(block, f"system.{index}")})
    return [{"role": "system", "content": parts}]


def _messages(messages: list[Any]) -> list[dict[str, Any]]:
    normalized: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        field = f"messages.{index}"
        if not isinstance(message, dict):
            raise _invalid(field, "must be an object")
        role, content = message.get("role"), message.get("content")
        if role == "user":
            normalized.extend(_user_turn(content, field))
        elif role == "assistant":
            normalized.append(_assistant_turn(content, field))
        else:
            raise _invalid(f"{field}.role", "must be 'user' or 'assistant' (system goes on top)")
    return normalized


def _user_turn(content: Any, field: str) -> list[dict[str, Any]]:
    """A user turn: its tool results become tool messages, in place among its other parts."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    turn: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(_blocks(content, f"{field}.content")):
        where = f"{field}.content.{index}"
        if block.get("type") != "tool_result":
            parts.append(_part(block, where))
            continue
        if parts:
            turn.append({"role": "user", "content": parts})
            parts = []
        turn.append(_tool_result(block, where))
    if parts or not turn:
        turn.append({"role": "user", "content": parts})
    return turn


def _part(block: Mapping[str, Any], field: str) -> dict[str, Any]:
    """A text or image block as a normalized part; any other block type is a 400."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": _text(block, field)}
    if kind != "image":
        raise _unsupported(f"content block type {kind!r}", f"{field}.type")
    source = block.get("source")
    source = source if isinstance(source, dict) else {}
    if source.get("type") == "base64":
        return {"type": "image", "data": source.get("data"), "mimeType": source.get("media_type")}
    if source.get("type") == "url":
        return {"type": "image", "url": source.get("url")}
    raise _unsupported(f"image source type {source.get('type')!r}", f"{field}.source.type")


def _tool_result(block: Mapping[str, Any], field: str) -> dict[str, Any]:
    content = block.get("content")
    if content is None:
        content = ""
    elif not isinstance(content, str):
        content = [
            _part(part, f"{field}.content.{index}")
            for index, part in enumerate(_blocks(content, f"{field}.content"))
        ]
    if block.get("is_error"):
        # The normalized tool message has no error flag; saying it in the text keeps it.
        content = (
            f"Error: {content}"
            if isinstance(content, str)
            else [{"type": "text", "text": "Error:"}, *content]
        )
    return {"role": "tool", "toolCallId": block.get("tool_use_id"), "content": content}


def _assistant_turn(content: Any, field: str) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    message: dict[str, Any] = {"role": "assistant"}
    for index, block in enumerate(_blocks(content, f"{field}.content")):
        kind, where = block.get("type"), f"{field}.content.{index}"
        if kind == "text":
            texts.append(_text(block, where))
        elif kind == "tool_use":
            calls.append(_tool_use(block, where))
        elif kind == "thinking" and block.get("signature"):
            # Signed thinking goes back to the provider that signed it (Anthropic needs it in
            # tool loops with thinking on); other families' adapters leave it out.
            message["reasoning"] = str(block.get("thinking", ""))
            message["reasoningSignature"] = str(block["signature"])
        elif kind not in _OWN_REASONING:
            raise _unsupported(f"content block type {kind!r}", f"{where}.type")
    message["content"] = "".join(texts)
    if calls:
        message["toolCalls"] = calls
    return message


def _tool_use(block: Mapping[str, Any], field: str) -> dict[str, Any]:
    arguments = block.get("input")
    if not isinstance(arguments, dict):
        raise _invalid(f"{field}.input", "must be an object")
    return {"id": block.get("id"), "name": block.get("name"), "arguments": arguments}


def _tools(tools: Any) -> Any:
    if not isinstance(tools, list):
        return tools  # None, or something the schema names
    return [_tool(tool, f"tools.{index}") for index, tool in enumerate(tools)]


def _tool(tool: Any, field: str) -> Any:
    if not isinstance(tool, dict):
        return tool
    if tool.get("type") not in (None, "custom"):
        raise _unsupported(f"tool type {tool['type']!r}", f"{field}.type")
    normalized = {"name": tool.get("name"), "parameters": tool.get("input_schema")}
    if normalized["parameters"] is None:
        normalized["parameters"] = {"type": "object"}
    if tool.get("description") is not None:
        normalized["description"] = tool["description"]
    return normalized


def _tool_choice(choice: Any) -> Any:
    """chat.send's toolChoice; ``disable_parallel_tool_use`` has no counterpart and is a hint."""
    if not isinstance(choice, dict):
        raise _invalid("tool_choice", "must be an object")
    kind = choice.get("type")
    if kind == "tool":
        return {"name": choice.get("name")}
    if isinstance(kind, str) and kind in _TOOL_CHOICES:
        return _TOOL_CHOICES[kind]
    raise _unsupported(f"tool_choice type {kind!r}", "tool_choice.type")


def _reasoning(thinking: Any) -> str | None:
    """The reasoning effort for Anthropic's ``thinking`` setting."""
    if thinking is None:
        return None
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "disabled":
        return None
    if kind == "adaptive":
        return _ADAPTIVE_EFFORT
    if kind != "enabled":
        raise _unsupported(f"thinking type {kind!r}", "thinking.type")
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise _invalid("thinking.budget_tokens", "must be a positive integer")
    return next((effort for floor, effort in _EFFORT_FLOORS if budget >= floor), "minimal")


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
