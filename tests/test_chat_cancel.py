"""Stopping a chat call: chat.cancel, and clients that go away in the middle of a stream.

Whatever the way a call ends early, the daemon hangs up on the provider at once (the fake
counts the disconnects it notices), answers the cancelled call with -32030 where someone is
still listening, and leaves nothing running behind.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Iterator

import orjson
import pytest

from tests.support.daemon import REPO, DaemonProcess, running_daemon
from tests.support.transports import open_session
from tests.support.upstream import ThreadedUpstream, upstream_config
from tests.support.wsrpc import unix_http, websocket

HELLO = [{"role": "user", "content": "hello there"}]
ECHO = "Echo: hello there"
CHUNKS = 20
NOTICE_S = 1.0  # how soon the provider must see the daemon hang up
DRAIN_DEADLINE_S = 2.0
BAD_LOG_LINES = ("Task was destroyed", "Unclosed", "exception was never retrieved")


def slow_model(name: str) -> tuple[str, str]:
    """A model that streams 20 chunks 400 ms apart, and the marker of its requests."""
    scenario = f"{name}-{uuid.uuid4().hex[:10]}"
    return f"gpt-fake+delay_ms=400+chunks={CHUNKS}+scenario={scenario}", f"scenario={scenario}"


async def disconnects_so_far(upstream: ThreadedUpstream) -> int:
    """The fake's disconnect count once earlier responses have all ended."""
    assert await upstream.wait(upstream.fake.wait_idle(DRAIN_DEADLINE_S)) == 0
    return upstream.fake.disconnects


async def provider_notices_hang_up(upstream: ThreadedUpstream, before: int) -> None:
    """The fake sees one more client disconnect within NOTICE_S (TimeoutError otherwise)."""
    await upstream.wait(upstream.fake.wait_disconnect(timeout=NOTICE_S, count=before + 1))


# --- chat.cancel ---------------------------------------------------------------------------


