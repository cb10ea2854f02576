"""Clients that misbehave get a clear answer or a clean close, and nobody else notices."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import orjson
import pytest

from tests.support.daemon import DaemonProcess, running_daemon

LIMITS = "[daemon]\nmax_body_bytes = 4096\nmax_frame_bytes = 4096\nidle_timeout_s = 0.5\n"


@pytest.fixture(scope="module")
def small_daemon() -> Iterator[DaemonProcess]:
    with running_daemon(harness=True, config=LIMITS) as daemon:
        yield daemon


@pytest.fixture
async def http(small_daemon: DaemonProcess) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.UnixConnector(path=str(small_daemon.socket))
    async with aiohttp.ClientSession(connector=connector, base_url="http://switchboard") as session:
        yield session


def call(method: str, params: object = None, request_id: object = 1) -> dict[str, object]:
    body: dict[str, object] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        body["params"] = params
    return body


async def still_serves(http: aiohttp.ClientSession) -> bool:
    async with http.post("/rpc", json=call("daemon.info")) as response:
        return (await response.json())["result"]["name"] == "switchboard"  # type: ignore[no-any-return]


async def test_an_oversized_body_gets_413_and_a_json_rpc_error(http: aiohttp.ClientSession) -> None:
    body = orjson.dumps(call("update", ["x" * 8000]))
    async with http.post("/rpc", data=body) as response:
        assert response.status == 413
        answer = await response.json()
    assert answer["error"]["code"] == -32001
    assert await still_serves(http)


async def test_an_oversized_chunked_body_is_refused_too(http: aiohttp.ClientSession) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    async with http.post("/rpc", data=chunks()) as response:
        assert response.status == 413
        assert (await response.json())["error"]["code"] == -32001
    assert await still_serves(http)


async def test_an_oversized_websocket_message_closes_with_1009(http: aiohttp.ClientSession) -> None:
    async with http.ws_connect("/rpc") as ws:
        await ws.send_str(orjson.dumps(call("update", ["x" * 8000])).decode())
        message = await ws.receive()
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert await still_serves(http)


async def test_binary_garbage_on_a_websocket_is_a_parse_error(http: aiohttp.ClientSession) -> None:
    async with http.ws_connect("/rpc") as ws:
        await ws.send_bytes(b"\x00\xff\x13garbage")
        assert (await ws.receive_json())["error"]["code"] == -32700
        await ws.send_bytes(orjson.dumps(call("daemon.info")))
        assert (await ws.receive_json())["result"]["name"] == "switchboard"


async def test_a_silent_connection_is_closed_after_the_idle_timeout(
    small_daemon: DaemonProcess,
) -> None:
    reader, writer = await asyncio.open_unix_connection(str(small_daemon.socket))
    try:
        assert await asyncio.wait_for(reader.read(), timeout=20) == b""
    finally:
        writer.close()


async def test_a_client_that_hangs_up_mid_request_cancels_it(
    http: aiohttp.ClientSession, small_daemon: DaemonProcess
) -> None:
    async with http.ws_connect("/rpc") as watcher:
        await watcher.send_json(call("test.wait_cancelled", {"count": 1}, "watch"))
        raw = socket.socket(socket.AF_UNIX)
        raw.connect(str(small_daemon.socket))
        body = orjson.dumps(call("test.sleep", {"ms": 60_000}))
        raw.sendall(
            b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await watcher.send_json(call("test.wait_started", {"count": 1}, "started"))
        assert (await watcher.receive_json())["id"] == "started"
        raw.close()
        answer = await asyncio.wait_for(watcher.receive_json(), timeout=20)
        assert answer["id"] == "watch"
        assert answer["result"] >= 1


async def test_a_websocket_that_closes_mid_request_cancels_it(http: aiohttp.ClientSession) -> None:
    async with http.ws_connect("/rpc") as watcher:
        async with http.ws_connect("/rpc") as leaver:
            await watcher.send_json(call("test.wait_cancelled", {"count": 2}, "watch"))
            await leaver.send_json(call("test.sleep", {"ms": 60_000}))
            await watcher.send_json(call("test.wait_started", {"count": 2}, "started"))
            assert (await watcher.receive_json())["id"] == "started"
        answer = await asyncio.wait_for(watcher.receive_json(), timeout=20)
        assert (answer["id"], answer["result"]) == ("watch", 2)


async def test_websocket_answers_come_as_they_finish(http: aiohttp.ClientSession) -> None:
    async with http.ws_connect("/rpc") as ws:
        await ws.send_json(call("test.sleep", {"ms": 400}, "slow"))
        await ws.send_json(call("daemon.info", None, "fast"))
        first, second = await ws.receive_json(), await ws.receive_json()
        assert (first["id"], second["id"]) == ("fast", "slow")
        assert second["result"] == {"slept": 400}


async def test_notifications_reach_the_client_before_the_answer(
    http: aiohttp.ClientSession,
) -> None:
    async with http.ws_connect("/rpc") as ws:
        await ws.send_json(call("test.notify", {"count": 3, "requestId": 9}, 9))
        messages = [await ws.receive_json() for _ in range(4)]
    assert [m.get("method") for m in messages] == ["test.tick"] * 3 + [None]
    assert [m["params"]["index"] for m in messages[:3]] == [0, 1, 2]
    assert messages[3] == {"jsonrpc": "2.0", "result": 3, "id": 9}


async def test_many_requests_in_flight_on_one_websocket(http: aiohttp.ClientSession) -> None:
    async with http.ws_connect("/rpc") as ws:
        for index in range(500):
            await ws.send_json(call("subtract", [index, 1], index))
        answers = {}
        for _ in range(500):
            answer = await ws.receive_json()
            answers[answer["id"]] = answer["result"]
    assert answers == {index: index - 1 for index in range(500)}
