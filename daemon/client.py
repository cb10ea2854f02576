"""A small async client for the daemon, for the CLI and for any Python program.

    async with Client() as daemon:                 # the default socket
        info = await daemon.call("daemon.info")
        async for note in daemon.notifications():  # what the daemon pushes
            ...

Calls travel over one WebSocket, so many may be in flight at once. An error answer is raised
as the matching class of :mod:`daemon.errors` (``exc.data`` carries the details).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from daemon.config import load_settings
from daemon.errors import DaemonUnreachable, from_rpc

NotificationHandler = Callable[[str, Mapping[str, Any]], None]


def frame_type(data: bytes) -> aiohttp.WSMsgType:
    """Text for UTF-8, binary otherwise: a text frame must hold valid UTF-8 (RFC 6455), and the
    daemon answers a binary frame that is not JSON with -32700 instead of closing with 1007."""
    try:
        data.decode()
    except UnicodeDecodeError:
        return aiohttp.WSMsgType.BINARY
    return aiohttp.WSMsgType.TEXT


def default_socket() -> Path:
    """The socket the daemon listens on with this user's config and environment."""
    return load_settings().socket


async def open_websocket(
    socket_path: Path | str | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    max_msg_size: int = 64 << 20,
) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    """Connect to ``/rpc`` over the Unix socket (default) or a TCP ``url``."""
    if url is None:
        path = str(socket_path or default_socket())
        connector: aiohttp.BaseConnector = aiohttp.UnixConnector(path=path)
        url = "http://switchboard"
    else:
        path = url
        connector = aiohttp.TCPConnector()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    session = aiohttp.ClientSession(connector=connector, headers=headers)
    try:
        ws = await session.ws_connect(f"{url}/rpc", max_msg_size=max_msg_size, autoping=True)
    except (aiohttp.ClientError, OSError) as exc:
        await session.close()
        raise DaemonUnreachable(f"no daemon answers at {path} ({type(exc).__name__})") from None
    return session, ws


class Client:
    """JSON-RPC over the daemon's WebSocket; use as ``async with Client() as c``."""

    def __init__(
        self,
        socket_path: Path | str | None = None,
        *,
        url: str | None = None,
        token: str | None = None,
    ) -> None:
        self._target = (socket_path, url, token)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._listeners: dict[int, NotificationHandler] = {}
        self._notes: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Client:
        socket_path, url, token = self._target
        self._session, self._ws = await open_websocket(socket_path, url=url, token=token)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader
        if self._session is not None:
            await self._session.close()

    async def call(
        self,
        method: str,
        params: Mapping[str, Any] | list[Any] | None = None,
        *,
        on_notification: NotificationHandler | None = None,
    ) -> Any:
        """Call ``method`` and return its result; raise its error as a DaemonError.

        ``on_notification`` receives the notifications the daemon sends about this call
        (those whose ``params.requestId`` is this call's id), e.g. streamed deltas.
        """
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        if on_notification is not None:
            self._listeners[request_id] = on_notification
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            await self._socket().send_frame(orjson.dumps(message), aiohttp.WSMsgType.TEXT)
            return await future
        finally:
            self._pending.pop(request_id, None)
            self._listeners.pop(request_id, None)

    async def notify(self, method: str, params: Mapping[str, Any] | None = None) -> None:
        """Send a notification (no answer comes back)."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._socket().send_frame(orjson.dumps(message), aiohttp.WSMsgType.TEXT)

    async def notifications(self) -> AsyncIterator[dict[str, Any]]:
        """Notifications not claimed by a call, until the connection closes."""
        while (note := await self._notes.get()) is not None:
            yield note

    def _socket(self) -> aiohttp.ClientWebSocketResponse:
        if self._ws is None or self._ws.closed:
            raise DaemonUnreachable("the connection to the daemon is closed")
        return self._ws

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for frame in self._ws:
                if frame.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    self._route(orjson.loads(frame.data))
        finally:
            gone = DaemonUnreachable("the daemon closed the connection")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(gone)
            self._notes.put_nowait(None)

    def _route(self, message: Any) -> None:
        for item in message if isinstance(message, list) else [message]:
            if "method" in item:
                params = item.get("params") or {}
                request_id = params.get("requestId")
                listener = self._listeners.get(request_id) if isinstance(request_id, int) else None
                if listener is not None:
                    listener(item["method"], params)
                else:
                    self._notes.put_nowait(item)
                continue
            future = self._pending.get(item.get("id"))
            if future is None or future.done():
                continue
            if "error" in item:
                future.set_exception(from_rpc(item["error"]))
            else:
                future.set_result(item.get("result"))
