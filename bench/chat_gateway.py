"""Chat gateway benchmark: what a gateway adds to a chat call, beside the floor of a bare proxy.

One run measures, under the same loads and side by side, the fake upstream (:mod:`bench._fake`:
``tests.fakes.openai_chat`` with the Anthropic Messages and OpenAI Responses routes beside its
Chat Completions one) reached, on each of the daemon's three /v1 wires (:mod:`bench._wires`),

- ``direct``: the baseline, no gateway;
- ``proxy``: through a bare aiohttp pass-through proxy (:mod:`bench._passthrough`), the
  floor any Python gateway can reach;
- ``daemon-http``: through the daemon's ``POST /v1/chat/completions``, ``/v1/messages`` or
  ``/v1/responses`` on its Unix socket;
- (Chat Completions only) ``daemon-ws``: through the daemon's JSON-RPC ``chat.send`` on one
  WebSocket per client, and ``litellm``: through the LiteLLM proxy, only when
  ``litellm[proxy]`` is importable.

The floor is like for like: on every wire the proxy and the daemon get the same request from
the client and put the same wire to the same fake route (the daemon through a provider of that
wire's family: ``openai``, ``anthropic``, ``bedrock-mantle``), and the fake answers every wire
with the same words, delivered the same way. The proxy relays bytes; the daemon routes each
request (credentials, breaker, retries, limits) and sends a non-streamed one on whole with its
model renamed (its same-wire lane), while a stream it reads into its own call and writes back in
the client's wire: that work is what is priced. (Translating between wires, e.g.
``/v1/messages`` to an OpenAI upstream, has no pass-through to compare with; the per-family
benchmark covers that.)

For non-streaming requests and 20-chunk streams at 1, 16 and 64 closed-loop clients (the
Messages and Responses wires at 1 and 16): the latency added to ``direct`` (p50, p99; for
streams to the first and to the last chunk), answers per second, the gateway's CPU time per
answer and its RSS; then, per wire, the daemon's figures over the proxy's against the targets
of :mod:`bench._floor`. Then 1,000 slow streams
held open at once through the daemon (and, in the full run, through the proxy as the floor),
and its RSS meanwhile. The gateways run pinned to one CPU, the fake and the load generator
(:mod:`bench._chatload`, its own process) to the other; :mod:`bench._rig` first measures what
a round trip between the two CPUs costs on this machine. ``python -m bench._chat_profile``
profiles the daemon under the same load.
Figures are informational: ``run`` returns False only when something could not be measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path

import orjson

from bench._chatload import Plan
from bench._chatmodel import MODEL, ChatProfile, OpenStreams, PhaseResult, WireName, from_json
from bench._chatreport import (
    Figures,
    Section,
    json_section,
    open_streams_section,
    render,
    stream_section,
    targets_summary,
)
from bench._floor import COLUMNS as FLOOR_COLUMNS
from bench._floor import floor_sections
from bench._gateways import (
    Stack,
    direct_endpoints,
    litellm_missing,
    start_daemon,
    start_fake,
    start_litellm,
    start_passthrough,
)
from bench._loadgen import HANG_GRACE_S
from bench._rig import RoundTrip, round_trip
from bench._spawn import REPO, inherited_affinity, rss_mb
from bench._wires import WIRES
from bench.rpc_roundtrip import BUSY_PCT, BUSY_WARNING, Cpus, OtherLoad


@dataclass
class Measured:
    """Everything one run produced."""

    columns: dict[WireName, list[str]]  # each wire's endpoints, in the order measured
    phases: list[PhaseResult]
    held: list[OpenStreams]
    idle_rss_mb: dict[str, float]
    litellm_note: str | None
    rig: dict[str, RoundTrip]
    problems: list[str] = field(default_factory=list)


def loadgen_timeout_s(profile: ChatProfile, endpoints: int) -> float:
    """An upper bound for the load generator's whole run (every phase may hang once)."""
    per_phase = profile.phase_s + profile.warmup_s + HANG_GRACE_S + 5
    phases = 2 * len(profile.concurrency) * profile.repeats * endpoints
    held = (profile.open_chunks + 3) * profile.open_delay_ms / 1000 + 40
    return phases * per_phase + held * len(profile.open_through) + 30


