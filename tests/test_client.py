"""``daemon.client.Client``: what a background agent in Python uses to talk to the daemon."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from daemon.client import Client
from daemon.errors import DaemonUnreachable, InvalidParams, MethodNotFound
from tests.support.daemon import DaemonProcess, short_tempdir


async def test_calls_return_results(shared_daemon: DaemonProcess) -> None:
    async with Client(shared_daemon.socket) as daemon:
        info = await daemon.call("daemon.info")
        assert info["pid"] == shared_daemon.proc.pid
        assert await daemon.call("subtract", {"minuend": 3, "subtrahend": 5}) == -2


async def test_concurrent_calls_share_one_connection(shared_daemon: DaemonProcess) -> None:
    async with Client(shared_daemon.socket) as daemon:
        slow = asyncio.create_task(daemon.call("test.sleep", {"ms": 300}))
        fast = await daemon.call("subtract", [1, 1])
        assert not slow.done()
        assert fast == 0
        assert await slow == {"slept": 300}


async def test_errors_arrive_as_the_daemons_error_classes(shared_daemon: DaemonProcess) -> None:
    async with Client(shared_daemon.socket) as daemon:
        with pytest.raises(MethodNotFound):
            await daemon.call("no.such")
        with pytest.raises(InvalidParams) as caught:
            await daemon.call("subtract", {"minuend": 1})
        assert caught.value.data["field"] == "subtrahend"


async def test_notifications_about_a_call_reach_its_handler(shared_daemon: DaemonProcess) -> None:
    seen: list[tuple[str, Any]] = []
    async with Client(shared_daemon.socket) as daemon:
        count = await daemon.call(
            "test.notify",
            {"count": 2, "requestId": 1},
            on_notification=lambda m, p: seen.append((m, p["index"])),
        )
    assert count == 2
    assert seen == [("test.tick", 0), ("test.tick", 1)]


async def test_other_notifications_are_queued(shared_daemon: DaemonProcess) -> None:
    async with Client(shared_daemon.socket) as daemon:
        await daemon.call("test.notify", {"count": 1, "requestId": "someone-else"})
        note = await anext(daemon.notifications())
    assert note["params"] == {"requestId": "someone-else", "index": 0}


async def test_no_daemon_raises_daemon_unreachable() -> None:
    with pytest.raises(DaemonUnreachable, match="no daemon answers"):
        async with Client(short_tempdir() / "none.sock"):
            pass
