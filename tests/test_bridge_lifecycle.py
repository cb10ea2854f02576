"""The bridges' Chromium lives and dies with the daemon, through the real daemon process.

It starts with the first bridge call, closes after ``[bridges] idle_s``, comes back after a
crash, and never outlives the daemon: not after SIGTERM in the middle of an answer, not after
SIGKILL (Playwright's driver takes its browsers along), not even when the driver is killed too
(each Chromium dies with its parent), and one left behind some other way is killed at the next
start. Process exits are awaited through pidfds (tests.fakes.sites.echo.support.ended).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridges import procs
from tests.fakes.sites.echo.server import ThreadedEcho, running_echo
from tests.fakes.sites.echo.support import browser_processes, echo_config, ended
from tests.support.daemon import DaemonProcess, running_daemon, short_tempdir
from tests.support.wsrpc import Rpc, websocket

pytestmark = pytest.mark.browser

HELLO = [{"role": "user", "content": "hello there"}]
STREAM = {"messages": HELLO, "provider": "zai", "stream": True}
BAD_LOG_LINES = ("Task was destroyed", "Unclosed", "exception was never retrieved", "Traceback")


@pytest.fixture(scope="module")
def echo() -> Iterator[ThreadedEcho]:
    with running_echo() as site:
        yield site


@pytest.fixture(autouse=True)
def slow_answers(echo: ThreadedEcho) -> None:
    echo.configure(chunks=40, frame_delay_ms=150)


def config(echo: ThreadedEcho, **bridges: Any) -> str:
    return "[daemon]\ndrain_timeout_s = 1\n\n" + echo_config(echo.base_url, bridges=bridges)


async def site_state(rpc: Rpc) -> dict[str, Any]:
    status = (await rpc.call("bridges.status", {}))["result"]
    return next(site for site in status["sites"] if site["site"] == "echo")


async def streaming(rpc: Rpc) -> str:
    """A long answer under way (its first delta is in)."""
    call = await rpc.send("chat.send", STREAM)
    await rpc.first_delta(call)
    return call


def driver_of(daemon: DaemonProcess) -> int:
    """Playwright's driver: the daemon's child that is a browser process."""
    children = Path(f"/proc/{daemon.proc.pid}/task/{daemon.proc.pid}/children").read_text()
    [driver] = [int(pid) for pid in children.split() if int(pid) in browser_processes(daemon)]
    return driver


async def test_chromium_starts_with_the_first_call_and_a_killed_one_comes_back(
    echo: ThreadedEcho,
) -> None:
    with running_daemon(config=config(echo)) as daemon:
        assert browser_processes(daemon) == []
        async with websocket(daemon) as rpc:
            call = await streaming(rpc)
            pid = (await site_state(rpc))["pid"]
            os.kill(pid, signal.SIGKILL)
            failed = await rpc.answer(call)
            assert failed["error"]["code"] == -32052
            assert "Chromium" in failed["error"]["data"]["detail"]

            echo.configure()
            assert (await rpc.call("chat.send", STREAM))["result"]["message"]["content"]
            assert (await site_state(rpc))["pid"] not in (None, pid)
        assert await asyncio.to_thread(daemon.stop) == 0
        assert not any(line in daemon.log_text() for line in BAD_LOG_LINES)


async def test_sigterm_in_the_middle_of_an_answer_leaves_no_browser_behind(
    echo: ThreadedEcho,
) -> None:
    with running_daemon(config=config(echo)) as daemon:
        async with websocket(daemon) as rpc:
            await streaming(rpc)
            pids = browser_processes(daemon)
            assert len(pids) > 2  # the driver, Chromium and its helpers
            assert await asyncio.to_thread(daemon.stop) == 0
        await ended(pids)
        assert browser_processes(daemon) == []
        assert not any(line in daemon.log_text() for line in BAD_LOG_LINES)


async def test_sigkill_of_the_daemon_leaves_no_browser_behind(echo: ThreadedEcho) -> None:
    with running_daemon(config=config(echo)) as daemon:
        async with websocket(daemon) as rpc:
            await streaming(rpc)
            pids = browser_processes(daemon)
            daemon.proc.kill()
        await ended(pids)
        assert browser_processes(daemon) == []


async def test_chromium_dies_with_its_driver_even_when_both_are_killed(
    echo: ThreadedEcho,
) -> None:
    with running_daemon(config=config(echo)) as daemon:
        async with websocket(daemon) as rpc:
            await streaming(rpc)
            pids = browser_processes(daemon)
            os.kill(driver_of(daemon), signal.SIGKILL)  # no exit handler runs in the driver
            daemon.proc.kill()
        await ended(pids)
        assert browser_processes(daemon) == []


async def test_a_killed_driver_is_started_again(echo: ThreadedEcho) -> None:
    with running_daemon(config=config(echo)) as daemon:
        async with websocket(daemon) as rpc:
            call = await streaming(rpc)
            pids = browser_processes(daemon)
            os.kill(driver_of(daemon), signal.SIGKILL)
            assert (await rpc.answer(call))["error"]["code"] == -32052
            await ended(pids)
            echo.configure()
            assert "result" in await rpc.call("chat.send", STREAM)
        assert await asyncio.to_thread(daemon.stop) == 0


async def test_a_chromium_left_from_an_earlier_daemon_is_killed_at_start(
    echo: ThreadedEcho,
) -> None:
    root = short_tempdir()
    browsers = root / "xdg_state_home" / "switchboard" / "browser"
    browsers.mkdir(parents=True)
    leftover = await asyncio.create_subprocess_exec(
        "/usr/bin/chromium",
        "--headless",
        "--no-sandbox",
        f"--user-data-dir={browsers / 'echo'}",
        "about:blank",
        start_new_session=True,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert procs.record(browsers / "echo.pid", leftover.pid) is not None
        with running_daemon(config=config(echo), root=root) as daemon:
            code = await asyncio.wait_for(leftover.wait(), 20)
            assert code == -signal.SIGKILL
            assert not (browsers / "echo.pid").exists()
            assert "bridge_browser_leftovers_killed" in daemon.log_text()
            async with websocket(daemon) as rpc:
                echo.configure()
                assert "result" in await rpc.call("chat.send", STREAM)
    finally:
        if leftover.returncode is None:
            leftover.kill()
            await leftover.wait()


async def test_an_idle_browser_closes_and_the_next_call_starts_it_again(
    echo: ThreadedEcho,
) -> None:
    echo.configure()
    with running_daemon(config=config(echo, idle_s=1)) as daemon:
        async with websocket(daemon) as rpc:
            assert "result" in await rpc.call("chat.send", STREAM)
            pids = browser_processes(daemon)
            await ended(pids)  # within idle_s (and the driver with it)
            status = (await rpc.call("bridges.status", {}))["result"]
            assert status["browser"]["running"] is False
            assert (await site_state(rpc))["state"] == "idle"
            assert "result" in await rpc.call("chat.send", STREAM)
            assert (await site_state(rpc))["running"] is True
        assert await asyncio.to_thread(daemon.stop) == 0
