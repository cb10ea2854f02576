"""The optional loopback TCP listener: off by default, bearer token, loopback Host, no web pages."""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator

import aiohttp
import pytest

from tests.support.daemon import DaemonProcess, running_daemon

INFO = {"jsonrpc": "2.0", "id": 1, "method": "daemon.info"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def tcp_daemon() -> Iterator[tuple[DaemonProcess, str, str]]:
    port = free_port()
    with running_daemon(config=f'[daemon]\ntcp = "127.0.0.1:{port}"\n') as daemon:
        token = (daemon.state_dir / "tcp-token").read_text().strip()
        yield daemon, f"http://127.0.0.1:{port}", token


async def post(url: str, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/rpc", json=INFO, headers=headers) as response:
            return response.status, await response.json()


async def test_tcp_is_off_by_default(shared_daemon: DaemonProcess) -> None:
    async with aiohttp.ClientSession(
        connector=aiohttp.UnixConnector(path=str(shared_daemon.socket))
    ) as http:
        async with http.post("http://switchboard/rpc", json=INFO) as response:
            info = (await response.json())["result"]
    assert [listener["kind"] for listener in info["listeners"]] == ["unix"]


def test_the_token_file_is_private(tcp_daemon: tuple[DaemonProcess, str, str]) -> None:
    daemon, _url, token = tcp_daemon
    assert stat.S_IMODE((daemon.state_dir / "tcp-token").stat().st_mode) == 0o600
    assert len(token) >= 32


async def test_a_request_with_the_token_is_served(
    tcp_daemon: tuple[DaemonProcess, str, str],
) -> None:
    _daemon, url, token = tcp_daemon
    status, answer = await post(url, {"Authorization": f"Bearer {token}"})
    assert status == 200
    kinds = {listener["kind"]: listener for listener in answer["result"]["listeners"]}  # type: ignore[index]
    assert kinds["tcp"]["auth"] == "bearer"
    assert kinds["tcp"]["address"] == url.removeprefix("http://")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer not-the-token"}, 401),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
        ({"Host": "evil.example:80", "Authorization": "Bearer {token}"}, 403),
        ({"Origin": "https://evil.example", "Authorization": "Bearer {token}"}, 403),
    ],
)
async def test_requests_without_the_token_or_from_the_web_are_refused(
    tcp_daemon: tuple[DaemonProcess, str, str], headers: dict[str, str], status: int
) -> None:
    daemon, url, token = tcp_daemon
    sent = {k: v.format(token=token) for k, v in headers.items()}
    got_status, answer = await post(url, sent)
    assert got_status == status
    assert answer["error"]["code"] == -32005  # type: ignore[index]
    assert "result" not in answer
    assert token not in str(answer)


async def test_websocket_over_tcp_needs_the_token_too(
    tcp_daemon: tuple[DaemonProcess, str, str],
) -> None:
    _daemon, url, token = tcp_daemon
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(f"{url}/rpc")
        async with http.ws_connect(
            f"{url}/rpc", headers={"Authorization": f"Bearer {token}"}
        ) as ws:
            await ws.send_json(INFO)
            assert (await ws.receive_json())["result"]["name"] == "switchboard"


def test_the_token_never_reaches_the_log(tcp_daemon: tuple[DaemonProcess, str, str]) -> None:
    daemon, _url, token = tcp_daemon
    assert '"event":"tcp_request_refused"' in daemon.log_text()
    assert token not in daemon.log_text()
