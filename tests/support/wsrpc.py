"""JSON-RPC over one WebSocket to the daemon, for tests that watch chat.delta notifications."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from tests.support.daemon import DaemonProcess

_ids = itertools.count(1)


def unix_http(daemon: DaemonProcess) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(daemon.socket)))


def sse_data(body: bytes) -> list[Any]:
    """The JSON payloads of an SSE body's ``data:`` lines (``[DONE]`` left out)."""
    lines = [line[6:] for line in body.decode().splitlines() if line.startswith("data: ")]
    return [orjson.loads(line) for line in lines if line != "[DONE]"]


@dataclass(frozen=True)
class OpenAiRound:
    """One model asked on ``/v1/chat/completions`` streamed, then not, then ``/v1/models``."""

    chunks: list[Any]
    whole: dict[str, Any]
    listed: list[str]

    def streamed_pieces(self) -> list[str]:
        """The content of each streamed chunk that carried some."""
        deltas = [c["choices"][0]["delta"].get("content") for c in self.chunks if c["choices"]]
        return [piece for piece in deltas if piece]


async def openai_round(
    daemon: DaemonProcess, model: str, messages: list[dict[str, Any]]
) -> OpenAiRound:
    """Ask ``model`` through the daemon's OpenAI endpoint as a client would, both ways."""
    body = {"model": model, "messages": messages, "stream": True}
    async with unix_http(daemon) as http:
        async with http.post("http://sb/v1/chat/completions", json=body) as response:
            assert response.status == 200
            chunks = sse_data(await response.read())
        async with http.post("http://sb/v1/chat/completions", json={**body, "stream": False}) as r:
            whole = await r.json()
        async with http.get("http://sb/v1/models") as r:
            listed = [m["id"] for m in (await r.json())["data"]]
    return OpenAiRound(chunks, whole, listed)


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
