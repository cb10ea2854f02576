"""RPC round-trip benchmark: ``daemon.info`` over HTTP and WebSocket on the Unix socket.

Measures, for the daemon and for a bare-aiohttp baseline (``bench._baseline``) in the same
run on the same machine: latency and throughput under 1 and N keep-alive clients, WebSocket
pipelining, cold start, and idle RSS. The server runs pinned to one CPU, the load generator
(``bench._loadgen``, its own process) to another. Figures are informational; ``run`` returns
False only when something could not be measured.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version

import orjson

from bench._coldstart import ColdStart, measure_cold_starts
from bench._loadgen import PHASES
from bench._model import PhaseResult, Profile
from bench._report import Row, Section, Target, render, targets_summary
from bench._spawn import (
    REPO,
    Server,
    cpu_busy_seconds,
    inherited_affinity,
    log_problems,
    start_server,
)

SERVERS = {"daemon": "daemon", "baseline": "bench._baseline"}
SATURATED_PCT = 90.0  # a process this busy is the bottleneck of its phase
BUSY_PCT = 10.0  # more than this from other processes disturbs the figures
BUSY_WARNING = ": WARNING, the figures are disturbed; rerun on a quiet machine"


@dataclass(frozen=True, slots=True)
class Cpus:
    """Where the server and the load generator run (None: not pinned)."""

    server: int | None
    client: int | None

    @classmethod
    def pick(cls) -> Cpus:
        """The first two CPUs this process may use; no pinning when there is only one."""
        allowed = sorted(os.sched_getaffinity(0))
        return cls(allowed[0], allowed[1]) if len(allowed) >= 2 else cls(None, None)


@dataclass
class Figures:
    """Everything measured for one server."""

    phases: dict[str, PhaseResult]
    rss_start_mb: float
    rss_after_mb: float
    cold: ColdStart
    problems: list[str] = field(default_factory=list)

    def phase(self, name: str) -> PhaseResult:
        """The result of phase ``name``, or a failed placeholder when it did not run."""
        return self.phases.get(name) or PhaseResult(name=name, failure="not run")


def run_loadgen(
    servers: list[Server], profile: Profile, cpu: int | None
) -> dict[str, dict[str, PhaseResult]]:
    """Run every load phase against the servers from a separate process; its answer, parsed."""
    command = [sys.executable, "-m", "bench._loadgen", "--profile", profile.to_json()]
    for server in servers:
        command += ["--target", f"{server.name}={server.pid}:{server.socket_path}"]
    command += ["--cpu", str(cpu)] if cpu is not None else []
    per_phase_s = profile.repeats * len(servers) * (profile.phase_s + profile.warmup_s + 10)
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        command, cwd=REPO, capture_output=True, timeout=len(PHASES) * per_phase_s + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}):\n{done.stderr.decode()}")
    return {
        server: {phase: PhaseResult.from_dict(result) for phase, result in phases.items()}
        for server, phases in orjson.loads(done.stdout).items()
    }


def measure(profile: Profile, cpus: Cpus) -> dict[str, Figures]:
    """Start every server, load them in turn, read their RSS before and after the load, stop
    them; then time their cold starts."""
    print("  load phases ...", file=sys.stderr, flush=True)
    servers = []
    try:
        for name, module in SERVERS.items():
            servers.append(start_server(name, module, cpus.server))
            servers[-1].wait_ready()
        time.sleep(profile.settle_s)
        rss_start = {s.name: s.rss_mb() for s in servers}
        phases = run_loadgen(servers, profile, cpus.client)
        time.sleep(profile.settle_s)
        rss_after = {s.name: s.rss_mb() for s in servers}
        problems = {}
        for s in servers:
            code = s.stop()
            problems[s.name] = log_problems(s.log()) + (
                [f"exited {code} on SIGTERM"] if code else []
            )
    finally:
        for s in servers:
            s.close()
    print("  cold starts ...", file=sys.stderr, flush=True)
    cold = measure_cold_starts(SERVERS, cpus.server, profile.cold_runs)
    return {
        name: Figures(
            phases[name],
            rss_start[name],
            rss_after[name],
            cold[name],
            problems[name] + cold[name].problems,
        )
        for name in SERVERS
    }


def _phase_rows(
    d: PhaseResult,
    b: PhaseResult,
    rate: str,
    rate_target: Target | None = None,
    p99_target: Target | None = None,
) -> list[Row]:
    """Throughput, p50, p99 and server CPU cost of one phase, daemon beside baseline."""
    return [
        Row(rate, d.rate, b.rate, ",.0f", rate_target),
        Row("p50 latency (ms)", d.p50_ms, b.p50_ms, ".3f"),
        Row("p99 latency (ms)", d.p99_ms, b.p99_ms, ".3f", p99_target),
        Row("server CPU per answer (us)", d.server_us_per_request, b.server_us_per_request, ".0f"),
    ]


def sections(d: Figures, b: Figures, profile: Profile) -> list[Section]:
    """The report's table: every figure of the brief, with its target where it has one."""
    p99 = Target("< 5 ms", lambda v: v < 5)
    cold = Target("< 400 ms", lambda v: v < 400)
    rss = Target("< 60 MB", lambda v: v < 60)
    n, median = profile.clients, ColdStart.median

    def phase(name: str, rate: str, **targets: Target) -> list[Row]:
        return _phase_rows(d.phase(name), b.phase(name), rate, **targets)

    return [
        ("HTTP POST /rpc, 1 client", phase("http_1", "requests/s")),
        (
            f"HTTP POST /rpc, {n} clients",
            phase(
                "http_n",
                "requests/s",
                rate_target=Target(">= 5,000/s", lambda v: v >= 5000),
                p99_target=p99,
            ),
        ),
        (
            f"WebSocket, 1 connection, pipelined (windows of {profile.window})",
            phase(
                "ws_pipelined",
                "messages/s",
                rate_target=Target(">= 20,000/s", lambda v: v >= 20000),
            ),
        ),
        ("WebSocket, 1 client, sequential", phase("ws_1", "messages/s")),
        (f"WebSocket, {n} clients", phase("ws_n", "messages/s", p99_target=p99)),
        (
            f"Cold start, median of {profile.cold_runs} (ms)",
            [
                Row("to READY=1", median(d.cold.to_ready_ms), median(b.cold.to_ready_ms), ".0f"),
                Row(
                    "to first answer (after READY)",
                    median(d.cold.to_answer_ms),
                    median(b.cold.to_answer_ms),
                    ".0f",
                    cold,
                ),
                Row(
                    "to first answer (polling connect)",
                    median(d.cold.polling_ms),
                    median(b.cold.polling_ms),
                    ".0f",
                    cold,
                ),
            ],
        ),
        (
            "Idle RSS, VmRSS (MB = 10^6 B)",
            [
                Row("after start", d.rss_start_mb, b.rss_start_mb, ".1f", rss),
                Row("after the load", d.rss_after_mb, b.rss_after_mb, ".1f", rss),
            ],
        ),
    ]