def run_loadgen(plan: Plan) -> tuple[list[PhaseResult], list[OpenStreams]]:
    """Run the plan from a separate process (pinned by itself); its results, parsed."""
    command = [sys.executable, "-m", "bench._chatload", orjson.dumps(plan).decode()]
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        command,
        cwd=REPO,
        capture_output=True,
        timeout=loadgen_timeout_s(plan.profile, len(plan.endpoints)),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}):\n{done.stderr.decode()}")
    output = orjson.loads(done.stdout)
    phases = [from_json(PhaseResult, p) for p in output["phases"]]
    held = [from_json(OpenStreams, h) for h in output["open"]]
    return phases, held


def start_gateways(stack: Stack, profile: ChatProfile, cpu: int | None, focus: bool) -> str | None:
    """Start the proxy, the daemon and (if it can run, and not ``focus``) LiteLLM; why
    LiteLLM is left out."""
    stack.gateways.append(start_passthrough(stack.base_url, cpu, profile.wires))
    daemon = start_daemon(stack.work, stack.base_url, cpu, profile.wires)
    if focus:
        daemon.endpoints = [e for e in daemon.endpoints if e.kind == "http"]
    stack.gateways.append(daemon)
    note = "left out (--focus)" if focus else litellm_missing()
    if note is None:
        models = [MODEL, f"{MODEL}+chunks={profile.chunks}"]
        try:
            stack.gateways.append(start_litellm(stack.work, stack.base_url, models, cpu))
        except RuntimeError as exc:
            note = str(exc)[:500]
    return note


def stop_all(stack: Stack) -> list[str]:
    """Stop every gateway and the fake; the problems their logs and exit codes show."""
    problems = []
    for gateway in stack.gateways:
        name = gateway.process.name
        problems += [f"{name}: {line[:300]}" for line in gateway.problems(gateway.process.stop())]
    code = stack.fake.stop()
    problems += [f"fake: {line[:300]}" for line in stack.fake.log().splitlines() if line.strip()]
    if code:
        problems.append(f"fake: exited {code} on SIGTERM")
    return problems


def measure_rig(cpus: Cpus, quick: bool) -> dict[str, RoundTrip]:
    """Round trips between the two CPUs and on the load generator's CPU alone."""
    count, budget_s = (500, 0.3) if quick else (2000, 1.5)
    return {
        "across CPUs": round_trip(cpus.client, cpus.server, count, budget_s),
        "on one CPU": round_trip(cpus.client, cpus.client, count, budget_s),
    }


def measure(profile: ChatProfile, cpus: Cpus, quick: bool, focus: bool) -> Measured:
    """Start the fake and the gateways, drive them all from the load generator, stop them."""
    rig = measure_rig(cpus, quick)
    work = Path(tempfile.mkdtemp(prefix="sb-chat-", dir="/tmp"))  # noqa: S108 - short paths
    try:
        fake, base_url = start_fake(work, cpus.client)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    stack = Stack(fake, base_url, work)
    try:
        note = start_gateways(stack, profile, cpus.server, focus)
        endpoints = direct_endpoints(fake, base_url, profile.wires)
        endpoints += [e for g in stack.gateways for e in g.endpoints]
        time.sleep(profile.settle_s)
        idle = {g.process.name: rss_mb(g.process.pid) for g in stack.gateways}
        plan = Plan(
            profile,
            tuple(endpoints),
            fake.pid,
            cpus.server,
            cpus.client,
            tuple(name for name in profile.open_through if name in {e.name for e in endpoints}),
        )
        print("  load phases ...", file=sys.stderr, flush=True)
        phases, held = run_loadgen(plan)
        problems = stop_all(stack)
    finally:
        stack.close()
    columns = {w: [e.name for e in endpoints if e.wire == w] for w in profile.wires}
    return Measured(columns, phases, held, idle, note, rig, problems)


