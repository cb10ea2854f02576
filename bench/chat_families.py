"""Per-family benchmark: what the daemon adds to a chat call in each API family's wire.

The contract suite's fake (``tests.fakes.families.server``, every family's wire on one port)
runs in its own process; the daemon is configured with every family's provider pointed at it.
For each family, one client (this process) measures, in the same run and interleaved:

- ``direct``: the baseline. The exact request the daemon's adapter would send (its own pure
  ``build_request``) posted straight to the fake, the body or the whole stream read;
- ``daemon``: ``chat.send`` over one JSON-RPC WebSocket, the answer awaited (for a stream,
  after every ``chat.delta``).

Printed per family: p50 of each, the added p50 (daemon - direct) for a JSON answer and for a
whole stream, and the daemon's CPU time per call. Figures are informational: ``run`` returns
False only when something could not be measured.
"""

from __future__ import annotations

import functools
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench._aio import run as run_loop
from bench._gateways import start_fake
from bench._report import Row, Section, Target, render, targets_summary
from bench._spawn import cpu_seconds, start_server
from bench.rpc_roundtrip import Cpus
from daemon.adapters import adapter_for
from daemon.adapters.types import ChatCall
from daemon.adapters.types import Target as AdapterTarget
from daemon.providers.catalog import PROVIDERS
from tests.fakes.families.server import daemon_config, family_key, load_wires
from tests.fakes.families.wire import Wire

MESSAGES = [{"role": "user", "content": "what is the weather in Paris today"}]
MODEL = "fake-model"
JSON_TARGET = Target("<= 0.6 ms", lambda v: v <= 0.6)
STREAM_TARGET = Target("<= 1.5 ms", lambda v: v <= 1.5)
_ids = itertools.count(1)


@dataclass(frozen=True)
class Figures:
    """One family's medians in ms (and the daemon's CPU per call in microseconds)."""

    family: str
    direct_json: float
    daemon_json: float
    direct_stream: float
    daemon_stream: float
    cpu_us: float


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def _timed(calls: int, once: Callable[[], Awaitable[None]]) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await once()
        samples.append(time.perf_counter() - started)
    return samples


class Direct:
    """The family's own request, built by the daemon's adapter, sent straight to the fake."""

    def __init__(self, http: aiohttp.ClientSession, wire: Wire, base_url: str) -> None:
        row = next(p for p in PROVIDERS if p.id == wire.provider)
        url = f"{base_url}{wire.mount}{wire.base_path}"
        self.target = AdapterTarget(row, url, MODEL, family_key(wire), options=wire.options)
        self.module: Any = adapter_for(wire.family)
        self.http = http

    async def once(self, stream: bool) -> None:
        request = self.module.build_request(self.target, ChatCall(MODEL, MESSAGES, stream=stream))
        async with self.http.request(
            request.method, request.url, headers=request.headers, data=request.body
        ) as response:
            assert response.status == 200, await response.text()
            async for _ in response.content.iter_any():
                pass


class ThroughDaemon:
    """chat.send over one WebSocket; deltas are read and dropped, the answer awaited."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, wire: Wire) -> None:
        self.ws, self.wire = ws, wire

    async def once(self, stream: bool) -> None:
        request_id = next(_ids)
        params = {"provider": self.wire.provider, "model": MODEL, "messages": MESSAGES}
        body = {"jsonrpc": "2.0", "id": request_id, "method": "chat.send"}
        await self.ws.send_bytes(orjson.dumps({**body, "params": {**params, "stream": stream}}))
        while True:
            message = orjson.loads((await self.ws.receive()).data)
            if message.get("id") == request_id:
                assert "result" in message, message
                return


async def _family(
    wire: Wire, base_url: str, socket_path: Path, daemon_pid: int, calls: int
) -> Figures:
    connector = aiohttp.UnixConnector(path=str(socket_path))
    async with (
        aiohttp.ClientSession() as http,
        aiohttp.ClientSession(connector=connector) as local,
        local.ws_connect("http://switchboard/rpc") as ws,
    ):
        direct, daemon = Direct(http, wire, base_url), ThroughDaemon(ws, wire)
        medians: dict[tuple[str, bool], float] = {}
        cpu = 0.0
        for stream in (False, True):
            clients: tuple[tuple[str, Direct | ThroughDaemon], ...] = (
                ("direct", direct),
                ("daemon", daemon),
            )
            for name, client in clients:
                once = functools.partial(client.once, stream)
                await _timed(max(5, calls // 10), once)  # warm-up: connections, first imports
                before = cpu_seconds(daemon_pid)
                samples = await _timed(calls, once)
                if name == "daemon":
                    cpu += cpu_seconds(daemon_pid) - before
                medians[name, stream] = _median_ms(samples)
    return Figures(
        str(wire.family),
        medians["direct", False],
        medians["daemon", False],
        medians["direct", True],
        medians["daemon", True],
        cpu / (2 * calls) * 1e6,
    )


def measure(calls: int, cpus: Cpus, work: Path) -> list[Figures]:
    """Start the fake and the daemon, measure every family, stop both."""
    # Vertex's fakes take only tokens they issued themselves from a key file they wrote: the
    # direct baseline has no such token, so those families are left out here.
    wires = [wire for wire in load_wires() if wire.uses_api_key]
    fake, base_url = start_fake(work, cpus.client, "tests.fakes.families.server", "families-fake")
    config = work / "families.toml"
    config.write_text(daemon_config(base_url, wires, "breaker_threshold = 1000"))
    try:
        daemon = start_server("daemon", "daemon", cpus.server, ["--config", str(config)])
    except BaseException:
        fake.close()
        raise
    try:
        daemon.wait_ready()
        return [
            run_loop(_family(wire, base_url, daemon.socket_path, daemon.pid, calls))
            for wire in wires
        ]
    finally:
        daemon.stop()
        daemon.close()
        fake.stop()
        fake.close()


def sections(figures: list[Figures]) -> list[Section]:
    """One section per family: medians (daemon vs direct) and the added time."""
    result: list[Section] = []
    for f in figures:
        rows = [
            Row("JSON answer p50 (ms)", f.daemon_json, f.direct_json, ".2f"),
            Row("JSON added p50 (ms)", f.daemon_json - f.direct_json, 0, ".2f", JSON_TARGET),
            Row("whole stream p50 (ms)", f.daemon_stream, f.direct_stream, ".2f"),
            Row(
                "stream added p50 (ms)",
                f.daemon_stream - f.direct_stream,
                0,
                ".2f",
                STREAM_TARGET,
            ),
            Row("daemon CPU per call (us)", f.cpu_us, 0, ".0f"),
        ]
        result.append((f.family, rows))
    return result


def run(quick: bool) -> bool:
    """Measure and print; False when a family could not be measured."""
    calls = 40 if quick else 400
    cpus = Cpus.pick()
    with tempfile.TemporaryDirectory(prefix="sb-families-") as work:
        try:
            figures = measure(calls, cpus, Path(work))
        except (RuntimeError, AssertionError, OSError, TimeoutError) as exc:
            print(f"\nPer-family chat benchmark could not measure: {exc}", flush=True)
            return False
    print(f"\nPer-family chat benchmark: {calls} sequential calls per figure, one client")
    table = sections(figures)
    print(render(table))
    print(targets_summary(table))
    return True


if __name__ == "__main__":
    raise SystemExit(0 if run("--quick" in sys.argv) else 1)
