"""What the chat benchmark's processes pass each other: budgets, endpoints, and results.

Everything here is a frozen dataclass that goes through JSON (orjson writes dataclasses; NaN
becomes null and comes back as NaN through :func:`from_json`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Mode = Literal["json", "stream"]
WireName = Literal["chat", "messages", "responses"]  # the /v1 APIs (bench._wires)
T = TypeVar("T")
MODEL = "gpt-fake"  # the fake's model; streams add +chunks=N (see Endpoint.model_for)
API_KEY = "sk-bench-0000"  # the credential every client and gateway sends the fake


def from_json(cls: type[T], data: dict[str, Any]) -> T:
    """``cls(**data)`` for a dataclass, with null floats back to NaN and lists to tuples."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in fields:
            continue
        kind = str(fields[name].type)
        if value is None and kind.startswith("float"):
            value = math.nan
        elif isinstance(value, list) and kind.startswith("tuple"):
            value = tuple(value)
        values[name] = value
    return cls(**values)


@dataclass(frozen=True, slots=True)
class ChatProfile:
    """How long and how hard to drive each endpoint; every loop stops at its first limit."""

    phase_s: float
    warmup_s: float
    max_requests: int
    repeats: int  # each phase runs this often per endpoint, endpoints alternating; best counts
    concurrency: tuple[int, ...]
    chunks: int  # content chunks per stream
    open_streams: int  # streams held open at once through the daemon (and the proxy)
    open_chunks: int
    open_delay_ms: int  # the fake's pause between chunks, which keeps the streams open
    # Streams being opened at once (no content yet) during the ramp: under the daemon's
    # accept backlog, which is aiohttp's default of 128 (see the benchmark's report).
    open_window: int
    settle_s: float
    open_through: tuple[str, ...] = ("daemon-http",)  # the endpoints the open streams go through
    modes: tuple[Mode, ...] = ("json", "stream")
    # Chat Completions runs at every concurrency; the other wires at these (their targets').
    wires: tuple[WireName, ...] = ("chat", "messages", "responses")
    wire_clients: tuple[int, ...] = (1, 16)

    def runs(self, wire: WireName, clients: int) -> bool:
        """Whether ``wire`` is driven at ``clients``."""
        return wire in self.wires and (wire == "chat" or clients in self.wire_clients)

    @classmethod
    def full(cls) -> ChatProfile:
        """The real measurement: about two and a half minutes."""
        return cls(
            phase_s=1.5,
            warmup_s=0.3,
            max_requests=100_000,
            repeats=2,
            concurrency=(1, 16, 64),
            chunks=20,
            open_streams=1000,
            open_chunks=20,
            open_delay_ms=300,
            open_window=120,
            settle_s=0.5,
            open_through=("daemon-http", "proxy"),
        )

    @classmethod
    def quick(cls) -> ChatProfile:
        """A smoke run: every code path, tiny budgets, under half a minute."""
        return cls(
            phase_s=0.25,
            warmup_s=0.1,
            max_requests=5_000,
            repeats=1,
            concurrency=(1, 16, 64),
            chunks=20,
            open_streams=1000,
            open_chunks=20,
            open_delay_ms=200,
            open_window=120,
            settle_s=0.2,
        )


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One way to reach the fake: directly, or through a gateway, on one wire.

    ``wire`` is the API spoken (the same on both sides of a gateway); ``kind`` is ``http``
    (the wire's ``POST`` body, JSON or SSE answer) or ``ws`` (JSON-RPC ``chat.send`` over a
    WebSocket). ``address`` is ``["unix", path]`` or ``["tcp", host,
    port]``; ``model`` is what the requests name (for ``ws`` without the provider, which goes
    in ``provider``); streams add ``+chunks=N`` to it (see :meth:`model_for`). ``pid`` is the
    process whose CPU time and RSS count as the gateway's (for ``direct``: the fake's own).
    """

    name: str
    kind: Literal["http", "ws"]
    address: tuple[Any, ...]
    path: str
    host: str
    model: str
    pid: int
    provider: str | None = None
    wire: WireName = "chat"

    def model_for(self, chunks: int | None, delay_ms: int = 0) -> str:
        """The model string of a request: a stream asks the fake for ``chunks`` chunks, and
        for ``delay_ms`` between them."""
        if chunks is None:
            return self.model
        return self.model + f"+chunks={chunks}" + (f"+delay_ms={delay_ms}" if delay_ms else "")


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """One load phase against one endpoint. Latencies in ms; for streams ``lat_*`` is the time
    to the last chunk and ``first_*`` the time to the first content chunk."""

    endpoint: str
    mode: Mode
    clients: int
    wire: WireName = "chat"
    count: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    lat_p50_ms: float = math.nan
    lat_p99_ms: float = math.nan
    first_p50_ms: float = math.nan
    first_p99_ms: float = math.nan
    gateway_cpu_s: float = math.nan
    fake_cpu_s: float = math.nan
    client_cpu_s: float = math.nan
    cpu0_busy_pct: float = math.nan  # every process on the gateway's CPU
    cpu1_busy_pct: float = math.nan  # every process on the fake's and load generator's CPU
    rss_mb: float = math.nan
    failure: str | None = None
    first_error: str | None = None

    @property
    def key(self) -> str:
        """``json_16``, ``stream_1``, ..."""
        return f"{self.mode}_{self.clients}"

    @property
    def rate(self) -> float:
        """Answers per second over the phase's wall time."""
        return self.count / self.elapsed_s if self.elapsed_s > 0 and self.count else math.nan

    def per_request_us(self, cpu_s: float) -> float:
        """``cpu_s`` divided over the answers, in µs."""
        return cpu_s / self.count * 1e6 if self.count else math.nan


@dataclass(frozen=True, slots=True)
class OpenStreams:
    """Many slow streams held open through one endpoint at once, and its memory meanwhile."""

    endpoint: str
    wanted: int
    opened: int = 0  # streams whose first content chunk came
    open_at_once: int = 0  # of those, still open when the last one opened
    completed: int = 0  # streams that then ended correctly
    errors: int = 0
    ramp_s: float = math.nan
    rss_before_mb: float = math.nan
    rss_open_mb: float = math.nan  # the largest of the samples taken while all were open
    rss_after_mb: float = math.nan
    gateway_cpu_s: float = math.nan
    failure: str | None = None
    first_error: str | None = None


@dataclass
class Samples:
    """What one run of the clients saw; times in ns."""

    latencies: list[int] = field(default_factory=list)
    firsts: list[int] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    def failed(self, what: str) -> None:
        """Count one wrong or failed answer, keeping the first one's description."""
        self.errors += 1
        self.first_error = self.first_error or what
