"""Running a fake as a process of its own (benchmarks): until a signal, forgetting as it goes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

FORGET_EVERY_S = 0.5


async def until_signal(forget: Callable[[], None]) -> None:
    """Return on SIGTERM or SIGINT; call ``forget`` every :data:`FORGET_EVERY_S` meanwhile.

    A test fake keeps every request for assertions; under a long benchmark load that would grow
    without bound, so the caller drops them here.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    while not stop.is_set():
        forget()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FORGET_EVERY_S):
                await stop.wait()
