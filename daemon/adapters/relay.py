"""A provider's event stream relayed to a client of the same wire, the model renamed.

Most of a stream needs no reading: text deltas, tool-call fragments and pings go to the client
as the provider wrote them. A read's runs of ordinary events (one ``event:`` line of a type not
to read, where the wire names them, then one ``data:`` line holding an object, then a blank
line) are found by one regular expression and go on whole. The events that name the model
(every Chat Completions chunk; a named wire's few, matched one at a time) get the provider's
exact ``"model":...`` bytes replaced with the name the client asked, learnt from the first
such event; one naming a model any other way is read. The relay reads the rest: errors
(raised, for the endpoint to say in its own shape), the first event naming the model, and
anything of another shape (a comment, an event cut short), so garbage is still an error. A
stream with CR line ends is read throughout. Byte searches use ``find``: ``bytes in bytes``
first tries its needle as an integer, which costs an exception each time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from daemon.adapters.common import error_from_body
from daemon.adapters.sse import SseParser
from daemon.errors import UpstreamError, UpstreamProtocol

_DONE = b"[DONE]"
_MODEL = b'"model"'


@dataclass(frozen=True, slots=True)
class StreamForm:
    """How a wire's event stream reads, for relaying it unchanged but for the model's name."""

    named: bool  # each event has an ``event: <type>`` line (the type is also in its data)
    holder: str | None  # the object in an event that names the model; None: the event itself
    ends: frozenset[str] = frozenset()  # the types of the event that ends the stream
    named_model: frozenset[str] = frozenset()  # the types of the events that name the model
    # Chat Completions: the stream ends at ``data: [DONE]``; a connection closed after a
    # finish reason is an answer complete without it, as the translating parser takes it.
    finish_in_choices: bool = False
    # Whether a tool call's fragments come together. Chat Completions lets fragments of
    # several calls interleave; the daemon's own chat output never does, so such a stream
    # with tools is translated, not relayed.
    calls_kept_together: bool = True
    # A run of ordinary events: of the ordinary shape, of no type to read (named wires: none
    # that names the model or ends the stream); Chat Completions: no error object.
    plain: re.Pattern[bytes] = field(init=False)
    # One event of the ordinary shape that names the model or ends the stream (its type in
    # group 1); Chat Completions: ``data: [DONE]``.
    single: re.Pattern[bytes] = field(init=False)
    single_ends: frozenset[bytes] = field(init=False)  # the types in group 1 that end it

    def __post_init__(self) -> None:
        if self.named:
            singles = _one_of(self.ends | self.named_model)
            read = _one_of(self.ends | self.named_model | {"error"})
            # Possessive: an ordinary run never gives back what it matched.
            plain = rb"(?:event: (?!%s\n)[^\n]*+\ndata: \{[^\n]*\}\n\n)*+" % read
            single = rb"event: (%s)\ndata: \{[^\n]*\}\n\n" % singles
            ends = frozenset(kind.encode() for kind in self.ends)
        else:
            plain = rb'(?:data: \{(?!"error")[^\n]*\}\n\n)*+'
            single, ends = rb"data: (\[DONE\])\n\n", frozenset({_DONE})
        object.__setattr__(self, "plain", re.compile(plain))
        object.__setattr__(self, "single", re.compile(single))
        object.__setattr__(self, "single_ends", ends)


def _one_of(kinds: Iterable[str]) -> bytes:
    """A pattern matching exactly one of ``kinds``, common prefixes written once (the regular
    expression engine tries alternatives one by one: a third less work per event here)."""
    return _trie([kind.encode() for kind in kinds])


def _trie(words: list[bytes]) -> bytes:
    tails: dict[bytes, list[bytes]] = {}
    for word in words:
        tails.setdefault(word[:1], []).append(word[1:])
    parts = [re.escape(head) + _trie(rest) if head else b"" for head, rest in sorted(tails.items())]
    return parts[0] if len(parts) == 1 else b"(?:" + b"|".join(parts) + b")"


CHAT_STREAM = StreamForm(
    named=False, holder=None, finish_in_choices=True, calls_kept_together=False
)
MESSAGES_STREAM = StreamForm(
    named=True,
    holder="message",
    ends=frozenset({"message_stop"}),
    named_model=frozenset({"message_start"}),
)
_RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed"})
RESPONSES_STREAM = StreamForm(
    named=True,
    holder="response",
    ends=_RESPONSE_ENDS,
    named_model=_RESPONSE_ENDS | {"response.created", "response.in_progress", "response.queued"},
)


class Relay:
    """One relayed stream: the provider's events as the client's bytes, the model named as the
    client asked. An in-band error is raised as the provider's error (the endpoint says it in
    its own shape, or with an HTTP status while nothing was sent)."""

    __slots__ = (
        "_new",
        "_old",
        "_parser",
        "_recent",
        "_rest",
        "done",
        "failure",
        "finished",
        "form",
        "named_as",
    )

    def __init__(self, form: StreamForm, named_as: str) -> None:
        self.form = form
        self.named_as = named_as
        self.done = False  # the end event came: what follows it is not read
        self.finished = False  # the answer is complete even if the end event never comes
        self.failure: UpstreamError | None = None  # raise once the frames before it are sent
        self._rest = b""  # the start of an event the next read completes
        self._parser: SseParser | None = None  # a stream with CR line ends: read exactly
        self._old: bytes | None = None  # the provider's ``"model":...`` bytes, once learnt
        self._new = _MODEL + b":" + orjson.dumps(named_as)
        self._recent: tuple[bytes, ...] = (b"",)  # the last two chunks passed on unread

    @property
    def complete(self) -> bool:
        """Whether the stream may end here: its end event came, or a finish reason (in a
        chunk read, or in one of the last two passed on unread)."""
        return self.done or self.finished or any(map(_finishes, self._recent))

    def frames(self, reads: list[bytes]) -> list[bytes]:
        """The client's bytes for one network read (its whole events; the rest waits). A
        failure after some events waits in :attr:`failure`, so that those reach the client."""
        chunk = reads[0] if len(reads) == 1 else b"".join(reads)
        frames: list[bytes] = []
        try:
            if self._parser is not None or chunk.find(b"\r") >= 0:
                if self._parser is None:
                    self._parser = SseParser()
                chunk, self._rest = self._rest + chunk, b""
                self._read(self._parser.payloads(chunk), frames)
            else:
                self._relay(chunk, frames)
        except UpstreamError as exc:
            if not frames:
                raise
            self.failure = exc
        return frames

    def _relay(self, chunk: bytes, frames: list[bytes]) -> None:
        """The read's whole events: its runs of ordinary events as they came (Chat Completions:
        renamed), the events naming the model renamed, any other event read, until the end."""
        buffer = self._rest + chunk if self._rest else chunk
        size = buffer.rfind(b"\n\n") + 2
        if size < 2:
            self._rest = buffer
            return
        whole, self._rest = buffer[:size], buffer[size:]
        if self._old is None and not self.form.named:
            self._learn_from(whole[: whole.find(b"\n")])
        at, form = 0, self.form
        while at < size and not self.done:
            end = form.plain.match(whole, at).end()  # type: ignore[union-attr]
            if end > at:  # a named wire's run names no model: nothing to rename
                if form.named:
                    frames.append(whole[at:end])
                else:
                    self._pass(whole[at:end], frames)
            if end == size:
                return
            one = form.single.match(whole, end) if self._old is not None else None
            if one is not None:  # the model renamed, once it is learnt; or the end
                self._pass(whole[end : one.end()], frames)
                self.done = one[1] in form.single_ends
                at = one.end()
                continue
            at = whole.find(b"\n\n", end) + 2
            self._read(SseParser().payloads(whole[end:at]), frames)

    def _pass(self, run: bytes, frames: list[bytes]) -> None:
        """A run of ordinary events as the client gets them: renamed when every ``"model"``
        in it is the provider's as learnt, else read."""
        named = run.count(_MODEL)
        # split and join: one pass that also counts, where count and replace make three
        pieces = run.split(self._old) if named and self._old is not None else [run]
        if len(pieces) - 1 != named:
            self._read(SseParser().payloads(run), frames)
            return
        if self.form.finish_in_choices:
            self._remember(run)
        frames.append(self._new.join(pieces) if named else run)

    def _remember(self, run: bytes) -> None:
        """Keep the last two chunks passed on unread (a finish reason may be in either)."""
        last = run.rsplit(b"\n\n", 3)[-3:-1]  # its last two chunks, or its one
        self._recent = (self._recent[-1], *last)[-2:]

    def _read(self, payloads: list[bytes], frames: list[bytes]) -> None:
        """Each payload read and framed, until the end event."""
        for payload in payloads:
            if self.done:
                return
            frames.append(self._frame(payload))

    def _frame(self, payload: bytes) -> bytes:
        form = self.form
        if not form.named and payload.strip() == _DONE:
            self.done = True
            return b"data: [DONE]\n\n"
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise UpstreamProtocol("the provider sent an event that is not JSON") from None
        if not isinstance(data, dict):
            raise UpstreamProtocol("the provider sent an event that is not an object")
        kind = data.get("type")
        if kind == "error" or (not form.named and data.get("error")):
            raise error_from_body(data, status=200)
        holder = data if form.holder is None else data.get(form.holder)
        if isinstance(holder, dict) and "model" in holder:
            self._learn(payload, holder["model"])
            holder["model"] = self.named_as
            payload = orjson.dumps(data)
        elif payload.find(b"\n") >= 0:  # one line per event on the client's side
            payload = orjson.dumps(data)
        if form.finish_in_choices and not self.finished:
            self.finished = _finish_reason(data)
        if not form.named:
            return b"data: " + payload + b"\n\n"
        if not isinstance(kind, str):
            raise UpstreamProtocol("the provider sent an event without a type")
        self.done = kind in form.ends
        return b"event: " + kind.encode() + b"\ndata: " + payload + b"\n\n"

    def _learn_from(self, line: bytes) -> None:
        """Learn the model's bytes from a stream's first chunk (``data: {...}``)."""
        if not line.startswith(b"data: {"):
            return
        try:
            chunk = orjson.loads(line[6:])
        except orjson.JSONDecodeError:
            return  # read, and so refused, with the read's other events
        if isinstance(chunk, dict):
            self._learn(line, chunk.get("model"))

    def _learn(self, payload: bytes, model: object) -> None:
        """Remember how the provider writes its model's name, to replace it in bulk."""
        if self._old is not None or not isinstance(model, str) or payload.count(_MODEL) != 1:
            return
        name = orjson.dumps(model)
        self._old = next(
            (
                pair
                for pair in (_MODEL + b":" + name, _MODEL + b": " + name)
                if payload.find(pair) >= 0
            ),
            None,
        )


def _finishes(block: bytes) -> bool:
    """Whether a chunk passed on unread (``data: {...}``) carried a finish reason."""
    if not block:
        return False
    try:
        return _finish_reason(orjson.loads(block[len(b"data: ") :]))
    except orjson.JSONDecodeError:
        return False


def _finish_reason(chunk: object) -> bool:
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    return any(isinstance(c, dict) and c.get("finish_reason") for c in choices or ())
