"""``switchboard stdio``: newline-delimited JSON-RPC on stdin/stdout, relayed to the daemon.

For editor plugins that would rather spawn a process than open a socket. Each input line is
sent as one WebSocket message; each message from the daemon (answers and notifications) is
written as one line. On end of input the relay waits for the answers still owed, then exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from pathlib import Path
from typing import BinaryIO

import aiohttp
import orjson

from daemon.client import frame_type, open_websocket
from daemon.errors import RequestTooLarge
from daemon.rpc.dispatch import expects_answer

LINE_LIMIT = 64 << 20


class _Owed:
    """How many answers the daemon still owes; ``settled`` fires once input ended and none are."""

    def __init__(self) -> None:
        self.count = 0
        self.input_done = False
        self.settled = asyncio.Event()

    def add(self, delta: int) -> None:
        self.count += delta
        if self.input_done and self.count <= 0:
            self.settled.set()


def _read_line(stdin: BinaryIO) -> bytes | None:
    """One line without its newline; None at end of input; RequestTooLarge past the limit."""
    line = stdin.readline(LINE_LIMIT + 1)
    if not line:
        return None
    if len(line) > LINE_LIMIT and not line.endswith(b"\n"):
        while (rest := stdin.readline(LINE_LIMIT)) and not rest.endswith(b"\n"):
            pass
        raise RequestTooLarge(f"a line is over {LINE_LIMIT} bytes")
    return line.rstrip(b"\r\n")


def _start_reader(stdin: BinaryIO, lines: asyncio.Queue[bytes | RequestTooLarge | None]) -> None:
    """Read stdin on a daemon thread: a blocked read must not keep the process alive."""
    loop = asyncio.get_running_loop()

    def pump() -> None:
        while True:
            try:
                item: bytes | RequestTooLarge | None = _read_line(stdin)
            except RequestTooLarge as exc:
                item = exc
            except (OSError, ValueError):
                item = None
            loop.call_soon_threadsafe(lines.put_nowait, item)
            if item is None:
                return

    threading.Thread(target=pump, name="stdin-reader", daemon=True).start()


async def _to_daemon(
    ws: aiohttp.ClientWebSocketResponse, stdin: BinaryIO, stdout: BinaryIO, owed: _Owed
) -> None:
    lines: asyncio.Queue[bytes | RequestTooLarge | None] = asyncio.Queue(maxsize=0)
    _start_reader(stdin, lines)
    while (line := await lines.get()) is not None:
        if isinstance(line, RequestTooLarge):
            _write(stdout, orjson.dumps({"jsonrpc": "2.0", "error": line.to_rpc(), "id": None}))
        elif line.strip():
            owed.add(1 if expects_answer(line) else 0)
            await ws.send_frame(line, frame_type(line))
    owed.input_done = True
    owed.add(0)


async def _to_stdout(ws: aiohttp.ClientWebSocketResponse, stdout: BinaryIO, owed: _Owed) -> None:
    async for frame in ws:
        if frame.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            continue
        data = frame.data.encode() if isinstance(frame.data, str) else frame.data
        _write(stdout, data)
        if not _is_notification(data):
            owed.add(-1)


def _is_notification(data: bytes) -> bool:
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return isinstance(message, dict) and "method" in message


def _write(stdout: BinaryIO, data: bytes) -> None:
    stdout.write(data + b"\n")
    stdout.flush()


async def relay(
    socket_path: Path | None,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
) -> int:
    """Relay until stdin ends and every answer is out (0), or the daemon goes away (1)."""
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    session, ws = await open_websocket(socket_path, url=url, token=token)
    owed = _Owed()
    downstream = asyncio.create_task(_to_stdout(ws, stdout, owed))
    settled = asyncio.create_task(owed.settled.wait())
    upstream = asyncio.create_task(_to_daemon(ws, stdin, stdout, owed))
    try:
        done, _ = await asyncio.wait({downstream, settled}, return_when=asyncio.FIRST_COMPLETED)
        return 0 if settled in done else 1
    finally:
        await ws.close()
        await session.close()
        for task in (upstream, downstream, settled):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
