"""What every family's fake answers, before a wire module puts it on that family's wire.

A wire module reads a request into a :class:`Turn` (family-independent), :func:`plan` turns the
turn into a :class:`Script`, and the wire module renders the script as its family's JSON body,
stream frames or error. The behaviour is picked through the model string, for every family::

    <base>(+<flag> | +<key>=<value>)*      e.g. fake-model+tools+scenario=ab12

Flags: ``tools`` (call the first tool offered), ``reasoning`` (think first). Options:
``fault`` (one of :data:`FAULTS`), ``scenario`` (any text: tells a test's requests apart).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FLAGS = ("tools", "reasoning")
TEXT_OPTIONS = ("fault", "scenario")
# Before any byte of the answer: an HTTP error in the family's error shape.
HTTP_FAULTS = {"http_400": 400, "http_401": 401, "http_429": 429, "http_500": 500}
# After the first piece of the stream: the family's in-stream error event (or, for families
# without one, a broken connection), a broken connection, a stream that stops sending, a frame
# that cannot be read.
STREAM_FAULTS = frozenset({"mid_error", "cut", "stall", "malformed"})
# Before any byte: the connection reset, or a 200 that is an HTML page (a captive portal, a
# CDN's challenge) instead of the family's answer.
EARLY_FAULTS = frozenset({"reset", "garbage"})
FAULTS = frozenset(HTTP_FAULTS) | STREAM_FAULTS | EARLY_FAULTS
FAULT_MESSAGES = {
    400: "The request is not valid for this model.",
    401: "The API key is not valid.",
    429: "Rate limit reached; try again later.",
    500: "The server had an error while processing your request.",
}
MID_STREAM_MESSAGE = "The model is overloaded in the middle of the answer."
REASONING = ["Let me think", " about this."]


class RequestRejected(Exception):
    """The request breaks the family's rules; the fake answers ``status`` (400 unless the
    provider uses another) with ``message`` in the family's error shape, or as the bare text
    some gateways answer with (``plain``)."""

    def __init__(self, message: str, status: int = 400, *, plain: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.plain = plain


@dataclass(frozen=True)
class Options:
    """The behaviour requested through the model string."""

    base: str
    tools: bool = False
    reasoning: bool = False
    fault: str | None = None
    scenario: str | None = None


def parse_options(model: str) -> Options:
    """Parse ``base+flag+key=value…``; RequestRejected for anything outside the grammar."""
    base, *parts = model.split("+")
    values: dict[str, Any] = {}
    for part in parts:
        key, has_value, raw = part.partition("=")
        if not has_value and key in FLAGS:
            values[key] = True
        elif has_value and key in TEXT_OPTIONS and raw:
            values[key] = raw
        else:
            raise RequestRejected(f"fake model option {part!r} is not understood")
    options = Options(base=base, **values)
    if options.fault is not None and options.fault not in FAULTS:
        raise RequestRejected(f"unknown fake fault {options.fault!r}")
    return options


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    content: str


@dataclass(frozen=True)
class Turn:
    """A request as the fake understood it, whatever family it came in."""

    model: str
    stream: bool
    user_text: str  # the text of the last user message ("" when the last turn is tool results)
    tool_names: list[str] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)  # of the last turn
    earlier_call_ids: list[str] = field(default_factory=list)  # of the assistant's tool calls
    system: str = ""
    images: int = 0  # well-formed images in the last user message, in the family's own shape
    stop: list[str] = field(default_factory=list)  # stop sequences, as the family takes them

    @property
    def options(self) -> Options:
        return parse_options(self.model)


@dataclass(frozen=True)
class Call:
    """One tool call the fake assistant makes; the wire module gives it an id of its style."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Script:
    """The fake assistant's answer: pieces are streamed one frame each."""

    text: list[str]
    reasoning: list[str]
    calls: list[Call]
    input_tokens: int
    output_tokens: int

    @property
    def finish(self) -> str:
        """``tool_calls`` when the assistant calls tools, else ``stop``."""
        return "tool_calls" if self.calls else "stop"

    def whole_text(self) -> str:
        return "".join(self.text)


def _pieces(text: str) -> list[str]:
    """``text`` cut into word-sized pieces that join back to it exactly."""
    words = text.split(" ")
    return [words[0], *(f" {word}" for word in words[1:])]


def expected_text(user_text: str, tool_results: list[str] | None = None, images: int = 0) -> str:
    """The text the fake answers: a test computes it the same way."""
    if tool_results:
        return "Tool said: " + "; ".join(tool_results)
    seen = f" (and {images} image{'s' if images > 1 else ''})" if images else ""
    return f"Echo: {user_text}{seen}"


def cut_at_stop(text: str, stop: list[str]) -> str:
    """``text`` up to the first stop sequence in it, as a provider ends its answer there."""
    ends = [text.find(sequence) for sequence in stop if sequence in text]
    return text[: min(ends)] if ends else text


def input_tokens(turn: Turn) -> int:
    """What the fake counts as the input tokens of ``turn``: in an answer's usage, and when
    asked to count alone (the families that have a counting call)."""
    words = len(turn.system.split()) + len(turn.user_text.split())
    words += sum(len(r.content.split()) for r in turn.tool_results)
    return 10 + words


def plan(turn: Turn) -> Script:
    """The answer to ``turn``; RequestRejected when its tool results match no earlier call."""
    options = turn.options
    for result in turn.tool_results:
        if result.call_id not in turn.earlier_call_ids:
            raise RequestRejected(f"tool result {result.call_id!r} answers no earlier tool call")
    calls: list[Call] = []
    text: list[str] = []
    if options.tools and turn.tool_names and not turn.tool_results:
        calls.append(Call(turn.tool_names[0], {"q": turn.user_text}))
    else:
        results = [r.content for r in turn.tool_results]
        text = _pieces(cut_at_stop(expected_text(turn.user_text, results, turn.images), turn.stop))
    reasoning = list(REASONING) if options.reasoning else []
    return Script(
        text=text,
        reasoning=reasoning,
        calls=calls,
        input_tokens=input_tokens(turn),
        output_tokens=len(text) + len(reasoning) + 5 * len(calls),
    )
