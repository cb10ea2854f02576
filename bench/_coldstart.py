"""Cold start: from spawning the server process to its first answer, measured two ways.

- *ready*: wait for the ``READY=1`` datagram, then send one ``daemon.info`` request; gives
  both "to READY" and "to first answer".
- *polling*: ignore readiness and try to connect in a tight loop, then send the request.
  The loop pauses :data:`POLL_PAUSE_S` between tries: this process runs on the other CPU,
  and a pure spin there pushes every other process on the machine onto the server's CPU.

A plain blocking socket speaks HTTP here, so no client set-up cost lands in the figure.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from bench._spawn import Server, log_problems, start_server

TIMEOUT_S = 30.0
POLL_PAUSE_S = 0.0002
_BODY = b'{"jsonrpc":"2.0","id":1,"method":"daemon.info"}'
_REQUEST = (
    b"POST /rpc HTTP/1.1\r\nHost: switchboard\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_BODY), _BODY)
)


@dataclass
class ColdStart:
    """Milliseconds per run; ``problems`` are warning/error lines the servers logged."""

    to_ready_ms: list[float] = field(default_factory=list)
    to_answer_ms: list[float] = field(default_factory=list)
    polling_ms: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @staticmethod
    def median(values: list[float]) -> float:
        """The median of ``values`` (nan when there are none)."""
        return statistics.median(values) if values else float("nan")


def exchange(sock: socket.socket) -> None:
    """Send one daemon.info over a connected socket; raise unless a 200 answer comes back."""
    sock.settimeout(TIMEOUT_S)
    sock.sendall(_REQUEST)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200") or b'"result"' not in body:
        raise RuntimeError(f"unexpected answer: {raw[:300]!r}")


def connect_polling(server: Server) -> socket.socket:
    """Connect as soon as the server listens, retrying every :data:`POLL_PAUSE_S`."""
    deadline = time.perf_counter() + TIMEOUT_S
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(server.socket_path))
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if server.proc.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"{server.name} never listened:\n{server.log()}") from None
            time.sleep(POLL_PAUSE_S)
            continue
        return sock


def one_run(name: str, module: str, cpu: int | None, result: ColdStart, *, poll: bool) -> None:
    """Start the server once, time it, stop it, and add the figures to ``result``."""
    server = start_server(name, module, cpu)
    try:
        if poll:
            with connect_polling(server) as sock:
                exchange(sock)
            result.polling_ms.append(1000 * (time.perf_counter() - server.started_at))
        else:
            ready = server.wait_ready()
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(str(server.socket_path))
                exchange(sock)
            result.to_answer_ms.append(1000 * (time.perf_counter() - server.started_at))
            result.to_ready_ms.append(1000 * (ready - server.started_at))
        code = server.stop()
        result.problems += log_problems(server.log())
        if code != 0:
            result.problems.append(f"exited {code} after SIGTERM")
    finally:
        server.close()


def measure_cold_starts(
    servers: Mapping[str, str], cpu: int | None, runs: int
) -> dict[str, ColdStart]:
    """Per server (name -> module): one unmeasured start (bytecode and page cache), then
    ``runs`` of each kind; the servers and kinds take turns so that noise hits them alike."""
    results = {name: ColdStart() for name in servers}
    for name, module in servers.items():
        one_run(name, module, cpu, ColdStart(), poll=False)
    for _ in range(runs):
        for poll in (False, True):
            for name, module in servers.items():
                one_run(name, module, cpu, results[name], poll=poll)
    return results
