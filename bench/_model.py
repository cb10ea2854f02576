"""The data passed between the benchmark's processes, and the one statistic they share."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson


@dataclass(frozen=True, slots=True)
class Profile:
    """How long and how hard to drive a server; every loop stops at whichever limit comes first."""

    phase_s: float
    warmup_s: float
    max_requests: int
    repeats: int  # each phase runs this often per server, servers alternating; the best counts
    clients: int
    window: int
    cold_runs: int
    settle_s: float

    @classmethod
    def full(cls) -> Profile:
        """The real measurement: about a minute in all."""
        return cls(
            phase_s=2.0,
            warmup_s=0.4,
            max_requests=200_000,
            repeats=2,
            clients=32,
            window=256,
            cold_runs=5,
            settle_s=1.0,
        )

    @classmethod
    def quick(cls) -> Profile:
        """A smoke run: every code path, tiny budgets, about ten seconds."""
        return cls(
            phase_s=0.3,
            warmup_s=0.1,
            max_requests=20_000,
            repeats=1,
            clients=32,
            window=256,
            cold_runs=2,
            settle_s=0.2,
        )

    def to_json(self) -> str:
        """For the load generator's command line."""
        return orjson.dumps(self).decode()

    @classmethod
    def from_json(cls, text: str) -> Profile:
        """The inverse of :meth:`to_json`."""
        return cls(**orjson.loads(text))


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """One measured load phase against one server."""

    name: str
    count: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    server_cpu_pct: float = math.nan
    client_cpu_pct: float = math.nan
    other_cpu_pct: float = math.nan  # every other process on the machine, % of one core
    answer_bytes: int = 0
    failure: str | None = None

    @property
    def rate(self) -> float:
        """Answers per second over the phase's wall time."""
        return self.count / self.elapsed_s if self.elapsed_s > 0 else math.nan

    @property
    def server_us_per_request(self) -> float:
        """Server CPU time per answer (µs): unlike rates, barely moved by other processes."""
        if not self.count:
            return math.nan
        return self.server_cpu_pct / 100 * self.elapsed_s / self.count * 1e6

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhaseResult:
        names = {f.name for f in dataclasses.fields(cls)}
        # JSON has no NaN: orjson wrote the unmeasured figures as null.
        values: dict[str, Any] = {
            k: (math.nan if v is None and k != "failure" else v)
            for k, v in data.items()
            if k in names
        }
        return cls(**values)


class _Repetition(Protocol):
    @property
    def rate(self) -> float: ...

    @property
    def failure(self) -> str | None: ...


R = TypeVar("R", bound=_Repetition)


def better(a: R | None, b: R) -> R:
    """Of two repetitions, the faster: other processes on the machine only ever slow one."""
    if a is None or a.failure:
        return b
    return b if not b.failure and b.rate > a.rate else a


def percentile(sorted_values: list[int] | list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (nan when it is empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])
