"""Reading what a person types while the event loop keeps running, without threads.

A thread blocked in ``input()`` outlives the command: ``asyncio.run`` waits for it at exit, so
a login that finished in the browser would hang until Enter. Here stdin is watched with
``loop.add_reader`` and read with ``os.read`` into one buffer, so a pending read is simply
cancelled. Secrets are read with the terminal's echo off.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator

_buffer = bytearray()


async def read_line(prompt: str, *, secret: bool = False) -> str | None:
    """One line from stdin (without its newline); None once input has ended."""
    sys.stdout.flush()  # what was printed before the question (a URL) shows first, even piped
    sys.stderr.write(prompt)
    sys.stderr.flush()
    fd = sys.stdin.fileno()
    with _echo_off(fd) if secret else contextlib.nullcontext():
        line = await _line(fd)
    if secret:
        sys.stderr.write("\n")  # the Enter the person typed was not echoed either
    return line


async def _line(fd: int) -> str | None:
    while b"\n" not in _buffer:
        chunk = await _readable_chunk(fd)
        if not chunk:
            if not _buffer:
                return None
            break
        _buffer.extend(chunk)
    line, _, rest = bytes(_buffer).partition(b"\n")
    _buffer[:] = rest
    return line.decode(errors="replace").rstrip("\r")


async def _readable_chunk(fd: int) -> bytes:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    try:
        loop.add_reader(fd, _settle, ready)
    except PermissionError:  # a regular file: always readable, epoll refuses it
        return os.read(fd, 4096)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
    return os.read(fd, 4096)


def _settle(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


@contextlib.contextmanager
def _echo_off(fd: int) -> Iterator[None]:
    if not os.isatty(fd):
        yield
        return
    import termios

    before = termios.tcgetattr(fd)
    quiet = list(before)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSADRAIN, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, before)
