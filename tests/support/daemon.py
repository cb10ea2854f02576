"""Run the real daemon as a child process, the way a user or systemd would.

Readiness is exact, not guessed: the child gets a ``NOTIFY_SOCKET`` and the fixture waits for
its ``READY=1`` datagram (the same message systemd waits for), or for its exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from socket import AF_UNIX, SOCK_DGRAM
from socket import socket as Socket

from daemon.providers.catalog import PROVIDERS

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 30.0


def run_python(
    *args: str, env: Mapping[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` from the repo root, as a user would run it; output captured as text."""
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def short_tempdir() -> Path:
    """A fresh directory under /tmp whose socket paths stay under the 108-byte limit."""
    return Path(tempfile.mkdtemp(prefix="sb-", dir="/tmp"))  # noqa: S108


# The daemon's own variables, systemd's, and the cloud credential chains the adapters read.
_NOT_INHERITED = ("SWITCHBOARD_", "LISTEN_", "NOTIFY_SOCKET", "WATCHDOG_", "AWS_", "GOOGLE_")
_PROVIDER_KEYS = frozenset(key for row in PROVIDERS for key in row.env_keys)


def isolated_env(root: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment whose XDG dirs all live under ``root``; no provider keys, no systemd.

    A developer's real keys must never reach a daemon under test: one would send them to the
    real provider (a test naming a catalog provider without a base URL of its own).
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_NOT_INHERITED) and k not in _PROVIDER_KEYS
    }
    for name in ("XDG_RUNTIME_DIR", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
        (root / name.lower()).mkdir(exist_ok=True, mode=0o700)
        env[name] = str(root / name.lower())
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


@dataclass
class DaemonProcess:
    """A daemon child process and the paths it uses."""

    proc: subprocess.Popen[bytes]
    root: Path
    socket: Path
    env: dict[str, str]
    notify: Socket
    stderr_path: Path
    states: list[str] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return Path(self.env["XDG_STATE_HOME"]) / "switchboard"

    def log_text(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def read_notifications(self, until: str, timeout: float = READY_TIMEOUT_S) -> list[str]:
        """Collect sd_notify fields until one equals ``until``; raise if the child exits first."""
        self.notify.settimeout(0.25)
        deadline = _deadline(timeout)
        while until not in self.states:
            try:
                self.states.extend(self.notify.recv(4096).decode().splitlines())
            except TimeoutError:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"daemon exited {self.proc.returncode}:\n{self.log_text()}"
                    ) from None
                if _now() > deadline:
                    raise TimeoutError(f"no {until} from the daemon:\n{self.log_text()}") from None
        return self.states

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` and wait for the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"the daemon did not exit {timeout:g}s after signal {sig}:\n{self.log_text()}"
            ) from None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.notify.close()
        shutil.rmtree(self.root, ignore_errors=True)


def _now() -> float:
    import time

    return time.monotonic()


def _deadline(timeout: float) -> float:
    return _now() + timeout


def start_daemon(
    *,
    config: str | None = None,
    harness: bool = False,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    user: int | None = None,
    wait: bool = True,
    root: Path | None = None,
) -> DaemonProcess:
    """Start ``switchboard serve`` (or the harness with test methods) in a private sandbox."""
    root = root or short_tempdir()
    sock_path = root / "run" / "sb.sock"
    full_env = isolated_env(root, env)
    notify = Socket(AF_UNIX, SOCK_DGRAM)
    notify.bind(str(root / "notify.sock"))
    full_env["NOTIFY_SOCKET"] = str(root / "notify.sock")
    command = [sys.executable, "-m", "tests.support.harness" if harness else "daemon", "serve"]
    command += ["--socket", str(sock_path), *args]
    if config is not None:
        (root / "config.toml").write_text(config)
        command += ["--config", str(root / "config.toml")]
    if user is not None:
        os.chown(root, user, -1)
        os.chown(root / "notify.sock", user, -1)
        for sub in root.iterdir():
            os.chown(sub, user, -1)
    stderr_path = root / "daemon.log"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command,
            cwd=REPO,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            user=user,
        )
    daemon = DaemonProcess(proc, root, sock_path, full_env, notify, stderr_path)
    if wait:
        try:
            daemon.read_notifications("READY=1")
        except BaseException:
            daemon.close()
            raise
    return daemon


@contextlib.contextmanager
def serving_daemon(**kwargs: object) -> Iterator[DaemonProcess]:
    """``running_daemon`` for fixtures: on exit it must stop cleanly (SIGTERM, exit 0)."""
    with running_daemon(**kwargs) as daemon:
        yield daemon
        assert daemon.stop() == 0


@contextlib.contextmanager
def running_daemon(**kwargs: object) -> Iterator[DaemonProcess]:
    """``start_daemon`` as a context manager that always cleans up."""
    daemon = start_daemon(**kwargs)  # type: ignore[arg-type]
    try:
        yield daemon
    finally:
        daemon.close()
