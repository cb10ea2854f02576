"""The chat benchmark's tables: one column per endpoint, targets judged on the daemon's columns.

Each section is one load (mode and concurrency); its rows are figures, its columns the
endpoints in the order they were measured (``direct`` first: the baseline the "added" rows
subtract). A target names the columns it judges and prints ``met``/``missed`` for each.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from operator import attrgetter

from bench._chatmodel import Mode, OpenStreams, PhaseResult, WireName

DAEMON = ("daemon-http", "daemon-ws")
SATURATED_PCT = 90.0  # a CPU this busy bounds its phase's rate
DISTURBED_PCT = 10.0  # other processes this busy on the gateway's CPU disturb its figures
LABEL_WIDTH = 34
CELL_WIDTH = 12


@dataclass(frozen=True, slots=True)
class Target:
    """A goal for some columns' figure, e.g. ``Target("<= 0.6 ms", lambda v: v <= 0.6)``."""

    text: str
    met: Callable[[float], bool]
    columns: tuple[str, ...] = DAEMON

    def verdict(self, value: float) -> str:
        """``met`` or ``missed`` (an unmeasured figure misses)."""
        return "met" if not math.isnan(value) and self.met(value) else "missed"


@dataclass(frozen=True, slots=True)
class Row:
    """One figure across the endpoints; ``cells`` may override the formatted values."""

    label: str
    values: tuple[float, ...]
    fmt: str
    target: Target | None = None
    cells: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Section:
    """A heading and its rows."""

    title: str
    rows: list[Row]


def number(value: float, fmt: str) -> str:
    """``value`` formatted, or ``-`` when it was not measured."""
    return "-" if math.isnan(value) else format(value, fmt)


def _verdicts(row: Row, columns: Sequence[str]) -> list[tuple[str, float, str]]:
    """(column, value, verdict) for each column the row's target judges."""
    if row.target is None:
        return []
    return [
        (name, value, row.target.verdict(value))
        for name, value in zip(columns, row.values, strict=True)
        if name in row.target.columns
    ]


def render(sections: Sequence[Section], columns: Sequence[str]) -> str:
    """The table: a header of endpoint names, then each section."""
    head = "".join(f"{name:>{CELL_WIDTH}}" for name in columns)
    lines = [f"{'':<{LABEL_WIDTH}}{head}   target"]
    lines.append("-" * (LABEL_WIDTH + CELL_WIDTH * len(columns) + 10))
    for section in sections:
        lines.append(section.title)
        for row in section.rows:
            cells = row.cells or tuple(number(v, row.fmt) for v in row.values)
            text = "".join(f"{cell:>{CELL_WIDTH}}" for cell in cells)
            judged = _verdicts(row, columns)
            target = ""
            if row.target is not None and judged:
                parts = ", ".join(f"{name.removeprefix('daemon-')} {v}" for name, _, v in judged)
                target = f"{row.target.text}: {parts}"
            lines.append(f"  {row.label:<{LABEL_WIDTH - 2}}{text}   {target}".rstrip())
    return "\n".join(lines)


def targets_summary(tables: Sequence[tuple[Sequence[Section], Sequence[str]]]) -> str:
    """Over (sections, columns) tables: ``Targets met: 9 of 14 (informational)``, then one
    line per missed target."""
    total, missed = 0, []
    for sections, columns in tables:
        for section in sections:
            for row in section.rows:
                for name, value, verdict in _verdicts(row, columns):
                    total += 1
                    if verdict == "missed":
                        shown = number(value, row.fmt)
                        missed.append(f"  missed: {section.title}: {row.label}, {name} {shown}")
    return "\n".join([f"Targets met: {total - len(missed)} of {total} (informational)", *missed])


