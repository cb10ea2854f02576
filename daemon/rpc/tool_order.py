"""One order for tool-call fragments on every output, whatever order the upstream sent them in.

Upstream wires key tool-call fragments by index, so a provider may interleave two calls'
fragments (0, 0, 1, 0, 1), name a call after its arguments began, or give its id on the first
fragment only. Clients want less: the ``openai`` SDK's stream helper takes a new index as the
end of the call before it, and Anthropic's content blocks come one at a time. Every streaming
output runs its events through one :class:`ToolCallOrder`, which guarantees:

- a call's fragments are contiguous, and calls are numbered 0, 1, 2, ... in the order they
  begin (upstream indexes may start anywhere or skip);
- a call begins with one fragment carrying its id and name and the arguments held so far; its
  fragments wait until its name is known;
- the call that began streams live; the next waits until that one is complete (its arguments
  form a whole JSON value) or the stream ends, then goes out with everything held at once;
- a call whose upstream sent no arguments at all gets ``{}``, so its arguments always parse;
- with ``blocks`` (Anthropic's one block at a time), text and reasoning that arrive while a call
  is still incomplete wait for it too; otherwise text and reasoning stream live.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from daemon.adapters.types import Event, ReasoningDelta, TextDelta, ToolCallDelta
from daemon.errors import UpstreamProtocol

# What changes a JSON text's nesting: an escape (with the character it escapes, or alone at the
# end of a fragment), a quote, a bracket.
_MARKS = re.compile(r'\\.?|["{}\[\]]', re.DOTALL)
EMPTY_ARGUMENTS = "{}"


@dataclass(slots=True)
class JsonEnd:
    """Follows a JSON text fed in pieces, to tell when its outermost object or array closed."""

    depth: int = 0
    in_string: bool = False
    escaped: bool = False  # the text so far ends with a backslash inside a string
    began: bool = False

    def feed(self, text: str) -> None:
        """Take the next piece of the text into account."""
        start = 0
        if self.escaped and text:
            self.escaped, start = False, 1  # the character the last piece's backslash escaped
        for mark in _MARKS.findall(text, start):
            if mark[0] == "\\":
                self.escaped = len(mark) == 1
            elif mark == '"':
                self.in_string = not self.in_string
            elif not self.in_string:
                self.began = True
                self.depth += 1 if mark in "{[" else -1

    @property
    def complete(self) -> bool:
        """The outermost object or array has closed: nothing valid can follow it."""
        return self.began and self.depth <= 0 and not self.in_string


@dataclass(slots=True)
class _Call:
    index: int  # the upstream's
    id: str | None = None
    name: str | None = None
    signature: str | None = None
    held: list[str] = field(default_factory=list)
    shape: JsonEnd = field(default_factory=JsonEnd)
    ordinal: int = -1  # its number on the output, once it began
    has_arguments: bool = False  # argument text other than blanks went out
    closed: bool = False


Held = _Call | TextDelta | ReasoningDelta


class ToolCallOrder:
    """Per stream: upstream events in, the events an output may write now out (see the module
    docstring for the guarantees); :meth:`end` gives what is still held once the stream ends."""

    def __init__(self, *, blocks: bool = False) -> None:
        self._blocks = blocks
        self._calls: dict[int, _Call] = {}
        self._open: _Call | None = None
        self._waiting: deque[Held] = deque()
        self._begun = 0

    def feed(self, events: list[Event]) -> list[Event]:
        """The events to write for one upstream batch, in the order to write them."""
        quiet = not self._blocks or (self._open is None and not self._waiting)
        if quiet and not any(isinstance(event, ToolCallDelta) for event in events):
            return events  # the common case: nothing to hold, nothing to renumber
        out: list[Event] = []
        for event in events:
            if isinstance(event, ToolCallDelta):
                self._fragment(event, out)
            elif self._blocks and isinstance(event, TextDelta | ReasoningDelta):
                self._content(event, out)
            else:
                out.append(event)
        return out

    def end(self) -> list[Event]:
        """What is still held, once the upstream finished: each waiting call whole, in order."""
        out: list[Event] = []
        if self._open is not None:
            self._close(self._open, out)
        while self._waiting:
            held = self._waiting.popleft()
            if isinstance(held, _Call):
                self._begin(held, out)  # a call never named goes as the final answer has it
                self._close(held, out)
            else:
                out.append(held)
        return out

    def _content(self, event: TextDelta | ReasoningDelta, out: list[Event]) -> None:
        if self._open is None and not self._waiting:
            out.append(event)
            return
        self._waiting.append(event)  # behind the open call, or behind what already waits
        self._pump(out)

    def _fragment(self, event: ToolCallDelta, out: list[Event]) -> None:
        call = self._calls.get(event.index)
        if call is None:
            call = self._calls[event.index] = _Call(event.index)
            self._waiting.append(call)
        if call.ordinal < 0:  # what went out first is what the call is known by
            call.id = event.id or call.id
            call.name = event.name or call.name
        call.signature = event.signature or call.signature
        if call.closed:
            self._late(call, event, out)
        elif call is self._open:
            if event.arguments:
                call.shape.feed(event.arguments)
                call.has_arguments = call.has_arguments or not event.arguments.isspace()
                out.append(ToolCallDelta(call.ordinal, arguments=event.arguments))
        elif event.arguments:
            call.shape.feed(event.arguments)
            call.held.append(event.arguments)
        self._pump(out)

    def _late(self, call: _Call, event: ToolCallDelta, out: list[Event]) -> None:
        """A fragment of a call that closed because its arguments were whole JSON already."""
        if not event.arguments or event.arguments.isspace():
            return  # blanks after a whole JSON value change nothing
        if self._blocks:  # its content block is closed: the wire cannot take more
            raise UpstreamProtocol(
                f"tool call {call.index} went on after its arguments were complete"
            )
        out.append(ToolCallDelta(call.ordinal, arguments=event.arguments))

    def _pump(self, out: list[Event]) -> None:
        """Let out what no longer has to wait, in arrival order."""
        while self._waiting:
            if self._open is not None:
                if not self._open.shape.complete:
                    return
                self._close(self._open, out)
            held = self._waiting[0]
            if isinstance(held, _Call):
                if not held.name:
                    return  # it cannot begin without its name
                self._begin(held, out)
            else:
                out.append(held)
            self._waiting.popleft()

    def _begin(self, call: _Call, out: list[Event]) -> None:
        call.ordinal = self._begun
        self._begun += 1
        arguments = "".join(call.held)
        call.held = []
        call.has_arguments = bool(arguments) and not arguments.isspace()
        out.append(ToolCallDelta(call.ordinal, call.id, call.name or "", arguments, call.signature))
        self._open = call

    def _close(self, call: _Call, out: list[Event]) -> None:
        if not call.has_arguments:
            out.append(ToolCallDelta(call.ordinal, arguments=EMPTY_ARGUMENTS))
        call.closed = True
        self._open = None
