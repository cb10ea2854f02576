"""The daemon's /v1 figures beside the floor's: the bare proxy on the same wire, in the same run.

For each wire the daemon serves (:mod:`bench._wires`), four figures of its ``daemon-http``
column over the ``proxy`` column's, each judged against its target (issue 10, item 5):

- added p50 at 1 client (the endpoint's p50 minus ``direct``'s on that wire): at most 1.2x;
- non-streamed answers per second at 16 clients: at least 0.85x;
- streamed answers per second at 16 clients: at least 0.95x;
- non-streamed p99 at 16 clients (the whole latency, not the added one): at most 1.5x;

and, not judged, the gateway's CPU per stream at 16 clients: when the fake and the load
generator saturate their CPU in both phases, streams/s follows the fake's cost per stream, and
this ratio is the gateway's own.

The table reuses :mod:`bench._chatreport`'s rows, with ``daemon``, ``proxy`` and ``ratio``
as its columns; only ``ratio`` is judged, so :func:`bench._chatreport.targets_summary` counts
these targets with the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from bench._chatmodel import Mode, PhaseResult, WireName
from bench._chatreport import Figures, Row, Section, Target, number
from bench._wires import WIRES

COLUMNS = ("daemon", "proxy", "ratio")
DAEMON, FLOOR = "daemon-http", "proxy"


@dataclass(frozen=True, slots=True)
class FloorFigure:
    """One compared figure: how it is read off the phases, and its target on the ratio."""

    label: str
    mode: Mode
    clients: int
    read: Callable[[Figures, Mode, int], tuple[float, ...]]
    fmt: str
    target: Target | None


def _added_p50(figures: Figures, mode: Mode, clients: int) -> tuple[float, ...]:
    return figures.added(mode, clients, attrgetter("lat_p50_ms"))


def _rate(figures: Figures, mode: Mode, clients: int) -> tuple[float, ...]:
    return figures.values(mode, clients, attrgetter("rate"))


def _p99(figures: Figures, mode: Mode, clients: int) -> tuple[float, ...]:
    return figures.values(mode, clients, attrgetter("lat_p99_ms"))


def _at_most(ratio: float) -> Target:
    return Target(f"<= {ratio:g}x", lambda v: v <= ratio, ("ratio",))


def _at_least(ratio: float) -> Target:
    return Target(f">= {ratio:g}x", lambda v: v >= ratio, ("ratio",))


FIGURES = (
    FloorFigure("added p50, 1 client (ms)", "json", 1, _added_p50, ".3f", _at_most(1.2)),
    FloorFigure("requests/s, 16 clients", "json", 16, _rate, ",.0f", _at_least(0.85)),
    FloorFigure("streams/s, 16 clients", "stream", 16, _rate, ",.0f", _at_least(0.95)),
    FloorFigure("p99, 16 clients (ms)", "json", 16, _p99, ".2f", _at_most(1.5)),
    FloorFigure(
        "CPU per stream, 16 clients (us)", "stream", 16, Figures.gateway_cpu_us, ",.0f", None
    ),
)


def _row(figure: FloorFigure, figures: Figures) -> Row:
    values = dict(
        zip(figures.columns, figure.read(figures, figure.mode, figure.clients), strict=True)
    )
    daemon, floor = values.get(DAEMON, math.nan), values.get(FLOOR, math.nan)
    ratio = daemon / floor if floor > 0 else math.nan
    cells = (number(daemon, figure.fmt), number(floor, figure.fmt), number(ratio, ".2f") + "x")
    # The format is the ratio's: the one judged, and the one a missed target is quoted with.
    return Row(figure.label, (daemon, floor, ratio), ".2f", figure.target, cells)


def floor_sections(
    phases: Sequence[PhaseResult], columns: dict[WireName, list[str]]
) -> list[Section]:
    """One section per wire that has both a daemon and a proxy column."""
    sections = []
    for wire, names in columns.items():
        if DAEMON not in names or FLOOR not in names:
            continue
        figures = Figures(phases, names, wire)
        rows = [_row(figure, figures) for figure in FIGURES]
        sections.append(Section(f"POST {WIRES[wire].path}", rows))
    return sections
