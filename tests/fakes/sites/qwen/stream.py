"""The completion stream of the Qwen mock (reference §3.7, §5.3 step 7, §5.5).

:func:`plan` turns one accepted request into the frames the site would send (already
malformed when a ``malformed_stream`` variant asks). :class:`Stoppable` hands them to
:func:`~tests.fakes.sites.common.send_frames` (timing knobs, stall, abort, split writes) and
ends them with a finished frame once the stop endpoint is called.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from tests.fakes.sites.common import chunk_text, count_tokens, echo_answer, thinking_text
from tests.fakes.sites.qwen import wire
from tests.fakes.sites.qwen.scenarios import Malformed
from tests.fakes.sites.qwen.state import Live

JSON = wire.JSON
DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class Turn:
    """What the stream answers: the accepted request and the shape of the answer."""

    chat_id: str
    parent_id: str | None
    response_id: str
    prompt: str
    timestamp: int
    thinking: bool = False
    empty: bool = False
    cumulative: bool = False
    legacy_think: bool = False
    keep_alives: int = 0
    chunk_chars: int = 40
    done_sentinel: bool = False
    variant: Malformed | None = None
    rate_limited: bool = False


@dataclass(frozen=True, slots=True)
class Frames:
    """The frames of one answer, in parts a variant can rearrange."""

    head: list[bytes]  # response.created and keep-alives
    body: list[bytes]  # thinking, then answer deltas
    tail: list[bytes]  # the finished frame and [DONE]

    def joined(self) -> list[bytes]:
        return [*self.head, *self.body, *self.tail]


def plan(turn: Turn) -> list[bytes]:
    """Every frame of the answer to ``turn``, in order (its variant applied)."""
    rid = turn.response_id
    head = [wire.sse(wire.created(turn.chat_id, turn.parent_id, rid), trailing=" ")]
    if turn.rate_limited:
        error = wire.stream_error("Too_Many_Requests", "Too many requests, please try later.")
        return [*head, wire.sse(error)]
    head += [
        wire.sse(wire.keep_alive(turn.chat_id, rid, turn.timestamp + i))
        for i in range(turn.keep_alives)
    ]
    body = [] if turn.empty else [wire.sse(f) for f in _thinking(turn) + _answer(turn)]
    tail = [wire.sse(wire.finished(rid))] + ([DONE] if turn.done_sentinel else [])
    frames = Frames(head, body, tail)
    if turn.variant in BREAKERS:
        frames = BREAKERS[turn.variant](turn, frames)
    return frames.joined()


def _thinking(turn: Turn) -> list[JSON]:
    if not turn.thinking:
        return []
    text = thinking_text(turn.prompt)
    pieces = chunk_text(text, turn.chunk_chars)
    rid = turn.response_id
    if turn.legacy_think:
        contents = _contents(pieces, turn.cumulative)
        return [
            wire.delta(rid, {"content": c, "phase": "think", "status": "typing"}) for c in contents
        ]
    prompt_tokens = count_tokens(turn.prompt)
    frames = []
    for i in range(1, len(pieces) + 1):
        thought = "".join(pieces[:i])
        use = wire.usage(prompt_tokens, count_tokens(thought), count_tokens(thought))
        summary = wire.summary([thought], "typing")
        frames.append(wire.delta(rid, summary, use=use, timestamp=turn.timestamp))
    return [*frames, wire.delta(rid, wire.summary([text], "finished"))]


def _answer(turn: Turn) -> list[JSON]:
    prompt_tokens = count_tokens(turn.prompt)
    reasoning = count_tokens(thinking_text(turn.prompt)) if turn.thinking else 0
    pieces = chunk_text(echo_answer(turn.prompt), turn.chunk_chars)
    frames, written = [], ""
    for piece, content in zip(pieces, _contents(pieces, turn.cumulative), strict=True):
        written += piece
        use = wire.usage(prompt_tokens, reasoning + count_tokens(written), reasoning)
        body = {"content": content, "phase": "answer", "status": "typing"}
        frames.append(wire.delta(turn.response_id, body, use=use, timestamp=turn.timestamp))
    return frames


def _contents(pieces: list[str], cumulative: bool) -> list[str]:
    if not cumulative:
        return pieces
    return ["".join(pieces[: i + 1]) for i in range(len(pieces))]


def _crlf(turn: Turn, frames: Frames) -> Frames:
    def crlf(part: list[bytes]) -> list[bytes]:
        return [f.replace(b"\n", b"\r\n") for f in part]

    return Frames(crlf(frames.head), crlf(frames.body), crlf(frames.tail))


def _before_last(frames: Frames, extra: bytes) -> Frames:
    body = [*frames.body[:-1], extra, *frames.body[-1:]]
    return Frames(frames.head, body, frames.tail)


def _invalid_json(turn: Turn, frames: Frames) -> Frames:
    return _before_last(frames, b'data: {"choices":[{"delta":{"content":"trunc\n\n')


def _usage_before_last(turn: Turn, frames: Frames) -> Frames:
    final = wire.usage(count_tokens(turn.prompt), count_tokens(echo_answer(turn.prompt)), 0)
    return _before_last(
        frames, wire.sse({"choices": [], "response_id": turn.response_id, "usage": final})
    )


def _unknown_event(turn: Turn, frames: Frames) -> Frames:
    odd = [b": keep-alive\n\n", b'data: {"type":"heartbeat"}\n\n']
    odd.append(b'data: {"code":0,"msg":"ok","sig":"from bx"}\n\n')
    return Frames([*frames.head, *odd], frames.body, frames.tail)


def _user_echo(turn: Turn, frames: Frames) -> Frames:
    echo = {"choices": [{"delta": {"role": "user", "content": turn.prompt}}]}
    head = [*frames.head, wire.sse({**echo, "response_id": turn.response_id})]
    return Frames(head, frames.body, frames.tail)


def _missing_terminator(turn: Turn, frames: Frames) -> Frames:
    return Frames(frames.head, frames.body, [])


def _duplicate_done(turn: Turn, frames: Frames) -> Frames:
    return Frames(frames.head, frames.body, [*frames.tail, DONE, DONE])


#: what each variant does to the frames (split_utf8 and html_content_type act on the writes
#: and the headers instead)
BREAKERS: dict[Malformed, Callable[[Turn, Frames], Frames]] = {
    Malformed.INVALID_JSON: _invalid_json,
    Malformed.CRLF: _crlf,
    Malformed.UNKNOWN_EVENT: _unknown_event,
    Malformed.MISSING_TERMINATOR: _missing_terminator,
    Malformed.DUPLICATE_DONE: _duplicate_done,
    Malformed.USAGE_BEFORE_LAST: _usage_before_last,
    Malformed.USER_ECHO: _user_echo,
}


class Stoppable(Sequence[bytes]):
    """``frames`` that end early with a finished frame once ``live.stop`` is set (the stop
    endpoint); ``stopped`` says whether they did. The frame the writer already took when the
    stop came (it takes one before pausing) is still sent."""

    def __init__(self, frames: list[bytes], live: Live) -> None:
        self.frames = frames
        self.live = live
        self.stopped = False

    def __iter__(self) -> Iterator[bytes]:
        for index, frame in enumerate(self.frames):
            if index and self.live.stop.is_set():
                self.stopped = True
                yield wire.sse(wire.finished(self.live.response_id))
                return
            yield frame

    def __len__(self) -> int:
        return len(self.frames)

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        return self.frames[index]
