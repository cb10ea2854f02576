"""The chat load generator: its own process, on the fake's CPU, driving every endpoint in turn.

``python -m bench._chatload PLAN`` (PLAN: the JSON of :class:`Plan`) runs, for every
concurrency of the profile and both modes (``json``: one answer; ``stream``: a 20-chunk SSE
stream, or ``chat.delta`` notifications on the WebSocket), one phase per endpoint, the
endpoints taking turns, each repeated and the best kept. An endpoint speaks one of the /v1
wires (:mod:`bench._wires`: the request it sends and how its answer is checked). A phase
warms up on its own connections, then runs closed-loop clients (each sends its next request
when its last answer is complete) until the time or request budget runs out. Then, if asked,
it holds many slow streams open through one endpoint and samples that gateway's memory
(:mod:`bench._slowstreams`). It prints one JSON object:
``{"phases": [PhaseResult...], "open": [OpenStreams...]}``.

The clients are :mod:`bench._wire`'s, so that this process takes as little as possible of
the CPU it shares with the fake upstream.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from bench._aio import run
from bench._chatmodel import (
    ChatProfile,
    Endpoint,
    Mode,
    PhaseResult,
    Samples,
    from_json,
)
from bench._loadgen import HANG_GRACE_S, Budget
from bench._model import better, percentile
from bench._slowstreams import hold_open
from bench._spawn import (
    cpu_busy_seconds,
    cpu_seconds,
    process_tree,
    rss_mb,
    tree_cpu_seconds,
)
from bench._wire import CONNECT_TIMEOUT_S, Address, HttpClient, ProtocolError, WsClient
from bench._wires import WIRES, ApiWire, check_answer, expected_text, http_post

# One request: None when the answer was right, else what was wrong; first and last byte times.
Outcome = tuple[str | None, int, int]


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything the load generator is asked to do."""

    profile: ChatProfile
    endpoints: tuple[Endpoint, ...]
    fake_pid: int
    gateway_cpu: int | None  # the CPUs whose busy time is reported (None: not pinned)
    client_cpu: int | None
    open_streams_through: tuple[str, ...] = ()  # endpoint names, in turn

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """The inverse of ``orjson.dumps(plan)``."""
        return cls(
            profile=from_json(ChatProfile, data["profile"]),
            endpoints=tuple(from_json(Endpoint, e) for e in data["endpoints"]),
            fake_pid=data["fake_pid"],
            gateway_cpu=data["gateway_cpu"],
            client_cpu=data["client_cpu"],
            open_streams_through=tuple(data["open_streams_through"]),
        )


class HttpCaller:
    """One client: a keep-alive connection (reopened after a failure) and its request."""

    def __init__(
        self, address: Address, request: bytes, stream: bool, chunks: int, wire: ApiWire
    ) -> None:
        self.address = address
        self.request = request
        self.stream = stream
        self.chunks = chunks
        self.wire = wire
        self.client: HttpClient | None = None

    async def open(self) -> None:
        """Connect (again)."""
        self.close()
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            self.client = await HttpClient.connect(self.address)

    def close(self) -> None:
        """Close the connection."""
        if self.client is not None:
            self.client.close()

    async def __call__(self, _request_id: int) -> Outcome:
        if self.client is None or self.client.closed:
            await self.open()
        assert self.client is not None
        reply = await self.client.send(
            self.request, watch=self.wire.content if self.stream else None
        )
        problem = check_answer(self.wire, reply.status, reply.body, self.stream, self.chunks)
        return problem, reply.first_ns, reply.last_ns


