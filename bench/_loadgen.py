"""The load generator: its own process, pinned to its own CPU, driving the servers.

``python -m bench._loadgen --target NAME=PID:SOCKET ... --profile JSON [--cpu N]`` runs
every phase in :data:`PHASES` against each target and prints one JSON object, target ->
phase -> :class:`PhaseResult`. Each phase warms up on its connections first, then measures
until its time or request budget runs out; with ``repeats`` > 1 the targets take turns and
the best repetition counts. The clients are aiohttp over a Unix socket.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

import aiohttp
import orjson

from bench._aio import run
from bench._model import PhaseResult, Profile, better, percentile
from bench._spawn import cpu_busy_seconds, cpu_seconds

URL = "http://switchboard/rpc"  # the host is not used over a Unix socket
METHOD = "daemon.info"
HEADERS = {"Content-Type": "application/json"}
HANG_GRACE_S = 10.0  # a phase that overruns its budget by this much has hung

Call = Callable[[int], Awaitable[bool]]  # one request with this id -> a correct answer came


def request(request_id: int) -> bytes:
    """The body of one ``daemon.info`` request."""
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": METHOD})


def is_answer(raw: bytes | str, request_id: int) -> bool:
    """Whether ``raw`` is a successful JSON-RPC answer to ``request_id``."""
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return isinstance(answer, dict) and answer.get("id") == request_id and "result" in answer


class Budget:
    """A phase's limits: a deadline and a number of requests, whichever runs out first."""

    def __init__(self, seconds: float, requests: int) -> None:
        self.deadline = time.perf_counter() + seconds
        self.left = requests

    def take(self, wanted: int = 1) -> int:
        """How many of ``wanted`` requests may still be sent (0 once over budget)."""
        if self.left <= 0 or time.perf_counter() >= self.deadline:
            return 0
        granted = min(wanted, self.left)
        self.left -= granted
        return granted


def unix_session(path: str) -> aiohttp.ClientSession:
    """One client: a session with a single keep-alive connection to the server."""
    return aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=path, limit=1))


def http_call(session: aiohttp.ClientSession) -> Call:
    """One exchange per request, so the id need not vary: always 1 (the baseline's too)."""
    body = request(1)

    async def call(_request_id: int) -> bool:
        async with session.post(URL, data=body, headers=HEADERS) as response:
            raw = await response.read()
            return response.status == 200 and is_answer(raw, 1)

    return call


def ws_call(ws: aiohttp.ClientWebSocketResponse) -> Call:
    """One request at a time on ``ws``: the next message must be its answer."""

    async def call(request_id: int) -> bool:
        await ws.send_frame(request(request_id), aiohttp.WSMsgType.TEXT)
        message = await ws.receive()
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"WebSocket closed or failed: {message.type.name}")
        return is_answer(message.data, request_id)

    return call


async def closed_loop(calls: Sequence[Call], budget: Budget) -> tuple[list[int], int]:
    """Each client sends its next request when its last is answered; latencies in ns."""
    latencies: list[int] = []
    errors = 0
    ids = itertools.count(1)

    async def client(call: Call) -> None:
        nonlocal errors
        while budget.take():
            start = time.perf_counter_ns()
            ok = await call(next(ids))
            latencies.append(time.perf_counter_ns() - start)
            errors += not ok

    await asyncio.gather(*(client(call) for call in calls))
    return latencies, errors


async def pipelined(
    ws: aiohttp.ClientWebSocketResponse, budget: Budget, window: int
) -> tuple[list[int], int]:
    """Send a window of requests back to back, then collect its answers; repeat."""
    latencies: list[int] = []
    errors = 0
    ids = itertools.count(1)
    while size := budget.take(window):
        sent_at: dict[int, int] = {}
        for request_id in itertools.islice(ids, size):
            sent_at[request_id] = time.perf_counter_ns()
            await ws.send_frame(request(request_id), aiohttp.WSMsgType.TEXT)
        for _ in range(size):
            message = await ws.receive()
            received = time.perf_counter_ns()
            if message.type is not aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"WebSocket closed or failed: {message.type.name}")
            answer = orjson.loads(message.data)
            answer_id = answer.get("id") if isinstance(answer, dict) else None
            started = sent_at.pop(answer_id, None) if isinstance(answer_id, int) else None
            if started is None or "result" not in answer:
                errors += 1
                continue
            latencies.append(received - started)
    return latencies, errors


Workload = Callable[[Budget], Awaitable[tuple[list[int], int]]]


