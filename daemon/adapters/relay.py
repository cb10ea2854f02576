"""A provider's event stream relayed to a client of the same wire, the model renamed.

Most of a stream needs no reading: text deltas, tool-call fragments and pings go to the client
as the provider wrote them. The relay reads only the events it must: those that name the model
(renamed as the client asked), end the stream, or report an error (raised, for the endpoint to
say in its own shape). Each event of a read is checked for its shape (one ``event:`` line where
the wire names them, then one ``data:`` line holding an object) and passed on as it came when
it is an ordinary one; any other event (one to read, a comment, an event cut short) is parsed,
so garbage is still an error; a stream with CR line ends is parsed throughout. Every Chat
Completions chunk names the model: the provider's exact ``"model":...`` bytes, learnt from its
first chunk, are replaced in each ordinary chunk. Byte searches use ``find``: ``bytes in
bytes`` first tries its needle as an integer, which costs an exception each time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from daemon.adapters.common import error_from_body
from daemon.adapters.sse import SseParser
from daemon.errors import UpstreamError, UpstreamProtocol

_DONE = b"[DONE]"


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
    # The types of the events the relay must read (named wires), as their event lines say.
    read: frozenset[bytes] = field(init=False)

    def __post_init__(self) -> None:
        read = self.ends | self.named_model | {"error"}
        object.__setattr__(self, "read", frozenset(kind.encode() for kind in read))


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
        self._old: bytes | None = None  # the provider's ``"model":...`` bytes (Chat Completions)
        self._new = b'"model":' + orjson.dumps(named_as)
        self._recent = (b"", b"")  # the last two chunks passed on unread

    @property
    def complete(self) -> bool:
        """Whether the stream may end here: its end event came, or a finish reason (in a
        chunk read, or in one of the last two passed on unread)."""
        return self.done or self.finished or any(map(_finishes, self._recent))

    def frames(self, reads: list[bytes]) -> list[bytes]:
        """The client's bytes for one network read (its whole events; the rest waits). A
        failure after some events waits in :attr:`failure`, so that those reach the client."""
        chunk = reads[0] if len(reads) == 1 else b"".join(reads)
        if self._parser is not None or chunk.find(b"\r") >= 0:
            if self._parser is None:
                self._parser = SseParser()
            chunk, self._rest = self._rest + chunk, b""
            return self._each(self._parser.payloads(chunk))
        buffer = self._rest + chunk if self._rest else chunk
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self._rest = buffer
            return []
        whole, self._rest = buffer[: end + 2], buffer[end + 2 :]
        return self._blocks(whole)

    def _blocks(self, whole: bytes) -> list[bytes]:
        """``whole`` (events that end in a blank line) event by event: the runs of ordinary
        events go on as they came, the others are read."""
        frames: list[bytes] = []
        run: list[bytes] = []
        ordinary = self._ordinary_named if self.form.named else self._ordinary_chunk
        for block in whole.split(b"\n\n")[:-1]:
            if self.done:
                break
            passed = ordinary(block)
            if passed is not None:
                run.append(passed)
                continue
            if run:
                frames.append(b"\n\n".join(run) + b"\n\n")
                run = []
            try:
                frames += [self._frame(p) for p in SseParser().payloads(block + b"\n\n")]
            except UpstreamError as exc:
                if not frames:
                    raise
                self.failure = exc
                return frames
        if run:
            frames.append(b"\n\n".join(run) + b"\n\n")
        return frames

    def _ordinary_named(self, block: bytes) -> bytes | None:
        """``block`` when it is one ``event:`` line of a type not to read, then one ``data:``
        line holding an object; else None."""
        if not block.startswith(b"event: "):
            return None
        eol = block.find(b"\n", 7)
        if block[7:eol] in self.form.read or not block.startswith(b"data: {", eol + 1):
            return None
        return block if block.endswith(b"}") and block.find(b"\n", eol + 1) < 0 else None

    def _ordinary_chunk(self, block: bytes) -> bytes | None:
        """``block`` renamed, when it is one ``data:`` line holding a chunk that names the
        model as the provider's first chunk did, and is no error; else None. (``find``, not
        ``in``: ``bytes in bytes`` first tries the needle as an integer, an exception each.)"""
        old = self._old
        if (
            old is None
            or not block.startswith(b"data: {")
            or not block.endswith(b"}")
            or block.startswith(b'data: {"error"')
        ):
            return None
        at = block.find(old)
        if at < 0 or block.find(b"\n") >= 0:
            return None
        self._recent = (self._recent[1], block)
        return block[:at] + self._new + block[at + len(old) :]

    def _each(self, payloads: list[bytes]) -> list[bytes]:
        """Each payload read and framed; a failure after some of them waits in
        :attr:`failure`."""
        frames = []
        for payload in payloads:
            if self.done:
                break
            try:
                frames.append(self._frame(payload))
            except UpstreamError as exc:
                if not frames:
                    raise
                self.failure = exc
                break
        return frames

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

    def _learn(self, payload: bytes, model: object) -> None:
        """Remember how the provider writes its model's name, to replace it in bulk."""
        if self._old is not None or not isinstance(model, str) or payload.count(b'"model"') != 1:
            return
        name = orjson.dumps(model)
        self._old = next(
            (pair for pair in (b'"model":' + name, b'"model": ' + name) if pair in payload), None
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
