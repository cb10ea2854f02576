"""JSON-RPC over one WebSocket to the daemon, for tests that watch chat.delta notifications."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from tests.support.daemon import DaemonProcess

_ids = itertools.count(1)


def unix_http(daemon: DaemonProcess) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(daemon.socket)))


class Rpc:
    """JSON-RPC over one WebSocket, keeping answers that arrive while waiting for others."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.answers: dict[Any, dict[str, Any]] = {}
        self.deltas: dict[Any, list[dict[str, Any]]] = {}

    async def send(self, method: str, params: dict[str, Any]) -> str:
        request_id = f"{method}-{next(_ids)}"
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        await self.ws.send_str(orjson.dumps(body).decode())
        return request_id

    async def _receive(self) -> None:
        async with asyncio.timeout(10):
            frame = await self.ws.receive()
        assert frame.type == aiohttp.WSMsgType.TEXT, f"unexpected frame {frame}"
        message = orjson.loads(frame.data)
        if message.get("method") == "chat.delta":
            params = message["params"]
            self.deltas.setdefault(params["requestId"], []).append(params)
        else:
            self.answers[message["id"]] = message

    async def first_delta(self, request_id: str) -> dict[str, Any]:
        while not self.deltas.get(request_id):
            assert request_id not in self.answers, self.answers[request_id]
            await self._receive()
        return self.deltas[request_id][0]

    async def answer(self, request_id: str) -> dict[str, Any]:
        while request_id not in self.answers:
            await self._receive()
        return self.answers.pop(request_id)

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return await self.answer(await self.send(method, params))


@contextlib.asynccontextmanager
async def websocket(daemon: DaemonProcess) -> AsyncIterator[Rpc]:
    async with unix_http(daemon) as http, http.ws_connect("http://sb/rpc") as ws:
        yield Rpc(ws)
