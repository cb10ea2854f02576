"""Render figures as a table: daemon, baseline, their ratio, and the target with met/missed."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Target:
    """A goal for the daemon's figure, e.g. ``Target("< 5 ms", lambda v: v < 5)``."""

    text: str
    met: Callable[[float], bool]


@dataclass(frozen=True, slots=True)
class Row:
    """One figure: a label, the daemon's and the baseline's value, how to print them."""

    label: str
    daemon: float
    baseline: float
    fmt: str
    target: Target | None = None

    @property
    def ratio(self) -> float:
        """daemon / baseline (nan when the baseline has no figure)."""
        if self.baseline == 0 or math.isnan(self.baseline):
            return math.nan
        return self.daemon / self.baseline

    def verdict(self) -> str | None:
        """'met', 'missed', or None when there is no target (or no figure)."""
        if self.target is None:
            return None
        if math.isnan(self.daemon):
            return "missed"
        return "met" if self.target.met(self.daemon) else "missed"


Section = tuple[str, list[Row]]
_WIDTHS = (34, 10, 10, 8, 14)


def number(value: float, fmt: str) -> str:
    """``value`` formatted, or ``-`` when it was not measured."""
    return "-" if math.isnan(value) else format(value, fmt)


def render(sections: list[Section]) -> str:
    """The table, one heading per section; ratio is daemon / baseline."""
    head = ("figure", "daemon", "baseline", "ratio", "target")
    lines = [_line(head), _line(tuple("-" * w for w in _WIDTHS))]
    for title, rows in sections:
        lines.append(title)
        for row in rows:
            verdict = row.verdict()
            target = f"{row.target.text} {verdict}" if row.target and verdict else ""
            ratio = number(row.ratio, ".2f") + ("x" if not math.isnan(row.ratio) else "")
            lines.append(
                _line(
                    (
                        "  " + row.label,
                        number(row.daemon, row.fmt),
                        number(row.baseline, row.fmt),
                        ratio,
                        target,
                    )
                )
            )
    return "\n".join(lines)


def _line(cells: tuple[str, ...]) -> str:
    label, daemon, baseline, ratio, target = cells
    w = _WIDTHS
    line = f"{label:<{w[0]}} {daemon:>{w[1]}} {baseline:>{w[2]}} {ratio:>{w[3]}}   {target}"
    return line.rstrip()


def targets_summary(sections: list[Section]) -> str:
    """``Targets met: 5 of 9 (informational)``, then one line per missed target."""
    verdicts = [(title, row) for title, rows in sections for row in rows if row.verdict()]
    missed = [
        f"  missed: {title}: {row.label}" for title, row in verdicts if row.verdict() == "missed"
    ]
    met = len(verdicts) - len(missed)
    return "\n".join([f"Targets met: {met} of {len(verdicts)} (informational)", *missed])
