"""Start a server (the daemon or the baseline) as a child process pinned to one CPU.

Both servers are launched the same way: ``python -m <module> serve --socket PATH`` in a
private sandbox (XDG dirs under a fresh /tmp directory), with a ``NOTIFY_SOCKET`` on which
they send ``READY=1`` once serving, like systemd's ``Type=notify``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from tests.support.daemon import isolated_env

REPO = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 30.0
PROBLEM_LEVELS = frozenset({"warning", "error", "critical", "exception"})
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def inherited_affinity(cpu: int | None) -> Iterator[None]:
    """Pin this process to ``cpu`` for the block, so that a child forked in it inherits the pin."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def sandbox_env(root: Path) -> dict[str, str]:
    """The tests' isolated environment: XDG dirs under ``root``, no provider keys, no systemd."""
    return isolated_env(root)


@dataclass
class Server:
    """A running server child, its sandbox and the time it was started (perf_counter)."""

    name: str
    proc: subprocess.Popen[bytes]
    root: Path
    socket_path: Path
    notify: socket.socket
    started_at: float

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.proc.pid

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Block until ``READY=1`` arrives; returns the perf_counter time it was received."""
        deadline = time.perf_counter() + timeout
        self.notify.settimeout(0.05)
        while True:
            try:
                fields = self.notify.recv(4096).decode().splitlines()
            except TimeoutError:
                self._check_alive()
                if time.perf_counter() > deadline:
                    message = f"{self.name}: no READY=1 in {timeout} s\n{self.log()}"
                    raise TimeoutError(message) from None
                continue
            if "READY=1" in fields:
                return time.perf_counter()

    def _check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.log()}")

    def rss_mb(self) -> float:
        """Resident set size (VmRSS) in MB of 10^6 bytes."""
        return rss_mb(self.pid)

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        return (self.root / "server.log").read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; a server that does not exit in time is killed (code -9)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def close(self) -> None:
        """Stop the child if needed and remove the sandbox."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.notify.close()
        shutil.rmtree(self.root, ignore_errors=True)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of process ``pid`` from /proc (VmRSS: resident now; VmHWM: its peak),
    in MB of 10^6 bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no {field} for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by process ``pid``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process descended from it (a server may run workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # it ended meanwhile
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo += children.get(tree[-1], [])
    return tree


def tree_cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time so far of the processes ``pids`` that still run."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def cpu_busy_seconds(cpus: Iterable[int]) -> dict[int, float]:
    """Per CPU: time spent busy (not idle, not iowait) since boot, by every process."""
    wanted = {f"cpu{n}": n for n in cpus}
    busy = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *ticks = line.split()
        if name in wanted:
            values = [int(t) for t in ticks]
            busy[wanted[name]] = (sum(values[:8]) - values[3] - values[4]) / _CLOCK_TICKS
    return busy


def start_server(
    name: str,
    module: str,
    cpu: int | None,
    args: Sequence[str] = (),
    runner: Sequence[str] = (),
) -> Server:
    """Spawn ``python -m module serve --socket PATH [args]`` pinned to ``cpu``; does not wait
    for readiness. ``runner`` goes before the interpreter (``valgrind --tool=callgrind``)."""
    root = Path(tempfile.mkdtemp(prefix="sb-bench-", dir="/tmp"))  # noqa: S108 - short paths
    env = sandbox_env(root)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(root / "notify.sock"))
    env["NOTIFY_SOCKET"] = str(root / "notify.sock")
    sock_path = root / "run" / "sb.sock"
    command = [*runner, sys.executable, "-m", module, "serve", "--socket", str(sock_path), *args]
    with (root / "server.log").open("wb") as log, inherited_affinity(cpu):
        started_at = time.perf_counter()
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    return Server(name, proc, root, sock_path, notify, started_at)


def log_problems(text: str) -> list[str]:
    """The lines of a server log at warning level or worse, and any line that is not JSON."""
    problems = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            problems.append(line)
            continue
        if not isinstance(record, dict) or record.get("level") in PROBLEM_LEVELS:
            problems.append(line)
    return problems