def sections(measured: Measured, profile: ChatProfile, wire: WireName) -> list[Section]:
    """One wire's load sections: each concurrency it ran at, non-streaming then streaming."""
    figures = Figures(measured.phases, measured.columns[wire], wire)
    out = []
    for clients in profile.concurrency:
        if profile.runs(wire, clients):
            out.append(json_section(figures, clients))
            out.append(stream_section(figures, clients, profile.chunks))
    path = WIRES[wire].path
    return [replace(section, title=f"{path}: {section.title}") for section in out]


def problems_text(measured: Measured) -> tuple[str, bool]:
    """Failures, wrong answers and log problems; whether everything could be measured."""
    lines, ok = [], True
    for p in measured.phases:
        where = f"{p.endpoint} {WIRES[p.wire].path} {p.mode} x{p.clients}"
        if p.failure:
            ok = False
            lines.append(f"  {where}: FAILED: {p.failure}")
        elif p.errors:
            lines.append(f"  {where}: {p.errors} wrong or failed answers, first: {p.first_error}")
    for held in measured.held:
        ok = ok and held.failure is None
        if held.failure or held.errors:
            lines.append(
                f"  open streams via {held.endpoint}: {held.failure or ''} {held.errors} errors,"
                f" first: {held.first_error}"
            )
    lines += [f"  {line}" for line in measured.problems[:20]]
    if len(measured.problems) > 20:
        lines.append(f"  ... {len(measured.problems) - 20} more log lines")
    return "\n".join(["Problems:", *lines] if lines else ["Problems: none"]), ok


def header(profile: ChatProfile, cpus: Cpus, quick: bool, measured: Measured) -> str:
    """What was run where, with which versions and budgets."""
    pins = (
        f"gateways on CPU {cpus.server}; fake upstream and load generator on CPU {cpus.client}"
        if cpus.server is not None
        else "NOT pinned (fewer than 2 CPUs usable)"
    )
    litellm = (
        f"litellm {version('litellm')}"
        if measured.litellm_note is None
        else f"LiteLLM row skipped: {measured.litellm_note}"
    )
    idle = ", ".join(f"{name} {mb:.1f} MB" for name, mb in measured.idle_rss_mb.items())
    rig = "; ".join(
        f"{where} p50 {trip.p50_us:.0f} us, p99 {trip.p99_us:.0f} us"
        for where, trip in measured.rig.items()
    )
    return "\n".join(
        [
            f"Chat gateway benchmark: the /v1 wires ({'quick' if quick else 'full'} run)",
            f"  {os.cpu_count()} CPUs, {pins}; Python {platform.python_version()}, "
            f"aiohttp {version('aiohttp')}, uvloop {version('uvloop')}; {litellm}",
            f"  upstream: bench._fake on uvloop, TCP loopback, the same wire on both sides of "
            f"each gateway ({', '.join(WIRES[w].path for w in profile.wires)}); model {MODEL}, "
            f"streams {MODEL}+chunks={profile.chunks}; proxy and daemon on Unix sockets",
            f"  each phase: {profile.warmup_s} s warm-up, then <= {profile.phase_s} s or "
            f"{profile.max_requests:,} requests per endpoint, best of {profile.repeats} "
            "(endpoints take turns); closed-loop clients, one connection each",
            f"  gateway RSS when idle: {idle}",
            f"  rig floor, 1-byte Unix socket round trip 0.3 ms after the last: {rig}",
        ]
    )