class Figures:
    """One wire's phase results by endpoint and load, with the derived figures the rows need."""

    def __init__(
        self, phases: Sequence[PhaseResult], columns: Sequence[str], wire: WireName = "chat"
    ) -> None:
        self.columns = list(columns)
        self.wire = wire
        self._by = {(p.endpoint, p.mode, p.clients): p for p in phases if p.wire == wire}

    def get(self, column: str, mode: Mode, clients: int) -> PhaseResult:
        """A phase's result, or a failed placeholder when it did not run."""
        found = self._by.get((column, mode, clients))
        missing = PhaseResult(column, mode, clients, self.wire, failure="not run")
        return found or missing

    def values(
        self, mode: Mode, clients: int, figure: Callable[[PhaseResult], float]
    ) -> tuple[float, ...]:
        """``figure`` of every column's result (NaN for a failed phase)."""
        out = []
        for column in self.columns:
            phase = self.get(column, mode, clients)
            out.append(math.nan if phase.failure else figure(phase))
        return tuple(out)

    def added(
        self, mode: Mode, clients: int, figure: Callable[[PhaseResult], float]
    ) -> tuple[float, ...]:
        """``figure`` minus the direct column's (NaN for ``direct`` itself)."""
        base = self.get("direct", mode, clients)
        base_value = math.nan if base.failure else figure(base)
        values = self.values(mode, clients, figure)
        return tuple(
            math.nan if column == "direct" else value - base_value
            for column, value in zip(self.columns, values, strict=True)
        )

    def gateway_cpu_us(self, mode: Mode, clients: int) -> tuple[float, ...]:
        """Gateway CPU per answer (µs); none for ``direct``, which has no gateway."""
        values = self.values(mode, clients, lambda p: p.per_request_us(p.gateway_cpu_s))
        return tuple(
            math.nan if c == "direct" else v for c, v in zip(self.columns, values, strict=True)
        )

    def cpu_cells(self, mode: Mode, clients: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Per column, % of each CPU: ``gateway+others`` on CPU 0 (``!``: others >= 10%, the
        figures are disturbed) and ``fake+load generator+others`` on CPU 1 (``*``: >= 90%
        in all, the rate is bounded by the rig)."""
        gateway_cpu, rig_cpu = [], []
        for column in self.columns:
            p = self.get(column, mode, clients)
            if p.failure or math.isnan(p.cpu0_busy_pct) or not p.elapsed_s:
                gateway_cpu.append("-")
                rig_cpu.append("-")
                continue
            gateway = 0.0 if column == "direct" else 100 * p.gateway_cpu_s / p.elapsed_s
            others0 = max(0.0, p.cpu0_busy_pct - gateway)
            fake, load = (100 * s / p.elapsed_s for s in (p.fake_cpu_s, p.client_cpu_s))
            others1 = max(0.0, p.cpu1_busy_pct - fake - load)
            mark0 = "!" if others0 >= DISTURBED_PCT else ""
            mark1 = "*" if p.cpu1_busy_pct >= SATURATED_PCT else ""
            gateway_cpu.append(f"{gateway:.0f}+{others0:.0f}{mark0}")
            rig_cpu.append(f"{fake:.0f}+{load:.0f}+{others1:.0f}{mark1}")
        return tuple(gateway_cpu), tuple(rig_cpu)


def _latency_targets(clients: int) -> tuple[Target | None, Target | None]:
    """The added-latency targets at this concurrency: (p50, p99)."""
    if clients == 1:
        return Target("<= 0.6 ms", lambda v: v <= 0.6), Target("<= 1.5 ms", lambda v: v <= 1.5)
    if clients == 16:
        return None, Target("<= 3 ms", lambda v: v <= 3)
    return None, None


def _vs_proxy(figures: Figures, values: tuple[float, ...]) -> tuple[float, ...]:
    """Each value over the proxy column's (the floor), for the columns after it."""
    if "proxy" not in figures.columns:
        return (math.nan,) * len(values)
    floor = values[figures.columns.index("proxy")]
    return tuple(
        v / floor if c not in ("direct", "proxy") and floor > 0 else math.nan
        for c, v in zip(figures.columns, values, strict=True)
    )


def _per_second(cpu_us: tuple[float, ...]) -> tuple[float, ...]:
    """How many answers a second one CPU could give at this cost each."""
    return tuple(1e6 / v if v > 0 else math.nan for v in cpu_us)


def _plural(clients: int) -> str:
    return f"{clients} client{'s' if clients > 1 else ''}"


def json_section(figures: Figures, clients: int) -> Section:
    """Non-streaming requests at one concurrency (rate and CPU targets are judged at 16)."""
    p50_target, p99_target = _latency_targets(clients)
    at16 = clients == 16
    rate = Target(">= 3,000/s", lambda v: v >= 3000) if at16 else None
    cpu = Target("<= 300 us", lambda v: v <= 300) if at16 else None
    value = partial(figures.values, "json", clients)
    added = partial(figures.added, "json", clients)
    cpu_us = figures.gateway_cpu_us("json", clients)
    rows = [
        Row("requests/s", value(attrgetter("rate")), ",.0f", rate),
        Row("latency p50 (ms)", value(attrgetter("lat_p50_ms")), ".3f"),
        Row("latency p99 (ms)", value(attrgetter("lat_p99_ms")), ".3f"),
        Row("added p50 vs direct (ms)", added(attrgetter("lat_p50_ms")), ".3f", p50_target),
        Row("added p99 vs direct (ms)", added(attrgetter("lat_p99_ms")), ".3f", p99_target),
        Row("gateway CPU per request (us)", cpu_us, ".0f", cpu),
        Row("  x the proxy's", _vs_proxy(figures, cpu_us), ".2f"),
        Row("  1 s / that (/s)", _per_second(cpu_us), ",.0f"),
        *_common(figures, "json", clients, "fake CPU per request (us)"),
    ]
    return Section(f"Non-streaming, {_plural(clients)}", rows)


def stream_section(figures: Figures, clients: int, chunks: int) -> Section:
    """Streams at one concurrency: first chunk, last chunk, cost per stream."""
    p50_target, p99_target = _latency_targets(clients)
    cpu = Target("<= 400 us", lambda v: v <= 400) if clients == 16 else None
    value = partial(figures.values, "stream", clients)
    added = partial(figures.added, "stream", clients)
    cpu_us = figures.gateway_cpu_us("stream", clients)
    first50, first99 = attrgetter("first_p50_ms"), attrgetter("first_p99_ms")
    last50, last99 = attrgetter("lat_p50_ms"), attrgetter("lat_p99_ms")
    rows = [
        Row("streams/s", value(attrgetter("rate")), ",.0f"),
        Row("first chunk p50 (ms)", value(first50), ".3f"),
        Row("first chunk p99 (ms)", value(first99), ".3f"),
        Row("added first-chunk p50 (ms)", added(first50), ".3f", p50_target),
        Row("added first-chunk p99 (ms)", added(first99), ".3f", p99_target),
        Row("last chunk p50 (ms)", value(last50), ".3f"),
        Row("last chunk p99 (ms)", value(last99), ".3f"),
        Row("added last-chunk p50 (ms)", added(last50), ".3f"),
        Row("added last-chunk p99 (ms)", added(last99), ".3f"),
        Row("gateway CPU per stream (us)", cpu_us, ".0f", cpu),
        Row("  x the proxy's", _vs_proxy(figures, cpu_us), ".2f"),
        Row("  1 s / that (/s)", _per_second(cpu_us), ",.0f"),
        *_common(figures, "stream", clients, "fake CPU per stream (us)"),
    ]
    return Section(f"{chunks}-chunk streams, {_plural(clients)}", rows)


def _common(figures: Figures, mode: Mode, clients: int, fake_label: str) -> list[Row]:
    """The rows every section ends with: the fake's cost, the gateway's RSS, CPU use."""
    fake_us = figures.values(mode, clients, lambda p: p.per_request_us(p.fake_cpu_s))
    rss = figures.values(mode, clients, attrgetter("rss_mb"))
    rss = tuple(math.nan if c == "direct" else v for c, v in zip(figures.columns, rss, strict=True))
    cpu0, cpu1 = figures.cpu_cells(mode, clients)
    none = (math.nan,) * len(cpu0)
    return [
        Row(fake_label, fake_us, ".0f"),
        Row("gateway RSS after (MB)", rss, ".1f"),
        Row("CPU 0 %: gateway+others", none, "", cells=cpu0),
        Row("CPU 1 %: fake+load gen+others", none, "", cells=cpu1),
    ]


def _kb_per_stream(held: OpenStreams) -> float:
    return (held.rss_open_mb - held.rss_before_mb) / held.wanted * 1e3


def _us_per_stream(held: OpenStreams) -> float:
    return held.gateway_cpu_s / held.wanted * 1e6


def open_streams_section(held: Sequence[OpenStreams], chunks: int, delay_ms: int) -> Section:
    """The many-open-streams figures, one column per endpoint they went through (the
    targets are the daemon's)."""
    wanted = max(h.wanted for h in held)
    rss = Target("< 250 MB", lambda v: v < 250)
    every = Target(f"= {wanted:,}", lambda v: v >= wanted)

    def figure(of: Callable[[OpenStreams], float]) -> tuple[float, ...]:
        return tuple(of(h) for h in held)

    rows = [
        Row("streams open at once", figure(attrgetter("open_at_once")), ",.0f", every),
        Row("streams completed correctly", figure(attrgetter("completed")), ",.0f", every),
        Row("time to open them all (s)", figure(attrgetter("ramp_s")), ".2f"),
        Row("RSS before (MB)", figure(attrgetter("rss_before_mb")), ".1f"),
        Row("RSS while all open, max (MB)", figure(attrgetter("rss_open_mb")), ".1f", rss),
        Row("RSS after they ended (MB)", figure(attrgetter("rss_after_mb")), ".1f"),
        Row("RSS per open stream (kB)", figure(_kb_per_stream), ".1f"),
        Row("gateway CPU per slow stream (us)", figure(_us_per_stream), ".0f"),
    ]
    title = f"{wanted:,} slow streams open at once ({chunks} chunks, {delay_ms} ms apart)"
    return Section(title, rows)
