"""WebSocket ``GET /rpc``: requests answered as they finish, and notifications from the daemon.

Each text (or UTF-8 binary) message is one JSON-RPC body. Many requests may be in flight on
one connection; when a connection has ``MAX_IN_FLIGHT`` running, the daemon stops reading
from it until one finishes, so a flood cannot grow memory without bound. Messages over
``max_frame_bytes`` close the connection with 1009 (message too big).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from daemon.errors import ShuttingDown
from daemon.rpc.context import CallContext, DaemonState, RunningCalls, Transport
from daemon.rpc.dispatch import Dispatcher
from daemon.rpc.keys import CONNECTIONS, DISPATCHER, STATE

MAX_IN_FLIGHT = 256
CLOSE_TIMEOUT_S = 2.0  # how long a closing handshake may wait for the client's reply


class WsConnection:
    """One client's WebSocket: its running requests and its way to push notifications."""

    def __init__(self, ws: web.WebSocketResponse, state: DaemonState, dispatcher: Dispatcher):
        self.ws = ws
        self.state = state
        self.dispatcher = dispatcher
        self.ctx = CallContext(state, Transport.WEBSOCKET, self.notify, RunningCalls())
        self.tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def notify(self, method: str, params: Mapping[str, Any]) -> None:
        """Send a JSON-RPC notification to this client (dropped once it has gone)."""
        if not self.ws.closed:
            message = {"jsonrpc": "2.0", "method": method, "params": params}
            await self.ws.send_frame(orjson.dumps(message), WSMsgType.TEXT)

    async def serve(self) -> None:
        """Read messages until the client closes; cancel what it left running."""
        try:
            async for message in self.ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._slots.acquire()
                    task = asyncio.create_task(self._answer(message.data))
                    self.tasks.add(task)
                    self.state.track(task)
                    task.add_done_callback(self._finished)
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self._slots.release()

    async def _answer(self, data: str | bytes) -> None:
        if self.state.draining:
            out = self.dispatcher.refuse(data, ShuttingDown())
        else:
            out = await self.dispatcher.handle(data, self.ctx)
        if out is not None and not self.ws.closed:
            await self.ws.send_frame(out, WSMsgType.TEXT)

    async def going_away(self) -> None:
        """Close with 1001 so the client knows to reconnect; unfinished requests are cancelled."""
        await self.ws.close(code=WSCloseCode.GOING_AWAY, message=b"daemon shutting down")


async def ws_rpc(request: web.Request) -> web.WebSocketResponse:
    """Upgrade to a WebSocket and serve JSON-RPC on it until either side closes."""
    state = request.app[STATE]
    ws = web.WebSocketResponse(
        timeout=CLOSE_TIMEOUT_S,
        max_msg_size=state.settings.max_frame_bytes,
        heartbeat=state.settings.ws_heartbeat_s,
    )
    await ws.prepare(request)
    connection = WsConnection(ws, state, request.app[DISPATCHER])
    connections = request.app[CONNECTIONS]
    connections.add(connection)
    try:
        await connection.serve()
    finally:
        connections.discard(connection)
    return ws