LEGEND = """\
Notes:
  added = the endpoint's percentile minus direct's. CPU per request = the gateway process's
  CPU time (user + system) during the phase / answers ("x the proxy's": over the bare proxy's,
  the floor; "1 s / that": answers per second its CPU alone would allow). First chunk = the
  first non-empty content delta (a chat.delta on ws). CPU 0/1 % = each CPU's use during the
  phase: "!" = other processes took >= 10% of the gateway's CPU (its figures are disturbed);
  "*" = CPU 1 was >= 90% busy: the rate is the rig's limit (fake + load generator), not the
  gateway's. With 16 or more clients direct saturates CPU 1, and there the fake's many small
  writes wake a client on its own CPU, which costs both more than when a gateway on CPU 0
  gathers them: "added" can then be negative. The 1-client rows and the CPU per request are
  the clean comparisons. Through a gateway on the other CPU a request makes two cross-CPU
  round trips instead of one on one CPU: see the rig floor above."""


FLOOR_LEGEND = """\
Beside the floor: the daemon's /v1 endpoint over the bare proxy on the same wire, same run.
  added p50 = p50 minus direct's on that wire; p99 is the whole latency. Targets: added p50
  <= 1.2x the proxy's, requests/s >= 0.85x, streams/s >= 0.95x, p99 <= 1.5x. CPU per stream
  is not judged: it is the gateway's own cost, where streams/s also follows the fake's when
  the fake and the load generator saturate their CPU in both phases (see CPU 1 % above)."""


def run(quick: bool, focus: bool = False, repeats: int | None = None) -> bool:
    """Measure every endpoint and print the report; False if a figure could not be measured.

    ``focus``: only what the floor's targets need (1 and 16 clients, HTTP endpoints, no
    LiteLLM, no open streams), for measuring one change at a time. ``repeats``: how often
    each phase runs per endpoint (the best counts), where the machine is too noisy for two."""
    profile = ChatProfile.quick() if quick else ChatProfile.full()
    if repeats is not None:
        profile = replace(profile, repeats=repeats)
    if focus:
        profile = replace(profile, concurrency=profile.wire_clients, open_through=())
    cpus = Cpus.pick()
    other = OtherLoad()
    with inherited_affinity(cpus.client):
        measured = measure(profile, cpus, quick, focus)
    other_pct = other.pct()
    print(header(profile, cpus, quick, measured), flush=True)
    tables: list[tuple[list[Section], list[str]]] = []
    for wire in profile.wires:
        table = sections(measured, profile, wire)
        tables.append((table, measured.columns[wire]))
        print()
        print(render(table, measured.columns[wire]))
    floor = floor_sections(measured.phases, measured.columns)
    tables.append((floor, list(FLOOR_COLUMNS)))
    held_columns = [held.endpoint for held in measured.held]
    held_table = []
    if measured.held:
        held_table.append(
            open_streams_section(measured.held, profile.open_chunks, profile.open_delay_ms)
        )
        print()
        print(render(held_table, held_columns))
    print()
    print(LEGEND, end="\n\n")
    print(FLOOR_LEGEND)
    print(render(floor, FLOOR_COLUMNS), end="\n\n")
    problems, ok = problems_text(measured)
    print(problems)
    print(
        f"Other processes on this machine used {other_pct:.0f}% of one core on average "
        "during the run" + (BUSY_WARNING if other_pct > BUSY_PCT else "")
    )
    tables.append((held_table, held_columns))
    print(targets_summary(tables), flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.chat_gateway [--quick] [--focus] [--repeats N]``: this benchmark alone."""
    parser = argparse.ArgumentParser(prog="python -m bench.chat_gateway", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (~30 s)")
    parser.add_argument(
        "--focus",
        action="store_true",
        help="only the floor's figures: 1 and 16 clients over HTTP, no open streams",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        choices=range(1, 21),
        metavar="N",
        help="run each phase N times per endpoint, endpoints taking turns, and keep the best "
        "(default 2; more on a shared machine whose figures swing from run to run)",
    )
    args = parser.parse_args(argv)
    return 0 if run(args.quick, args.focus, args.repeats) else 1


if __name__ == "__main__":
    raise SystemExit(main())
