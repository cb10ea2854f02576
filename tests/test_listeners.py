"""Where and to whom the daemon listens: socket files, permissions, one daemon per socket, peers."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from pathlib import Path

import aiohttp
import pytest

from tests.support.daemon import running_daemon, short_tempdir, start_daemon

INFO = b'{"jsonrpc":"2.0","id":1,"method":"daemon.info"}'


async def info_over(path: Path) -> dict[str, object]:
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path))) as http:
        async with http.post("http://switchboard/rpc", data=INFO) as response:
            return (await response.json())["result"]  # type: ignore[no-any-return]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


async def test_socket_is_0600_in_a_0700_directory() -> None:
    with running_daemon() as daemon:
        assert mode(daemon.socket.parent) == 0o700
        assert mode(daemon.socket) == 0o600
        assert stat.S_ISSOCK(daemon.socket.lstat().st_mode)
        assert (await info_over(daemon.socket))["pid"] == daemon.proc.pid


async def test_a_loose_socket_directory_is_tightened() -> None:
    root = short_tempdir()
    (root / "run").mkdir(mode=0o755)
    (root / "run").chmod(0o755)
    with running_daemon(root=root) as daemon:
        assert mode(daemon.socket.parent) == 0o700


async def test_a_stale_socket_from_a_dead_daemon_is_replaced() -> None:
    root = short_tempdir()
    (root / "run").mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(root / "run" / "sb.sock"))
    dead.close()  # the file stays, nobody listens: what a killed daemon leaves
    with running_daemon(root=root) as daemon:
        assert (await info_over(daemon.socket))["pid"] == daemon.proc.pid


def test_a_second_daemon_on_a_live_socket_exits_with_a_clear_message() -> None:
    with running_daemon() as first:
        second = subprocess.run(
            first.proc.args,
            env=first.env,
            capture_output=True,
            text=True,  # noqa: S603
            timeout=60,
            check=False,
            cwd=Path(__file__).parents[1],
        )
        assert second.returncode == 1
        assert (
            f"another switchboard daemon (pid {first.proc.pid}) is already serving" in second.stderr
        )
        assert first.proc.poll() is None, "the first daemon must keep running"


def test_a_foreign_listener_on_the_path_is_left_alone() -> None:
    root = short_tempdir()
    (root / "run").mkdir(mode=0o700)
    other = socket.socket(socket.AF_UNIX)
    other.bind(str(root / "run" / "sb.sock"))
    other.listen()
    try:
        daemon = start_daemon(root=root, wait=False)
        try:
            assert daemon.proc.wait(timeout=60) == 1
            assert "something is already listening" in daemon.log_text()
            assert (root / "run" / "sb.sock").exists()
        finally:
            daemon.close()
    finally:
        other.close()


def test_a_regular_file_on_the_socket_path_is_not_deleted() -> None:
    root = short_tempdir()
    (root / "run").mkdir(mode=0o700)
    (root / "run" / "sb.sock").write_text("precious")
    daemon = start_daemon(root=root, wait=False)
    try:
        assert daemon.proc.wait(timeout=60) == 1
        assert "is not a socket" in daemon.log_text()
        assert (root / "run" / "sb.sock").read_text() == "precious"
    finally:
        daemon.close()


async def test_a_peer_whose_uid_is_not_allowed_is_disconnected_unanswered() -> None:
    with running_daemon(config="[daemon]\nallowed_uids = [65534]\n") as daemon:
        with pytest.raises(aiohttp.ClientError):
            await info_over(daemon.socket)
        assert '"event":"peer_refused"' in daemon.log_text()
        assert f'"uid":{os.getuid()}' in daemon.log_text()


async def test_the_socket_file_is_removed_on_clean_exit() -> None:
    with running_daemon() as daemon:
        assert daemon.stop() == 0
        assert not daemon.socket.exists()
