"""An incremental Server-Sent Events parser (the WHATWG event-stream format).

Bytes go in as they arrive, split anywhere (even inside a CRLF or a UTF-8 sequence); complete
events come out. Only what LLM providers use is kept: ``event`` and ``data`` fields; comments
(``:`` lines, e.g. keep-alives), ``id`` and ``retry`` are dropped. Byte searches use ``find``:
``bytes in bytes`` first tries its needle as an integer, which costs an exception each time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast


@dataclass(slots=True)
class SseEvent:
    event: str
    data: bytes


class SseParser:
    """Feed bytes with :meth:`feed`; it returns the events they completed."""

    __slots__ = ("_buffer", "_data", "_event")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._event = b""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Parse ``chunk`` together with what was left over from the previous one."""
        buffer = self._buffer + chunk
        if buffer.find(b"\r") < 0 and not self._data and not self._event:
            return self._feed_lf(buffer)  # LF-only, as providers send: whole events at once
        events: list[SseEvent] = []
        start = 0
        while True:
            end = _line_end(buffer, start)
            if end < 0:
                break
            line = buffer[start:end]
            # A lone CR at the very end may be the first half of a CRLF still in flight.
            if buffer[end : end + 1] == b"\r":
                if end + 1 == len(buffer):
                    break
                start = end + 2 if buffer[end + 1 : end + 2] == b"\n" else end + 1
            else:
                start = end + 1
            event = self._line(line)
            if event is not None:
                events.append(event)
        self._buffer = buffer[start:]
        return events

    def payloads(self, chunk: bytes) -> list[bytes]:
        """The ``data`` of each event ``chunk`` completed, as :meth:`feed` would find them
        (event names dropped: every family's payload names its own type). The common cases
        make no event objects: a read of whole ``data: X`` blocks is one split; whole
        ``data: X`` or ``event: N``/``data: X`` blocks between LF pairs are read block by
        block; any other shape goes through :meth:`feed`."""
        if self._data or self._event:
            return [event.data for event in self.feed(chunk)]
        buffer = self._buffer + chunk if self._buffer else chunk
        if _only_data_blocks(buffer):  # what OpenAI-style streams send: one split reads them
            self._buffer = b""
            return buffer[6:-2].split(b"\n\ndata: ")
        if buffer.find(b"\r") < 0:
            *blocks, rest = buffer.split(b"\n\n")
            found = [_plain_data(block) for block in blocks]
            if None not in found:
                self._buffer = rest
                return cast(list[bytes], found)  # no None in it: checked above
        self._buffer = b""
        return [event.data for event in self.feed(buffer)]

    def _feed_lf(self, buffer: bytes) -> list[SseEvent]:
        *blocks, self._buffer = buffer.split(b"\n\n")
        events: list[SseEvent] = []
        for block in blocks:
            if (event := _plain(block)) is not None:
                events.append(event)
                continue
            for line in block.split(b"\n"):
                if (event := self._line(line)) is not None:
                    events.append(event)
            if (event := self._dispatch()) is not None:
                events.append(event)
        return events

    def _line(self, line: bytes) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(b":"):
            return None
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value
        return None

    def _dispatch(self) -> SseEvent | None:
        if not self._data:
            self._event = b""
            return None
        event = SseEvent(self._event.decode(errors="replace") or "message", b"\n".join(self._data))
        self._data = []
        self._event = b""
        return event


def _plain(block: bytes) -> SseEvent | None:
    """The event of a whole block of one of the shapes :func:`_plain_data` reads, else None."""
    data = _plain_data(block)
    if data is None:
        return None
    named = block.startswith(b"event: ")
    name = block[7 : block.index(b"\n")].decode(errors="replace") if named else ""
    return SseEvent(name or "message", data)


def _only_data_blocks(buffer: bytes) -> bool:
    """Whether ``buffer`` is whole ``data: X`` blocks and nothing else: every LF is one of a
    block's two final ones (the count says so), and each block starts with ``data: ``."""
    return (
        buffer.startswith(b"data: ")
        and buffer.endswith(b"\n\n")
        and buffer.count(b"\n") == 2 * buffer.count(b"\n\ndata: ") + 2
        and buffer.find(b"\r") < 0
    )


def _plain_data(block: bytes) -> bytes | None:
    """The data of a whole block in one of the two shapes providers send, ``data: X`` or
    ``event: N`` then ``data: X`` (what the line-by-line parse would make of it), else None.
    Taken between events only, when nothing of another event is pending."""
    if block.startswith(b"data: "):
        return None if block.find(b"\n") >= 0 else block[6:]
    if block.startswith(b"event: "):
        _, newline, data = block.partition(b"\n")
        if newline and data.startswith(b"data: ") and data.find(b"\n") < 0:
            return data[6:]
    return None


def _line_end(buffer: bytes, start: int) -> int:
    """Index of the first CR or LF at or after ``start``, or -1."""
    lf = buffer.find(b"\n", start)
    cr = buffer.find(b"\r", start, lf if lf >= 0 else len(buffer))
    return cr if cr >= 0 else lf
