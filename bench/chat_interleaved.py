"""The latency a gateway adds at one client, with every request of the three paths interleaved.

``python -m bench.chat_interleaved [--rounds N] [--wire chat|messages|responses ...]`` starts
the fake upstream, the bare pass-through proxy and the daemon as :mod:`bench.chat_gateway`
does (gateways pinned to one CPU, the fake and this process to the other), then sends one
non-streamed request at a time, round after round, to the fake directly, through the proxy
and through the daemon. A machine's drift (another tenant, a clock change) then hits the three
alike, where the phases of :mod:`bench.chat_gateway` run seconds apart and single runs swing
by a third. It prints each path's p50 and the daemon's added p50 over the proxy's (the
``added p50, 1 client`` target of that benchmark: at most 1.2x).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import _aio
from bench._chatmodel import Endpoint, WireName
from bench._gateways import (
    Stack,
    direct_endpoints,
    start_daemon,
    start_fake,
    start_passthrough,
)
from bench._model import percentile
from bench._wire import HttpClient
from bench._wires import WIRES, http_post
from bench.rpc_roundtrip import Cpus

PATHS = ("direct", "proxy", "daemon")
WARM_UP_ROUNDS = 300
TARGET = 1.2


@dataclass(frozen=True, slots=True)
class Added:
    """One wire's p50 latencies (ms) by path, and the daemon's added p50 over the proxy's."""

    wire: WireName
    p50_ms: dict[str, float]

    @property
    def ratio(self) -> float:
        direct = self.p50_ms["direct"]
        return (self.p50_ms["daemon"] - direct) / (self.p50_ms["proxy"] - direct)

    def line(self) -> str:
        added = {path: self.p50_ms[path] - self.p50_ms["direct"] for path in PATHS[1:]}
        verdict = "met" if self.ratio <= TARGET else "missed"
        return (
            f"{WIRES[self.wire].path:24} direct p50 {self.p50_ms['direct']:.3f} ms, added: "
            f"proxy {added['proxy']:.3f} ms, daemon {added['daemon']:.3f} ms, "
            f"{self.ratio:.2f}x (<= {TARGET}x: {verdict})"
        )


async def interleaved(endpoints: dict[str, Endpoint], rounds: int) -> dict[str, float]:
    """Each path's p50 (ms) over ``rounds`` rounds of one request per path."""
    clients = {path: await HttpClient.connect(e.address) for path, e in endpoints.items()}
    requests = {path: http_post(e, e.model_for(None), False) for path, e in endpoints.items()}
    latencies: dict[str, list[int]] = {path: [] for path in endpoints}
    try:
        for turn in range(WARM_UP_ROUNDS + rounds):
            for path, client in clients.items():
                sent_ns = time.perf_counter_ns()
                reply = await client.send(requests[path])
                if reply.status != 200:
                    raise RuntimeError(f"{path}: HTTP {reply.status}: {reply.body[:200]!r}")
                if turn >= WARM_UP_ROUNDS:
                    latencies[path].append(reply.last_ns - sent_ns)
    finally:
        for client in clients.values():
            client.close()
    return {path: percentile(sorted(values), 50) / 1e6 for path, values in latencies.items()}


def measure(wires: list[WireName], rounds: int) -> list[Added]:
    """Start the fake and both gateways, then measure each wire in turn."""
    cpus = Cpus.pick()
    work = Path(tempfile.mkdtemp(prefix="sb-interleaved-"))
    fake, base_url = start_fake(work, cpus.client)
    stack = Stack(fake, base_url, work)
    try:
        proxy = start_passthrough(base_url, cpus.server, wires)
        stack.gateways.append(proxy)
        daemon = start_daemon(work, base_url, cpus.server, wires)
        stack.gateways.append(daemon)
        if cpus.client is not None:
            os.sched_setaffinity(0, {cpus.client})
        found: list[Added] = []
        for wire in wires:
            endpoints = {
                "direct": _on(direct_endpoints(fake, base_url, wires), wire),
                "proxy": _on(proxy.endpoints, wire),
                "daemon": _on(daemon.endpoints, wire),
            }
            found.append(Added(wire, _aio.run(interleaved(endpoints, rounds))))
        return found
    finally:
        stack.close()


def _on(endpoints: list[Endpoint], wire: WireName) -> Endpoint:
    return next(e for e in endpoints if e.kind == "http" and e.wire == wire)


QUICK_ROUNDS = 200


def run(quick: bool, rounds: int | None = None, wires: list[WireName] | None = None) -> bool:
    """Measure and print (what ``python -m bench`` calls); False when nothing could be."""
    rounds = rounds or (QUICK_ROUNDS if quick else 3000)
    print(f"\nInterleaved one-client latency: {rounds:,} rounds of direct, proxy, daemon")
    try:
        found = measure(wires or list(WIRES), rounds)
    except (OSError, RuntimeError) as exc:
        print(f"  could not measure: {exc}")
        return False
    for added in found:
        print("  " + added.line(), flush=True)
    return True


def main() -> None:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.chat_interleaved")
    parser.add_argument("--rounds", type=int, default=3000, help="requests per path and wire")
    parser.add_argument("--wire", action="append", choices=list(WIRES), dest="wires")
    args = parser.parse_args()
    raise SystemExit(0 if run(False, args.rounds, args.wires) else 1)


if __name__ == "__main__":
    main()
