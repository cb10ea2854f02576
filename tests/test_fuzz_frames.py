"""Thousands of random frames at the real daemon over HTTP and WebSocket.

Every frame gets a valid JSON-RPC 2.0 response, except valid notifications (and batches of
only those), which get none; afterwards the daemon still answers ``daemon.info``. Hypothesis
drives a sync test; the connection lives on an event loop in a helper thread so that every example
reuses one keep-alive HTTP connection or one WebSocket, as a long-lived client would.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import fastjsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.daemon import DaemonProcess
from tests.support.transports import Session, answer_expected, open_session

T = TypeVar("T")

RESPONSE = fastjsonschema.compile(
    {
        "definitions": {
            "id": {"type": ["string", "number", "null"]},
            "response": {
                "type": "object",
                "required": ["jsonrpc", "id"],
                "properties": {
                    "jsonrpc": {"const": "2.0"},
                    "id": {"$ref": "#/definitions/id"},
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
                    },
                },
                "oneOf": [{"required": ["result"]}, {"required": ["error"]}],
            },
        },
        "oneOf": [
            {"$ref": "#/definitions/response"},
            {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/response"}},
        ],
    }
)

SAFE_METHODS = [
    "daemon.info",
    "daemon.health",
    "rpc.discover",
    "subtract",
    "sum",
    "get_data",
    "update",
    "notify_hello",
    "test.fail",
    "no.such",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
request_like = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.just("2.0") | json_values,
        "method": st.sampled_from(SAFE_METHODS) | json_values,
        "params": json_values,
        "id": st.integers(-(2**31), 2**31) | st.text(max_size=6) | st.none() | json_values,
        "extra": json_values,
    },
)
# Mostly well-formed requests and notifications, so that dispatch itself is exercised.
well_formed = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0"), "method": st.sampled_from(SAFE_METHODS)},
    optional={
        "params": st.lists(json_values, max_size=3)
        | st.dictionaries(st.text(max_size=8), json_values),
        "id": st.integers(-(2**31), 2**31) | st.text(max_size=6) | st.none(),
    },
)
frames = st.one_of(
    well_formed.map(orjson.dumps),
    st.lists(well_formed | request_like, max_size=5).map(orjson.dumps),
    request_like.map(orjson.dumps),
    json_values.map(orjson.dumps),
    st.binary(max_size=96),
    st.text(max_size=96).map(str.encode),
)


class LoopThread:
    """An event loop on a helper thread, so a sync Hypothesis test can await on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(params=["http", "websocket"])
def fuzz_session(
    request: pytest.FixtureRequest, shared_daemon: DaemonProcess
) -> Iterator[tuple[LoopThread, Session]]:
    loop = LoopThread()
    session = loop.run(open_session(request.param, shared_daemon))
    try:
        yield loop, session
        info = loop.run(session.send(b'{"jsonrpc":"2.0","id":"after","method":"daemon.info"}'))
        assert info["result"]["name"] == "switchboard"
    finally:
        loop.run(session.close())
        loop.stop()


@settings(
    max_examples=1500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=frames)
def test_every_random_frame_gets_a_valid_answer_or_none(
    fuzz_session: tuple[LoopThread, Session], frame: bytes
) -> None:
    loop, session = fuzz_session
    answer = loop.run(session.send(frame))
    assert (answer is not None) == answer_expected(frame), f"answer {answer!r} to {frame!r}"
    if answer is not None:
        RESPONSE(answer)
