"""Replaying recorded provider traffic through an adapter's parsers, for the adapter tests."""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from daemon.adapters.common import StreamParser
from daemon.adapters.sse import SseParser
from daemon.adapters.types import Assembly, Event
from tests.fakes import cassettes


class Recordings:
    """One family's folder in ``../shared/fixtures/wire``."""

    def __init__(self, folder: str) -> None:
        self.folder = cassettes.WIRE / folder

    def __call__(self, name: str, index: int = -1) -> cassettes.Interaction:
        return cassettes.load(self.folder / name)[index]


def raw_body(interaction: cassettes.Interaction) -> bytes:
    """The response body as bytes, whichever way the cassette stored it."""
    body = (
        interaction.body if interaction.body is not None else orjson.dumps(interaction.parsed_body)
    )
    return body.encode() if isinstance(body, str) else body


def assembled(events: Iterable[Event]) -> Assembly:
    assembly = Assembly()
    for event in events:
        assembly.add(event)
    return assembly


def replay_done(
    parser: StreamParser, body: bytes, cuts: list[int] | None = None
) -> tuple[Assembly, bool]:
    """:func:`replay_stream`, and whether the parser saw its family's end marker."""
    return replay_stream(parser, body, cuts), parser.done


def replay_stream(parser: StreamParser, body: bytes, cuts: list[int] | None = None) -> Assembly:
    """Bytes -> SSE parser -> ``parser`` -> assembly, the body split at ``cuts``."""
    sse, assembly, start = SseParser(), Assembly(), 0
    for end in [*sorted(cuts or []), len(body)]:
        for event in sse.feed(body[start:end]):
            for normalized in parser.feed(event.data):
                assembly.add(normalized)
        start = end
    return assembly