def cpu_table(figures: dict[str, Figures]) -> str:
    """Per phase: CPU use of server, load generator and everything else (% of one core)."""
    lines = ["CPU during each phase, % of one core: server / load generator / other processes"]
    for name in figures["daemon"].phases:
        cells = []
        for server, fig in figures.items():
            p = fig.phase(name)
            mark = " *" if p.client_cpu_pct >= SATURATED_PCT else ""
            cells.append(
                f"{server} {p.server_cpu_pct:3.0f} / {p.client_cpu_pct:3.0f}"
                f" / {p.other_cpu_pct:3.0f}{mark}".ljust(32)
            )
        lines.append(f"  {name:<14}" + "".join(cells).rstrip())
    lines.append(
        f"  * load generator >= {SATURATED_PCT:.0f}%: that figure is a floor of what "
        "the server could do, bounded by the client"
    )
    return "\n".join(lines)


def problems_text(figures: dict[str, Figures]) -> tuple[str, bool]:
    """Failures, request errors and log problems; whether everything could be measured."""
    lines, ok = [], True
    for server, fig in figures.items():
        for p in fig.phases.values():
            if p.failure:
                ok = False
                lines.append(f"  {server} {p.name}: FAILED: {p.failure}")
            elif p.errors:
                lines.append(f"  {server} {p.name}: {p.errors} wrong or error answers")
        lines += [f"  {server} log: {line[:300]}" for line in fig.problems[:10]]
        if len(fig.problems) > 10:
            lines.append(f"  {server} log: ... {len(fig.problems) - 10} more")
    return "\n".join(["Problems:", *lines] if lines else ["Problems: none"]), ok


def header(profile: Profile, cpus: Cpus, quick: bool) -> str:
    """What was run where, with which versions and budgets."""
    pins = (
        f"server on CPU {cpus.server}, load generator on CPU {cpus.client}"
        if cpus.server is not None
        else "NOT pinned (fewer than 2 CPUs usable)"
    )
    return "\n".join(
        [
            f"RPC round-trip benchmark: daemon.info ({'quick' if quick else 'full'} run)",
            f"  {os.cpu_count()} CPUs, {pins}; Python {platform.python_version()}, "
            f"aiohttp {version('aiohttp')}, uvloop {version('uvloop')}",
            f"  each phase: {profile.warmup_s} s warm-up, then <= {profile.phase_s} s or "
            f"{profile.max_requests:,} requests, best of {profile.repeats} (daemon and "
            "baseline take turns); ratio = daemon / baseline",
        ]
    )


class OtherLoad:
    """CPU used by processes other than this one and its children, from start to ``pct()``."""

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        ours = sum(
            resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
            for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        )
        busy = sum(cpu_busy_seconds(range(os.cpu_count() or 1)).values())
        return time.perf_counter(), busy, ours

    def pct(self) -> float:
        """Average % of one core that everything else used (children must have been waited)."""
        (t0, busy0, ours0), (t1, busy1, ours1) = self._start, self._sample()
        return max(0.0, 100 * ((busy1 - busy0) - (ours1 - ours0)) / (t1 - t0))


def run(quick: bool) -> bool:
    """Measure both servers and print the report; False if a figure could not be measured."""
    profile = Profile.quick() if quick else Profile.full()
    cpus = Cpus.pick()
    print(header(profile, cpus, quick), flush=True)
    other = OtherLoad()
    with inherited_affinity(cpus.client):
        figures = measure(profile, cpus)
    other_pct = other.pct()
    table = sections(figures["daemon"], figures["baseline"], profile)
    problems, ok = problems_text(figures)
    size_d = figures["daemon"].phase("http_1").answer_bytes
    size_b = figures["baseline"].phase("http_1").answer_bytes
    print()
    print(render(table))
    print(f"\nanswer body: daemon {size_d} B, baseline {size_b} B\n")
    print(cpu_table(figures), end="\n\n")
    print(problems)
    print(
        f"Other processes on this machine used {other_pct:.0f}% of one core on average "
        "during the run" + (BUSY_WARNING if other_pct > BUSY_PCT else "")
    )
    print(targets_summary(table), flush=True)
    return ok