class RpcCaller:
    """One client: a WebSocket on which one ``chat.send`` at a time runs."""

    def __init__(self, endpoint: Endpoint, stream: bool, chunks: int) -> None:
        self.endpoint = endpoint
        self.stream = stream
        self.chunks = chunks
        model = endpoint.model_for(chunks if stream else None)
        chat = WIRES["chat"].body(model, False)
        self.params = {"provider": endpoint.provider, **chat, "stream": stream}
        self.ws: WsClient | None = None
        self._waiter: asyncio.Future[tuple[dict[str, Any], int]] | None = None
        self._request_id = 0
        self._texts: list[str] = []
        self._first_ns = 0

    async def open(self) -> None:
        """Connect (again) and upgrade."""
        self.close()
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            self.ws = await WsClient.connect(
                self.endpoint.address,
                self.endpoint.path,
                self.endpoint.host,
                self._message,
                self._lost,
            )

    def close(self) -> None:
        """Close the WebSocket."""
        if self.ws is not None:
            self.ws.close()

    def _lost(self, error: ProtocolError) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    def _message(self, data: bytes, now: int) -> None:
        message = orjson.loads(data)
        if message.get("method") == "chat.delta":
            params = message["params"]
            if params.get("requestId") == self._request_id and params.get("type") == "text":
                self._texts.append(params.get("text", ""))
                self._first_ns = self._first_ns or now
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((message, now))

    async def __call__(self, request_id: int) -> Outcome:
        if self.ws is None or self.ws.error is not None:
            await self.open()
        assert self.ws is not None
        self._request_id, self._texts, self._first_ns = request_id, [], 0
        self._waiter = asyncio.get_running_loop().create_future()
        frame = {"jsonrpc": "2.0", "id": request_id, "method": "chat.send", "params": self.params}
        self.ws.send(orjson.dumps(frame))
        answer, last_ns = await self._waiter
        return self._check(answer), self._first_ns or last_ns, last_ns

    def _check(self, answer: dict[str, Any]) -> str | None:
        if answer.get("id") != self._request_id or "result" not in answer:
            return f"not the answer: {str(answer)[:200]}"
        expected = expected_text(self.chunks if self.stream else None)
        content = answer["result"].get("message", {}).get("content")
        streamed = "".join(self._texts)
        if content != expected or streamed != (expected if self.stream else ""):
            return f"unexpected content {content!r}, or deltas {streamed[:100]!r}"
        return None


Caller = HttpCaller | RpcCaller


def make_caller(endpoint: Endpoint, mode: Mode, chunks: int) -> Caller:
    """A client of ``endpoint`` for requests of ``mode``."""
    stream = mode == "stream"
    if endpoint.kind == "ws":
        return RpcCaller(endpoint, stream, chunks)
    model = endpoint.model_for(chunks if stream else None)
    request = http_post(endpoint, model, stream)
    return HttpCaller(endpoint.address, request, stream, chunks, WIRES[endpoint.wire])


async def closed_loop(callers: Sequence[Caller], budget: Budget) -> Samples:
    """Each client sends its next request when its last answer is complete."""
    samples = Samples()
    ids = itertools.count(1)

    async def client(call: Caller) -> None:
        while budget.take():
            start = time.perf_counter_ns()
            try:
                problem, first, last = await call(next(ids))
            except (ProtocolError, OSError) as exc:
                samples.failed(f"{type(exc).__name__}: {exc}")
                call.close()  # the next call reconnects
                continue
            if problem is not None:
                samples.failed(problem)
                continue
            samples.latencies.append(last - start)
            samples.firsts.append(first - start)

    await asyncio.gather(*(client(call) for call in callers))
    return samples


@dataclass(frozen=True, slots=True)
class CpuFigures:
    """CPU seconds of the gateway, the fake and this process; busy % of the two CPUs."""

    gateway_s: float
    fake_s: float
    client_s: float
    cpu0_busy_pct: float
    cpu1_busy_pct: float


class Meter:
    """CPU time of the processes that matter and busy time of the two CPUs, over an interval."""

    def __init__(self, plan: Plan, endpoint: Endpoint) -> None:
        self.gateway = process_tree(endpoint.pid)
        self.fake = plan.fake_pid
        self.cpus = [c for c in (plan.gateway_cpu, plan.client_cpu) if c is not None]
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float, float, dict[int, float]]:
        gateway, fake = tree_cpu_seconds(self.gateway), cpu_seconds(self.fake)
        busy = cpu_busy_seconds(self.cpus)
        return time.perf_counter(), gateway, fake, time.process_time(), busy

    def result(self, plan: Plan) -> CpuFigures:
        """The figures since the meter was made."""
        (t0, g0, f0, c0, b0), (t1, g1, f1, c1, b1) = self._start, self._sample()
        elapsed = t1 - t0

        def busy(cpu: int | None) -> float:
            return math.nan if cpu is None else 100 * (b1[cpu] - b0[cpu]) / elapsed

        return CpuFigures(g1 - g0, f1 - f0, c1 - c0, busy(plan.gateway_cpu), busy(plan.client_cpu))