async def test_chat_cancel_stops_a_stream_and_hangs_up_on_the_provider(
    chat_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    model, marker = slow_model("cancel")
    before = await disconnects_so_far(upstream)
    async with websocket(chat_daemon) as rpc:
        call = await rpc.send("chat.send", {"messages": HELLO, "model": model, "stream": True})
        assert (await rpc.first_delta(call))["type"] == "text"

        cancel = await rpc.call("chat.cancel", {"requestId": call})
        assert cancel["result"] == {"cancelled": True}
        answer = await rpc.answer(call)
        assert answer["error"]["code"] == -32030
        await provider_notices_hang_up(upstream, before)
        assert len(rpc.deltas[call]) < CHUNKS
        assert len(upstream.requests_for(marker)) == 1, "a cancelled call is not retried"

        again = await rpc.call("chat.send", {"messages": HELLO, "stream": True})
        assert again["result"]["message"]["content"] == ECHO
        assert "result" in await rpc.call("daemon.info", {})


async def test_cancelling_a_call_that_is_not_running_reports_false(
    chat_daemon: DaemonProcess,
) -> None:
    async with websocket(chat_daemon) as rpc:
        answer = await rpc.call("chat.cancel", {"requestId": "no-such-call"})
        assert answer["result"] == {"cancelled": False}
        done = await rpc.call("chat.send", {"messages": HELLO})
        assert "result" in done
        late = await rpc.call("chat.cancel", {"requestId": done["id"]})
        assert late["result"] == {"cancelled": False}, "a finished call cannot be cancelled"


async def test_chat_cancel_over_plain_http_says_it_needs_the_websocket(
    chat_daemon: DaemonProcess,
) -> None:
    session = await open_session("http", chat_daemon)
    try:
        body = {"jsonrpc": "2.0", "id": 1, "method": "chat.cancel", "params": {"requestId": 1}}
        answer = await session.send(orjson.dumps(body))
    finally:
        await session.close()
    assert answer["error"]["code"] == -32014
    assert "WebSocket" in answer["error"]["data"]["detail"]


# --- clients that go away ------------------------------------------------------------------


async def test_closing_the_websocket_mid_stream_hangs_up_on_the_provider(
    chat_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    model, _ = slow_model("wsclose")
    before = await disconnects_so_far(upstream)
    async with websocket(chat_daemon) as rpc:
        call = await rpc.send("chat.send", {"messages": HELLO, "model": model, "stream": True})
        await rpc.first_delta(call)
        await rpc.ws.close()
    await provider_notices_hang_up(upstream, before)


async def test_terminating_the_stdio_relay_mid_stream_hangs_up_on_the_provider(
    chat_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    model, _ = slow_model("stdioclose")
    before = await disconnects_so_far(upstream)
    relay = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "daemon",
        "stdio",
        cwd=REPO,
        env={**chat_daemon.env, "SWITCHBOARD_SOCKET": str(chat_daemon.socket)},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert relay.stdin is not None
    assert relay.stdout is not None
    try:
        body = {
            "jsonrpc": "2.0",
            "id": "relayed",
            "method": "chat.send",
            "params": {"messages": HELLO, "model": model, "stream": True},
        }
        relay.stdin.write(orjson.dumps(body) + b"\n")
        await relay.stdin.drain()
        async with asyncio.timeout(10):
            first = orjson.loads(await relay.stdout.readline())
        assert first["method"] == "chat.delta"
    finally:
        relay.terminate()
        await asyncio.wait_for(relay.wait(), 10)
    await provider_notices_hang_up(upstream, before)


async def test_an_openai_stream_client_that_hangs_up_hangs_up_on_the_provider(
    chat_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    model, _ = slow_model("v1close")
    before = await disconnects_so_far(upstream)
    body = {"model": model, "messages": HELLO, "stream": True}
    async with unix_http(chat_daemon) as http:
        response = await http.post("http://sb/v1/chat/completions", json=body)
        assert (response.status, response.content_type) == (200, "text/event-stream")
        async with asyncio.timeout(10):
            while True:
                line = await response.content.readline()
                assert line, "the stream ended before any text"
                if line.startswith(b"data: {") and b'"content":"E' in line:
                    break
        response.close()
    await provider_notices_hang_up(upstream, before)


# --- a cancelled probe and the circuit breaker ---------------------------------------------


@pytest.fixture(scope="module")
def probe_daemon(upstream: ThreadedUpstream) -> Iterator[DaemonProcess]:
    """A circuit that opens on the first failed call and lets a probe through right away."""
    config = upstream_config(upstream.base_url, extra="breaker_cooldown_ms = 0")
    for old, new in (
        ("retries = 2", "retries = 0"),
        ("breaker_threshold = 1000", "breaker_threshold = 1"),
    ):
        assert old in config, f"upstream_config no longer sets {old!r}"
        config = config.replace(old, new)
    with running_daemon(config=config, harness=True) as daemon:
        yield daemon


async def test_a_cancelled_probe_does_not_hold_the_circuit_open_for_ever(
    probe_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    async with websocket(probe_daemon) as rpc:
        failing = f"gpt-fake+fault=http_503+scenario=probe-{uuid.uuid4().hex[:10]}"
        opened = await rpc.call("chat.send", {"messages": HELLO, "model": failing})
        assert opened["error"]["code"] == -32024  # the circuit is open now; the cooldown is 0

        model, _ = slow_model("probe")  # the next call is the half-open probe
        probe = await rpc.send("chat.send", {"messages": HELLO, "model": model, "stream": True})
        await rpc.first_delta(probe)
        assert (await rpc.call("chat.cancel", {"requestId": probe}))["result"]["cancelled"]
        assert (await rpc.answer(probe))["error"]["code"] == -32030

        healthy = await rpc.call("chat.send", {"messages": HELLO})
    assert "result" in healthy, "the probe ended, so another call may probe: " + str(healthy)


# --- afterwards ----------------------------------------------------------------------------


async def test_nothing_is_left_running_after_cancellations(
    chat_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    assert await upstream.wait(upstream.fake.wait_idle(DRAIN_DEADLINE_S)) == 0
    async with websocket(chat_daemon) as rpc:
        assert "result" in await rpc.call("daemon.info", {})
    log = chat_daemon.log_text()
    assert not [line for line in log.splitlines() if any(bad in line for bad in BAD_LOG_LINES)]
