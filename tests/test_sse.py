"""The SSE parser yields the same events however the bytes are split."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hypothesis import given
from hypothesis import strategies as st

from daemon.adapters.sse import SseEvent, SseParser

T = TypeVar("T")

STREAM = (
    b'event: message_start\r\ndata: {"a": 1}\r\n\r\n'
    b": keep-alive comment\n\n"
    b"data: first line\ndata: second line\n\n"
    b"id: 7\nretry: 10\ndata:no-space\n\n"
    b"data: \xc3\xa9t\xc3\xa9\r\r"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    SseEvent("message_start", b'{"a": 1}'),
    SseEvent("message", b"first line\nsecond line"),
    SseEvent("message", b"no-space"),
    SseEvent("message", "été".encode()),
    SseEvent("message", b"[DONE]"),
]


def in_pieces(step: Callable[[bytes], list[T]], data: bytes, cuts: list[int]) -> list[T]:
    """What ``step`` (one parser's feed or payloads) makes of ``data`` cut at ``cuts``."""
    found: list[T] = []
    start = 0
    for cut in sorted(set(cuts)):
        found += step(data[start:cut])
        start = cut
    return found + step(data[start:])


def parse_in_pieces(data: bytes, cuts: list[int]) -> list[SseEvent]:
    return in_pieces(SseParser().feed, data, cuts)


def test_a_whole_stream_parses_into_its_events() -> None:
    assert SseParser().feed(STREAM) == EXPECTED


def test_every_single_byte_boundary() -> None:
    for cut in range(len(STREAM) + 1):
        assert parse_in_pieces(STREAM, [cut]) == EXPECTED, cut


def test_one_byte_at_a_time() -> None:
    assert parse_in_pieces(STREAM, list(range(len(STREAM)))) == EXPECTED


@given(st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_any_split(cuts: list[int]) -> None:
    assert parse_in_pieces(STREAM, cuts) == EXPECTED


def test_an_event_without_its_blank_line_is_not_emitted_yet() -> None:
    parser = SseParser()
    assert parser.feed(b"data: partial\n") == []
    assert parser.feed(b"\n") == [SseEvent("message", b"partial")]


LF_ONLY = b'data: {"a":1}\n\n: ping\n\nevent: delta\ndata: x\ndata: y\n\ndata: [DONE]\n\n'
LF_EXPECTED = [
    SseEvent("message", b'{"a":1}'),
    SseEvent("delta", b"x\ny"),
    SseEvent("message", b"[DONE]"),
]


def test_lf_only_streams_take_the_fast_path_and_split_anywhere() -> None:
    assert SseParser().feed(LF_ONLY) == LF_EXPECTED
    for cut in range(len(LF_ONLY) + 1):
        assert parse_in_pieces(LF_ONLY, [cut]) == LF_EXPECTED, cut
    assert parse_in_pieces(LF_ONLY, list(range(len(LF_ONLY)))) == LF_EXPECTED


@given(st.lists(st.integers(0, len(LF_ONLY)), max_size=12))
def test_lf_only_any_split(cuts: list[int]) -> None:
    assert parse_in_pieces(LF_ONLY, cuts) == LF_EXPECTED


def test_a_stream_that_switches_line_endings_midway() -> None:
    mixed = LF_ONLY + b"data: crlf\r\n\r\n" + LF_ONLY
    expected = [*LF_EXPECTED, SseEvent("message", b"crlf"), *LF_EXPECTED]
    for cut in range(len(mixed) + 1):
        assert parse_in_pieces(mixed, [cut]) == expected, cut


ANTHROPIC_LIKE = (
    b'event: message_start\ndata: {"type":"message_start"}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n'
)
MIXED = LF_ONLY + b"data: crlf\r\n\r\n" + LF_ONLY + ANTHROPIC_LIKE


def payloads_in_pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    return in_pieces(SseParser().payloads, data, cuts)


@given(
    st.sampled_from([STREAM, LF_ONLY, ANTHROPIC_LIKE, MIXED]),
    st.lists(st.integers(0, len(MIXED)), max_size=12),
)
def test_payloads_are_the_data_of_the_events_feed_finds(data: bytes, cuts: list[int]) -> None:
    expected = [event.data for event in SseParser().feed(data)]
    assert payloads_in_pieces(data, [cut for cut in cuts if cut <= len(data)]) == expected


def test_payloads_byte_by_byte_and_at_every_boundary() -> None:
    expected = [event.data for event in SseParser().feed(MIXED)]
    assert payloads_in_pieces(MIXED, list(range(len(MIXED)))) == expected
    for cut in range(len(MIXED) + 1):
        assert payloads_in_pieces(MIXED, [cut]) == expected, cut


LINES = st.sampled_from(
    [b"data: x", b"data:", b"data: ", b"data: data: y", b"data: a\rb", b"event: e", b": ping", b""]
)
BLOCKS = st.tuples(st.lists(LINES, min_size=1, max_size=3), st.sampled_from([b"\n", b"\r\n"]))
STREAMS = st.lists(BLOCKS, max_size=8).map(
    lambda blocks: b"".join(end.join([*lines, b"", b""]) for lines, end in blocks)
)


@given(STREAMS, st.lists(st.integers(0, 200), max_size=6))
def test_payloads_agree_with_feed_on_any_stream(data: bytes, cuts: list[int]) -> None:
    expected = [event.data for event in SseParser().feed(data)]
    assert payloads_in_pieces(data, [cut for cut in cuts if cut <= len(data)]) == expected
