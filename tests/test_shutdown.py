"""SIGTERM: stop taking work, let in-flight requests finish (bounded), tell systemd, exit 0."""

from __future__ import annotations

import asyncio
import signal

import aiohttp

from tests.support.daemon import DaemonProcess, running_daemon


def call(method: str, params: object, request_id: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def unix_session(daemon: DaemonProcess) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.UnixConnector(path=str(daemon.socket)), base_url="http://sb"
    )


async def sigterm_and_wait_for_drain(daemon: DaemonProcess) -> None:
    daemon.proc.send_signal(signal.SIGTERM)
    await asyncio.to_thread(daemon.read_notifications, "STOPPING=1")


async def test_in_flight_requests_finish_before_exit() -> None:
    with running_daemon(harness=True) as daemon:
        async with (
            unix_session(daemon) as http,
            http.ws_connect("/rpc") as ws,
            http.ws_connect("/rpc") as watcher,
        ):
            await ws.send_json(call("test.sleep", {"ms": 700}, "ws"))
            posted = asyncio.create_task(
                http.post("/rpc", json=call("test.sleep", {"ms": 700}, "http"))
            )
            await watcher.send_json(call("test.wait_started", {"count": 2}, "started"))
            assert (await watcher.receive_json())["id"] == "started"
            await sigterm_and_wait_for_drain(daemon)
            assert await ws.receive_json() == {
                "jsonrpc": "2.0",
                "result": {"slept": 700},
                "id": "ws",
            }
            response = await posted
            assert (await response.json())["result"] == {"slept": 700}
            closing = await ws.receive()
            assert (closing.type, closing.data) == (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSCloseCode.GOING_AWAY,
            )
        assert await asyncio.to_thread(daemon.proc.wait, 30) == 0


async def test_new_requests_during_the_drain_are_refused_with_shutting_down() -> None:
    with running_daemon(harness=True) as daemon:
        async with unix_session(daemon) as http, http.ws_connect("/rpc") as ws:
            await ws.send_json(call("test.sleep", {"ms": 1500}, "busy"))
            await ws.send_json(call("test.wait_started", {"count": 1}, "started"))
            assert (await ws.receive_json())["id"] == "started"
            await sigterm_and_wait_for_drain(daemon)
            await ws.send_json(call("daemon.info", {}, "late"))
            late = await ws.receive_json()
            assert (late["id"], late["error"]["code"]) == ("late", -32002)
            assert (await ws.receive_json())["id"] == "busy"
        assert await asyncio.to_thread(daemon.proc.wait, 30) == 0


async def test_the_drain_is_bounded_by_drain_timeout() -> None:
    with running_daemon(harness=True, config="[daemon]\ndrain_timeout_s = 0.3\n") as daemon:
        async with unix_session(daemon) as http, http.ws_connect("/rpc") as ws:
            await ws.send_json(call("test.sleep", {"ms": 600_000}, "forever"))
            await ws.send_json(call("test.wait_started", {"count": 1}, "started"))
            assert (await ws.receive_json())["id"] == "started"
            await sigterm_and_wait_for_drain(daemon)
            assert (await ws.receive()).type == aiohttp.WSMsgType.CLOSE
        assert await asyncio.to_thread(daemon.proc.wait, 30) == 0
        assert not daemon.socket.exists()
