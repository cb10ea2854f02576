"""What the fake servers share: ``async with`` around their start and stop, breaking a
connection the way a failing provider does, the HTML page a captive portal or CDN answers with,
and running as a process of its own (benchmarks) until a signal, forgetting requests as it
goes."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import signal
import socket
import struct
from collections.abc import Callable
from types import TracebackType
from typing import Self

from aiohttp import web

FORGET_EVERY_S = 0.5
GARBAGE_HTML = (
    "<!DOCTYPE html>\n<html><head><title>Just a moment...</title></head>\n"
    "<body><h1>Checking your browser before accessing the API.</h1></body></html>\n"
)


class FakeServer(abc.ABC):
    """A fake server that is started on entering ``async with`` and stopped on leaving it."""

    @abc.abstractmethod
    async def start(self) -> str:
        """Listen; return the base URL."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop listening (a no-op when not started)."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def reset(request: web.Request) -> None:
    """Close the connection at once: a TCP RST (SO_LINGER 0) rather than a FIN."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


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
