"""One way to talk to a running daemon per transport, behind one small interface.

``send(body)`` delivers one raw body or frame and returns the parsed answer, or None when the
daemon sent none. HTTP says "none" with 204; on a stream (WebSocket, stdio) a body that needs
no answer is followed by a sentinel ``daemon.info`` request, whose answer must come next.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections.abc import AsyncIterator
from typing import Any, Protocol

import aiohttp
import orjson

from daemon.client import frame_type
from tests.support.daemon import REPO, DaemonProcess

TRANSPORTS = ("http", "websocket", "stdio")
_sentinel_ids = itertools.count()


class Session(Protocol):
    name: str

    async def send(self, body: bytes | str) -> Any: ...

    async def close(self) -> None: ...


class HttpSession:
    name = "http"

    def __init__(self, daemon: DaemonProcess) -> None:
        self._http = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(daemon.socket)))

    async def send(self, body: bytes | str) -> Any:
        async with self._http.post("http://switchboard/rpc", data=body) as response:
            if response.status == 204:
                return None
            return orjson.loads(await response.read())

    async def close(self) -> None:
        await self._http.close()


class _StreamSession:
    """Exchanges over a message stream; a sentinel request proves that no answer came."""

    async def _put(self, body: bytes) -> None:
        raise NotImplementedError

    async def _get(self) -> bytes:
        raise NotImplementedError

    async def send(self, body: bytes | str) -> Any:
        raw = body.encode() if isinstance(body, str) else body
        await self._put(raw)
        if answer_expected(raw):
            return orjson.loads(await asyncio.wait_for(self._get(), 30))
        sentinel = f"sentinel-{next(_sentinel_ids)}"
        await self._put(orjson.dumps({"jsonrpc": "2.0", "id": sentinel, "method": "daemon.info"}))
        message = orjson.loads(await asyncio.wait_for(self._get(), 30))
        assert message.get("id") == sentinel, f"a notification was answered: {message}"
        return None


async def collect(session: Session, body: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    """Send one request; return the notifications that came before its answer, and the answer.

    Over HTTP there are no notifications: the answer comes alone.
    """
    if isinstance(session, HttpSession):
        return [], await session.send(orjson.dumps(body))
    assert isinstance(session, _StreamSession)
    await session._put(orjson.dumps(body))
    notes = []
    while True:
        message = orjson.loads(await asyncio.wait_for(session._get(), 30))
        if isinstance(message, dict) and "method" in message:
            notes.append(message)
            continue
        assert message.get("id") == body["id"], f"an answer to another request: {message}"
        return notes, message


def answer_expected(body: bytes) -> bool:
    """The spec's rule, independent of the daemon's code: only valid notifications go unanswered."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return True
    if isinstance(parsed, list):
        return not parsed or not all(_is_valid_notification(item) for item in parsed)
    return not _is_valid_notification(parsed)


def _is_valid_notification(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and set(item) <= {"jsonrpc", "method", "params"}
        and item.get("jsonrpc") == "2.0"
        and isinstance(item.get("method"), str)
        and isinstance(item.get("params", []), list | dict)
    )


class WebSocketSession(_StreamSession):
    name = "websocket"

    def __init__(self, daemon: DaemonProcess) -> None:
        self._daemon = daemon
        self._http = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(daemon.socket)))
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def open(self) -> WebSocketSession:
        self.ws = await self._http.ws_connect("http://switchboard/rpc", max_msg_size=0)
        return self

    async def _put(self, body: bytes) -> None:
        assert self.ws is not None
        await self.ws.send_frame(body, frame_type(body))

    async def _get(self) -> bytes:
        assert self.ws is not None
        frame = await self.ws.receive()
        assert frame.type == aiohttp.WSMsgType.TEXT, f"unexpected frame {frame}"
        return str(frame.data).encode()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self._http.close()


class StdioSession(_StreamSession):
    """``switchboard stdio`` as an editor plugin would run it."""

    name = "stdio"

    def __init__(self, daemon: DaemonProcess) -> None:
        self._daemon = daemon
        self.proc: asyncio.subprocess.Process | None = None

    async def open(self) -> StdioSession:
        env = {**self._daemon.env, "SWITCHBOARD_SOCKET": str(self._daemon.socket)}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "daemon",
            "stdio",
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 << 20,
        )
        return self

    async def _put(self, body: bytes) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(body.replace(b"\n", b" ") + b"\n")
        await self.proc.stdin.drain()

    async def _get(self) -> bytes:
        assert self.proc is not None
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        assert line, "the relay closed stdout"
        return line

    async def close(self) -> None:
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = await asyncio.wait_for(self.proc.wait(), 30)
        assert code == 0, f"relay exited {code}"


@contextlib.asynccontextmanager
async def connected(name: str, daemon: DaemonProcess) -> AsyncIterator[Session]:
    """A session of transport ``name`` to ``daemon``, closed on exit."""
    opened = await open_session(name, daemon)
    try:
        yield opened
    finally:
        await opened.close()


async def open_session(name: str, daemon: DaemonProcess) -> Session:
    """A connected session of transport ``name`` to ``daemon``."""
    if name == "http":
        return HttpSession(daemon)
    if name == "websocket":
        return await WebSocketSession(daemon).open()
    if name == "stdio":
        return await StdioSession(daemon).open()
    raise ValueError(name)
