"""What every benchmark process shares: running on uvloop, and telling its parent it is ready."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop when it is importable (as the daemon does), else on asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def notify(state: str) -> None:
    """sd_notify, as the daemon does it: one datagram to ``NOTIFY_SOCKET`` if it is set."""
    address = os.environ.pop("NOTIFY_SOCKET", "")
    if address:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(state.encode(), address)


async def serve_until_signal(app: web.Application, path: Path) -> None:
    """Serve ``app`` on a Unix socket at ``path``, say READY=1, and run until SIGTERM/SIGINT."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    await web.UnixSite(runner, str(path), backlog=512).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    notify("READY=1")
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