async def phase(plan: Plan, endpoint: Endpoint, mode: Mode, clients: int) -> PhaseResult:
    """Warm up, then measure one phase; a phase that cannot run is returned as a failure."""
    profile = plan.profile
    result = PhaseResult(endpoint=endpoint.name, mode=mode, clients=clients, wire=endpoint.wire)
    callers = [make_caller(endpoint, mode, profile.chunks) for _ in range(clients)]
    try:
        await asyncio.gather(*(caller.open() for caller in callers))
        await closed_loop(callers, Budget(profile.warmup_s, profile.max_requests))
        meter = Meter(plan, endpoint)
        start = time.perf_counter()
        async with asyncio.timeout(profile.phase_s + HANG_GRACE_S):
            samples = await closed_loop(callers, Budget(profile.phase_s, profile.max_requests))
        elapsed = time.perf_counter() - start
        cpu = meter.result(plan)
    except (ProtocolError, OSError, TimeoutError) as exc:
        return replace(result, failure=f"{type(exc).__name__}: {exc}")
    finally:
        for caller in callers:
            caller.close()
    samples.latencies.sort()
    samples.firsts.sort()
    stream = mode == "stream"
    return replace(
        result,
        count=len(samples.latencies),
        errors=samples.errors,
        elapsed_s=elapsed,
        lat_p50_ms=percentile(samples.latencies, 50) / 1e6,
        lat_p99_ms=percentile(samples.latencies, 99) / 1e6,
        first_p50_ms=percentile(samples.firsts, 50) / 1e6 if stream else math.nan,
        first_p99_ms=percentile(samples.firsts, 99) / 1e6 if stream else math.nan,
        rss_mb=sum(rss_mb(pid) for pid in meter.gateway),
        first_error=samples.first_error,
        gateway_cpu_s=cpu.gateway_s,
        fake_cpu_s=cpu.fake_s,
        client_cpu_s=cpu.client_s,
        cpu0_busy_pct=cpu.cpu0_busy_pct,
        cpu1_busy_pct=cpu.cpu1_busy_pct,
    )


async def all_phases(plan: Plan) -> list[PhaseResult]:
    """Every (concurrency, mode) phase, each repeated on every endpoint in turn (the wires
    other than chat only at the profile's ``wire_clients``)."""
    results: list[PhaseResult] = []
    for clients in plan.profile.concurrency:
        for mode in plan.profile.modes:
            best: dict[tuple[str, str], PhaseResult] = {}
            endpoints = [e for e in plan.endpoints if plan.profile.runs(e.wire, clients)]
            for _ in range(plan.profile.repeats):
                for endpoint in endpoints:
                    measured = await phase(plan, endpoint, mode, clients)
                    key = (endpoint.wire, endpoint.name)
                    best[key] = better(best.get(key), measured)
            results += best.values()
    return results


async def run_plan(plan: Plan) -> dict[str, Any]:
    """The phases, then the open streams."""
    phases = await all_phases(plan)
    held = []
    for name in plan.open_streams_through:
        endpoint = next(e for e in plan.endpoints if e.name == name and e.wire == "chat")
        held.append(await hold_open(plan.profile, endpoint))
    return {"phases": phases, "open": held}


def main() -> None:
    """Parse the plan, pin to the client CPU, run, print the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench._chatload")
    parser.add_argument("plan", type=lambda text: Plan.from_dict(orjson.loads(text)))
    args = parser.parse_args()
    plan: Plan = args.plan
    if plan.client_cpu is not None:
        os.sched_setaffinity(0, {plan.client_cpu})
    results = run(run_plan(plan))
    sys.stdout.buffer.write(orjson.dumps(results) + b"\n")


if __name__ == "__main__":
    main()
