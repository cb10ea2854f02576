"""The normalized shapes every adapter maps to and from (DESIGN.md §3).

A :class:`ChatCall` is what ``chat.send`` asked for; an adapter turns it into one HTTP
request for its wire family and turns what comes back into :data:`Event` values. The
:class:`Assembly` folds events into the final message, whatever family produced them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, NotRequired, TypedDict

import orjson

from daemon.providers.model import Provider

# Thinking budgets (tokens) per reasoning effort, for the families that take a budget.
THINKING_BUDGET: Mapping[str, int] = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}


class Wire(StrEnum):
    """A request shape the daemon serves on ``/v1``, named as its clients know it."""

    CHAT_COMPLETIONS = "chat-completions"
    MESSAGES = "messages"
    RESPONSES = "responses"


FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]


class ToolCall(TypedDict):
    id: str
    name: str
    arguments: dict[str, Any]
    # Opaque provider data that must go back with the call on the next turn (Gemini's
    # thoughtSignature); absent when the provider sent none.
    signature: NotRequired[str]


class Usage(TypedDict):
    inputTokens: int
    outputTokens: int
    cacheReadTokens: int
    cacheWriteTokens: int
    reasoningTokens: int


def empty_usage() -> Usage:
    return {
        "inputTokens": 0,
        "outputTokens": 0,
        "cacheReadTokens": 0,
        "cacheWriteTokens": 0,
        "reasoningTokens": 0,
    }


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field
class ChatCall:
    """A normalized chat request; messages and tools keep the DESIGN.md §3 dict shapes."""

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = None
    max_tokens: int | None = None
    temperature: float | None = None
    reasoning: str | None = None
    stream: bool = False
    stop: tuple[str, ...] = ()  # stop sequences: the answer ends before the first one

    def has_images(self) -> bool:
        return any(
            isinstance(m.get("content"), list)
            and any(p.get("type") == "image" for p in m["content"])
            for m in self.messages
        )


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field
class Target:
    """Where one attempt goes: the provider row, its base URL, a credential, the model."""

    provider: Provider
    base_url: str
    model: str
    key: str | None = field(repr=False)  # never in a repr, so never in a log line
    headers: tuple[tuple[str, str], ...] = ()
    # Family settings from [providers.<id>] (api_version, project, location, region, ...).
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field
class HttpRequest:
    """What an adapter's ``build_request`` returns: one call to make."""

    method: str
    url: str = field(repr=False)  # may carry ?key=
    headers: dict[str, str] = field(repr=False)  # carry the credential
    body: bytes | None = None


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field
class TextDelta:
    text: str


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field
class ReasoningDelta:
    text: str
    # Anthropic signs its thinking; the signature must go back with it on the next turn.
    signature: str | None = None


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field
class ToolCallDelta:
    """A fragment of tool call ``index``: the first carries id and name, later ones arguments."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    signature: str | None = None


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field
class UsageEvent:
    usage: Usage


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field
class Finish:
    reason: FinishReason


Event = TextDelta | ReasoningDelta | ToolCallDelta | UsageEvent | Finish


@dataclass(slots=True)
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    signature: str | None = None


@dataclass(slots=True)
class Assembly:
    """Folds a stream of events into the final assistant message, usage and finish reason."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    reasoning_signature: str | None = None
    calls: dict[int, _PartialCall] = field(default_factory=dict)
    usage: Usage = field(default_factory=empty_usage)
    finish: FinishReason | None = None

    def add(self, event: Event) -> None:
        """Take one event into account."""
        match event:
            case TextDelta(text=text):
                self.text.append(text)
            case ReasoningDelta(text=text, signature=signature):
                self.reasoning.append(text)
                self.reasoning_signature = signature or self.reasoning_signature
            case ToolCallDelta():
                call = self.calls.setdefault(event.index, _PartialCall())
                call.id = event.id or call.id
                call.name = event.name or call.name
                call.signature = event.signature or call.signature
                call.arguments.append(event.arguments)
            case UsageEvent(usage=usage):
                self.usage = usage
            case Finish(reason=reason):
                self.finish = reason

    def message(self) -> dict[str, Any]:
        """The assistant message in the normalized shape."""
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text)}
        if self.reasoning:
            message["reasoning"] = "".join(self.reasoning)
        if self.reasoning_signature:
            message["reasoningSignature"] = self.reasoning_signature
        if self.calls:
            message["toolCalls"] = [self._tool_call(self.calls[i]) for i in sorted(self.calls)]
        return message

    def finish_reason(self) -> FinishReason:
        if self.finish is not None:
            return self.finish
        return "tool_calls" if self.calls else "stop"

    @staticmethod
    def _tool_call(call: _PartialCall) -> ToolCall:
        text = "".join(call.arguments).strip()
        try:
            arguments = orjson.loads(text) if text else {}
        except orjson.JSONDecodeError:
            arguments = {"_raw": text}  # the model wrote invalid JSON; hand it over as it is
        if not isinstance(arguments, dict):
            arguments = {"_value": arguments}
        assembled: ToolCall = {"id": call.id, "name": call.name, "arguments": arguments}
        if call.signature:
            assembled["signature"] = call.signature
        return assembled