async def measure(name: str, workload: Workload, profile: Profile, server_pid: int) -> PhaseResult:
    """Warm up, then run ``workload`` once more under the phase budget and summarise it."""
    await workload(Budget(profile.warmup_s, profile.max_requests))
    cpus = range(os.cpu_count() or 1)
    server_cpu, own_cpu = cpu_seconds(server_pid), time.process_time()
    all_busy = sum(cpu_busy_seconds(cpus).values())
    start = time.perf_counter()
    async with asyncio.timeout(profile.phase_s + HANG_GRACE_S):
        latencies, errors = await workload(Budget(profile.phase_s, profile.max_requests))
    elapsed = time.perf_counter() - start
    server_cpu = cpu_seconds(server_pid) - server_cpu
    own_cpu = time.process_time() - own_cpu
    others = sum(cpu_busy_seconds(cpus).values()) - all_busy - server_cpu - own_cpu
    latencies.sort()
    return PhaseResult(
        name=name,
        count=len(latencies),
        errors=errors,
        elapsed_s=elapsed,
        p50_ms=percentile(latencies, 50) / 1e6,
        p99_ms=percentile(latencies, 99) / 1e6,
        server_cpu_pct=100 * server_cpu / elapsed,
        client_cpu_pct=100 * own_cpu / elapsed,
        other_cpu_pct=max(0.0, 100 * others / elapsed),
    )


async def answer_size(path: str) -> int:
    """Check that the server answers ``daemon.info`` at all; the answer's size in bytes."""
    async with (
        unix_session(path) as session,
        session.post(URL, data=request(1), headers=HEADERS) as response,
    ):
        raw = await response.read()
    if response.status != 200 or not is_answer(raw, 1):
        raise RuntimeError(f"{METHOD} failed: HTTP {response.status} {raw[:300]!r}")
    return len(raw)


async def http_phase(name: str, path: str, clients: int, profile: Profile, pid: int) -> PhaseResult:
    """``clients`` keep-alive HTTP clients, each sending its next POST when answered."""
    sessions = [unix_session(path) for _ in range(clients)]
    try:
        calls = [http_call(s) for s in sessions]
        return await measure(name, lambda budget: closed_loop(calls, budget), profile, pid)
    finally:
        await asyncio.gather(*(s.close() for s in sessions))


async def ws_phase(
    name: str, path: str, clients: int, profile: Profile, pid: int, window: int = 0
) -> PhaseResult:
    """``clients`` WebSockets answering one request at a time, or one pipelining ``window``."""
    sessions = [unix_session(path) for _ in range(clients)]
    try:
        sockets = await asyncio.gather(*(s.ws_connect(URL, max_msg_size=0) for s in sessions))
        calls = [ws_call(ws) for ws in sockets]

        def workload(budget: Budget) -> Awaitable[tuple[list[int], int]]:
            if window:
                return pipelined(sockets[0], budget, window)
            return closed_loop(calls, budget)

        result = await measure(name, workload, profile, pid)
        await asyncio.gather(*(ws.close() for ws in sockets))
        return result
    finally:
        await asyncio.gather(*(s.close() for s in sessions))


PhaseRunner = Callable[[str, Profile, int], Awaitable[PhaseResult]]
PHASES: dict[str, PhaseRunner] = {
    "http_1": lambda p, prof, pid: http_phase("http_1", p, 1, prof, pid),
    "http_n": lambda p, prof, pid: http_phase("http_n", p, prof.clients, prof, pid),
    "ws_1": lambda p, prof, pid: ws_phase("ws_1", p, 1, prof, pid),
    "ws_n": lambda p, prof, pid: ws_phase("ws_n", p, prof.clients, prof, pid),
    "ws_pipelined": lambda p, prof, pid: ws_phase("ws_pipelined", p, 1, prof, pid, prof.window),
}


@dataclass(frozen=True, slots=True)
class Target:
    """A server to drive: its name in the report, its socket and its pid."""

    name: str
    socket: str
    pid: int

    @classmethod
    def parse(cls, text: str) -> Target:
        """``NAME=PID:SOCKET``, e.g. ``daemon=1234:/tmp/x/sb.sock``."""
        name, _, rest = text.partition("=")
        pid, _, path = rest.partition(":")
        return cls(name, path, int(pid))


async def run_all(targets: list[Target], profile: Profile) -> dict[str, dict[str, PhaseResult]]:
    """Every phase, each repeated on every target in turn so that noise hits them alike.

    A phase that fails is recorded with its error and the rest still run.
    """
    sizes = {t.name: await answer_size(t.socket) for t in targets}
    results: dict[str, dict[str, PhaseResult]] = {t.name: {} for t in targets}
    for name, phase in PHASES.items():
        for _ in range(profile.repeats):
            for t in targets:
                try:
                    result = replace(
                        await phase(t.socket, profile, t.pid), answer_bytes=sizes[t.name]
                    )
                except Exception as exc:
                    result = PhaseResult(name=name, failure=f"{type(exc).__name__}: {exc}")
                results[t.name][name] = better(results[t.name].get(name), result)
    return results


def main() -> None:
    """Parse the command line, pin to the CPU, run every phase, print the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench._loadgen")
    parser.add_argument(
        "--target",
        type=Target.parse,
        action="append",
        required=True,
        help="NAME=PID:SOCKET of a server to drive (repeatable)",
    )
    parser.add_argument("--profile", type=Profile.from_json, default=Profile.full())
    parser.add_argument("--cpu", type=int, help="pin this process to one CPU")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    results = run(run_all(args.target, args.profile))
    sys.stdout.buffer.write(orjson.dumps(results) + b"\n")


if __name__ == "__main__":
    main()
