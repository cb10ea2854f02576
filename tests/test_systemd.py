"""Running under systemd: the installed units, socket activation and the notify protocol.

The units are checked as text (what they promise), by ``systemd-analyze verify`` (what systemd
makes of them), and the daemon is run the way systemd runs it: started by its first
connection on a socket it did not bind, and watched through ``NOTIFY_SOCKET``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from daemon.config import FIELDS_BY_KEY, runtime_dir
from tests.support.daemon import (
    READY_TIMEOUT_S,
    REPO,
    DaemonProcess,
    isolated_env,
    running_daemon,
    short_tempdir,
)

UNITS = ("switchboard.socket", "switchboard.service")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")

Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """A unit file as ``{section: {key: [values in order]}}`` (keys may repeat in systemd)."""
    sections: Unit = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert current is not None, f"line {number} comes before any [section]: {raw!r}"
        assert sep, f"line {number} is not a unit setting: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def setting(unit: Unit, section: str, key: str) -> str:
    """The value systemd uses for a single-valued ``key``: the last one given."""
    assert key in unit.get(section, {}), f"[{section}] has no {key}="
    return unit[section][key][-1]


def seconds(span: str) -> float:
    """A systemd time span such as ``30s``, ``2min`` or ``500ms``, in seconds."""
    units = {"": 1.0, "s": 1.0, "sec": 1.0, "ms": 1e-3, "min": 60.0, "m": 60.0, "h": 3600.0}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]*)", span)
    assert match, f"not a time span: {span!r}"
    assert match[2] in units, f"a time unit this test does not know: {span!r}"
    return float(match[1]) * units[match[2]]


@pytest.fixture
def installed_units(tmp_path: Path) -> Path:
    """The directory ``switchboard install-systemd --dir`` wrote the units into."""
    target = tmp_path / "units"
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "daemon", "install-systemd", "--dir", str(target)],
        cwd=REPO,
        env=isolated_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return target


# --- install-systemd ----------------------------------------------------------------------


def test_install_systemd_writes_both_units_changing_only_exec_start(
    installed_units: Path,
) -> None:
    assert sorted(p.name for p in installed_units.iterdir()) == sorted(UNITS)
    for name in UNITS:
        template = (REPO / "systemd" / name).read_text().splitlines()
        installed = (installed_units / name).read_text().splitlines()
        changed = [(a, b) for a, b in zip(template, installed, strict=True) if a != b]
        assert all(a.startswith("ExecStart=") for a, _ in changed), changed


def test_installed_service_runs_this_interpreter_as_a_notify_service(
    installed_units: Path,
) -> None:
    service = parse_unit((installed_units / "switchboard.service").read_text())

    assert shlex.split(setting(service, "Service", "ExecStart")) == [
        sys.executable,
        "-m",
        "daemon",
        "serve",
    ]
    assert setting(service, "Service", "Type") == "notify"
    assert setting(service, "Service", "NotifyAccess") == "main"
    assert seconds(setting(service, "Service", "WatchdogSec")) > 0
    assert setting(service, "Service", "Restart") == "on-failure"
    assert setting(service, "Unit", "Requires") == "switchboard.socket"
    assert setting(service, "Unit", "After") == "switchboard.socket"


def test_installed_service_gives_the_daemon_private_directories(
    installed_units: Path,
) -> None:
    service = parse_unit((installed_units / "switchboard.service").read_text())

    assert setting(service, "Service", "StateDirectory") == "switchboard"
    assert setting(service, "Service", "StateDirectoryMode") == "0700"
    assert setting(service, "Service", "RuntimeDirectory") == "switchboard"
    assert setting(service, "Service", "RuntimeDirectoryMode") == "0700"
    # The socket unit's file lives in the runtime directory: stopping the service keeps it.
    assert setting(service, "Service", "RuntimeDirectoryPreserve") == "yes"
    assert setting(service, "Service", "UMask") == "0077"


def test_installed_service_is_hardened(installed_units: Path) -> None:
    service = parse_unit((installed_units / "switchboard.service").read_text())

    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "read-only",  # the config is read from ~/.config
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "ProtectClock": "yes",
        "ProtectHostname": "yes",
        "LockPersonality": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "SystemCallArchitectures": "native",
        "SystemCallFilter": "@system-service",
        "CapabilityBoundingSet": "",
    }
    assert {key: setting(service, "Service", key) for key in expected} == expected
    families = setting(service, "Service", "RestrictAddressFamilies").split()
    assert "AF_UNIX" in families
    assert "AF_PACKET" not in families


def test_systemd_waits_longer_than_the_daemon_drains(installed_units: Path) -> None:
    service = parse_unit((installed_units / "switchboard.service").read_text())

    drain_s = FIELDS_BY_KEY["drain_timeout_s"].default()
    assert seconds(setting(service, "Service", "TimeoutStopSec")) > drain_s


def test_socket_unit_listens_where_clients_look_by_default(
    installed_units: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = parse_unit((installed_units / "switchboard.socket").read_text())

    listen = setting(sock, "Socket", "ListenStream")
    assert setting(sock, "Socket", "SocketMode") == "0600"
    assert setting(sock, "Socket", "DirectoryMode") == "0700"
    assert setting(sock, "Install", "WantedBy") == "sockets.target"
    # %t is $XDG_RUNTIME_DIR for a user unit; the client's default socket is beneath it too.
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert Path(listen.replace("%t", str(tmp_path))) == runtime_dir() / "switchboard.sock"


# --- systemd-analyze verify ---------------------------------------------------------------


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_the_installed_units(
    installed_units: Path, tmp_path: Path
) -> None:
    # --user: these are user units (%t, %h, default.target), so the user manager judges them;
    # it needs an XDG_RUNTIME_DIR to resolve %t. --man=no: whether the Documentation= man pages
    # are installed says nothing about the units. verify exits 0 on "Unknown key ..., ignoring"
    # and bad values alike, so any line naming our units counts as a failure too.
    assert SYSTEMD_ANALYZE is not None
    env = isolated_env(tmp_path)  # XDG_RUNTIME_DIR: a fresh 0700 directory
    result = subprocess.run(  # noqa: S603 - a fixed tool on our own files
        [
            SYSTEMD_ANALYZE,
            "--user",
            "--man=no",
            "verify",
            *(str(installed_units / name) for name in UNITS),
        ],
        env={**env, "SYSTEMD_COLORS": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    output = (result.stdout + result.stderr).splitlines()
    complaints = [line for line in output if "switchboard" in line]
    assert result.returncode == 0, "\n".join(output)
    assert complaints == []


# --- socket activation --------------------------------------------------------------------


async def call(http: aiohttp.ClientSession, method: str, request_id: int = 1) -> Any:
    """One JSON-RPC request over HTTP; returns the result, failing on an error answer."""
    body = {"jsonrpc": "2.0", "id": request_id, "method": method}
    async with http.post("http://switchboard/rpc", data=orjson.dumps(body)) as response:
        answer = orjson.loads(await response.read())
    assert "result" in answer, answer
    return answer["result"]


class Activator:
    """``systemd-socket-activate`` with the daemon as its command, and its collected stderr."""

    def __init__(self, proc: asyncio.subprocess.Process, socket_path: Path) -> None:
        self.proc = proc
        self.socket = socket_path
        self.stderr: list[str] = []
        self._drain: asyncio.Task[None] | None = None

    async def wait_listening(self) -> None:
        """Read stderr up to "Listening on ...": from then on, a connection starts the daemon."""
        assert self.proc.stderr is not None
        async with asyncio.timeout(READY_TIMEOUT_S):
            while not any(line.startswith("Listening on") for line in self.stderr):
                line = await self.proc.stderr.readline()
                assert line, f"systemd-socket-activate exited: {self.log()}"
                self.stderr.append(line.decode(errors="replace").rstrip("\n"))
        self._drain = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace").rstrip("\n"))

    def log(self) -> str:
        return "\n".join(self.stderr)

    async def finish(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()
        if self._drain is not None:
            await self._drain


@pytest.fixture
async def activator() -> AsyncIterator[Activator]:
    """The daemon's command line behind ``systemd-socket-activate -l``, not yet started."""
    assert SOCKET_ACTIVATE is not None
    root = short_tempdir()
    socket_path = root / "sb.sock"
    env = isolated_env(root)
    # systemd-socket-activate hands its child only LISTEN_* and the variables named with -E.
    passed = [f"--setenv={name}" for name in sorted(env)]
    proc = await asyncio.create_subprocess_exec(
        SOCKET_ACTIVATE,
        "--listen",
        str(socket_path),
        *passed,
        sys.executable,
        "-m",
        "daemon",
        "serve",
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    activated = Activator(proc, socket_path)
    try:
        await activated.wait_listening()
        yield activated
    finally:
        await activated.finish()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(SOCKET_ACTIVATE is None, reason="systemd-socket-activate is not installed")
async def test_first_connection_starts_the_daemon_on_the_passed_socket(
    activator: Activator, capsys: pytest.CaptureFixture[str]
) -> None:
    # force_close: every request opens a new connection, so the second one proves the daemon
    # keeps accepting on the passed socket, not just the connection that woke it.
    connector = aiohttp.UnixConnector(path=str(activator.socket), force_close=True)
    # A daemon that ignored the passed socket would leave the first connection hanging.
    patience = aiohttp.ClientTimeout(total=READY_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=patience) as http:
        started = time.perf_counter()
        first = await call(http, "daemon.info", 1)
        latency_s = time.perf_counter() - started
        second = await call(http, "daemon.info", 2)

    with capsys.disabled():
        print(
            f"\n  socket activation: first daemon.info answered {latency_s * 1000:.0f} ms "
            "after connect (includes the daemon's cold start)"
        )
    assert first["listeners"] == [
        {
            "kind": "unix",
            "address": str(activator.socket),
            "auth": "peer-uid",
            "activation": "systemd",
        }
    ]
    # Without --accept the activator execs the daemon in its own process: LISTEN_PID matches.
    assert first["pid"] == activator.proc.pid
    assert second["pid"] == first["pid"]
    assert second["listeners"] == first["listeners"]

    os.killpg(activator.proc.pid, signal.SIGTERM)
    async with asyncio.timeout(30):
        code = await activator.proc.wait()
    assert code == 0, activator.log()


# --- sd_notify ----------------------------------------------------------------------------


def receive_until(
    daemon: DaemonProcess, done: Callable[[list[str]], bool], timeout: float = READY_TIMEOUT_S
) -> list[str]:
    """Collect sd_notify fields into ``daemon.states`` until ``done(states)``."""
    daemon.notify.settimeout(0.25)
    deadline = time.monotonic() + timeout
    while not done(daemon.states):
        try:
            daemon.states.extend(daemon.notify.recv(4096).decode().splitlines())
        except TimeoutError:
            assert daemon.proc.poll() is None, f"daemon exited:\n{daemon.log_text()}"
            assert time.monotonic() < deadline, f"gave up at {daemon.states}:\n{daemon.log_text()}"
    return daemon.states


def test_notify_protocol_ready_watchdog_stopping() -> None:
    with running_daemon(env={"WATCHDOG_USEC": "200000"}) as daemon:
        ready_at = daemon.states.index("READY=1")
        status = [s for s in daemon.states if s.startswith("STATUS=")]
        assert status, daemon.states
        assert str(daemon.socket) in status[-1]

        receive_until(daemon, lambda states: states[ready_at:].count("WATCHDOG=1") >= 2)
        assert "STOPPING=1" not in daemon.states

        daemon.proc.send_signal(signal.SIGTERM)  # once: a second SIGTERM while draining kills
        daemon.read_notifications("STOPPING=1")
        assert daemon.proc.wait(timeout=30) == 0, daemon.log_text()
