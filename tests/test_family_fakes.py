"""Each family's fake says nothing the real provider never said.

Every key path of every JSON body, stream event and error the fake sends must appear in one of
the family's real recordings (``../shared/fixtures/wire/<family>/``); a fake that invented a
field, or misplaced one, fails here before it can make an adapter look right. And the fake's
frames, parsed by the daemon's own adapter, give the answer the fake meant.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes import cassettes
from tests.fakes.families.script import Turn, plan
from tests.fakes.families.server import load_wires
from tests.fakes.families.wire import Wire

WIRES = load_wires()
TURNS = {
    "text": Turn(model="fake-model", stream=True, user_text="hello there"),
    "tools": Turn(
        model="fake-model+tools", stream=True, user_text="hello there", tool_names=["search"]
    ),
    "reasoning": Turn(model="fake-model+reasoning", stream=True, user_text="hello there"),
}


def frame_payloads(body: bytes | str, decode: Callable[[bytes], list[Any]] | None) -> list[Any]:
    """The JSON payloads of a streamed body (SSE unless the wire has a decoder of its own)."""
    raw = body.encode() if isinstance(body, str) else body
    if decode is not None:
        return decode(raw)
    return [e for e in cassettes.sse_events(raw) if e != "[DONE]"]


def recorded_paths(wire: Wire) -> tuple[frozenset[str], frozenset[str]]:
    """(paths of whole JSON bodies, paths of stream events) over the family's recordings."""
    bodies: set[str] = set()
    events: set[str] = set()
    for path in sorted((cassettes.WIRE / wire.recordings).iterdir()):
        for interaction in cassettes.load(path):
            if _is_stream(interaction, wire):
                for payload in frame_payloads(interaction.body or b"", wire.decode_frames):
                    events |= cassettes.key_paths(payload)
            elif interaction.parsed_body is not None:
                bodies |= cassettes.key_paths(interaction.parsed_body)
    return frozenset(bodies), frozenset(events)


def _is_stream(interaction: cassettes.Interaction, wire: Wire) -> bool:
    kind = interaction.header("content-type") or ""
    if interaction.parsed_body is not None and "json" in kind:
        return False
    return interaction.body is not None and (
        "event-stream" in kind or "eventstream" in kind or "data:" in str(interaction.body)[:200]
    )


@pytest.fixture(params=WIRES, ids=[w.provider for w in WIRES])
def wire(request: pytest.FixtureRequest) -> Wire:
    wire: Wire = request.param
    return wire


def unwrapped(payload: Any, wire: Wire) -> Any:
    """The recorded family's payload inside ``wire``'s envelope (Code Assist's ``response``);
    the envelope holds nothing else."""
    if wire.envelope is None:
        return payload
    assert list(payload) == [wire.envelope], payload
    return payload[wire.envelope]


@pytest.mark.parametrize("case", list(TURNS))
def test_every_field_the_fake_sends_was_seen_from_the_real_provider(wire: Wire, case: str) -> None:
    bodies, events = recorded_paths(wire)
    turn = TURNS[case]
    script = plan(turn)
    stream = b"".join(wire.stream_frames(script, turn))
    payloads = [unwrapped(p, wire) for p in frame_payloads(stream, wire.decode_frames)]
    sent_events = frozenset().union(*(cassettes.key_paths(p) for p in payloads))
    assert wire.shape(sent_events) - events - wire.unrecorded == frozenset()
    body = unwrapped(json.loads(wire.json_body(script, turn)), wire)
    assert wire.shape(cassettes.key_paths(body)) - bodies - wire.unrecorded == frozenset()


def test_the_fake_error_shape_is_the_recorded_one(wire: Wire) -> None:
    bodies, _ = recorded_paths(wire)
    for status in (400, 401, 429, 500):
        sent = cassettes.key_paths(json.loads(wire.error_body(status, "no")))
        assert sent - bodies - wire.unrecorded == frozenset(), status
