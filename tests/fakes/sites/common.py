"""What every mock chat website shares (reference website-bridges.md §5.1, §5.4).

A site module (``tests/fakes/sites/zai``) builds on these; nothing here names a site.

- The echo answer engine: :func:`echo_answer`, :func:`thinking_text`, :func:`count_tokens`,
  :func:`chunk_text`.
- :class:`SiteConfig`: the knobs every site has (chunking, timing, step modes); a site's own
  frozen config dataclass extends it. :func:`config_from_env` fills one from
  ``<PREFIX><KNOB>`` environment variables.
- :class:`SiteState`: config, :class:`Clock`, :class:`Scenarios`, :class:`Recorder` and counters
  of one app; a site subclasses it (``apply`` for scenarios that act at once, ``reset``,
  ``snapshot``).
- :func:`recording_middleware` records every request outside ``/__mock__/`` as a
  :class:`Recorded`, reachable in handlers as ``request[RECORD]``; validation steps call
  :meth:`Recorded.check`, so ``/__mock__/requests`` says which step refused a request and why.
- :func:`send_frames` writes SSE frames with the timing knobs (:class:`StreamPlan`): first-byte
  delay, frame delay, frames cut across writes at seeded random offsets, stall, abort (TCP RST).
- :func:`control_routes`: ``GET /__mock__/state``, ``POST /__mock__/scenario``
  (``{"name", "params", "times"}``), ``POST /__mock__/reset``, ``GET /__mock__/requests``
  (``?path=<prefix>``), ``POST /__mock__/clock`` (``{"freeze_ms", "offset_ms"}``),
  ``POST /__mock__/config`` (knob changes).
- :class:`MockSite`: an app served on 127.0.0.1 and the handle tests use (``scenario``,
  ``reset``, ``requests``, ``configure``, ``set_clock``, ``wait_requests``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from aiohttp import web

from tests.fakes.serving import FakeServer
from tests.fakes.serving import reset as reset_connection

REPLY_MARKER = "Reply with exactly:"
CONTROL_PREFIX = "/__mock__/"
log = logging.getLogger("tests.fakes.sites")


def echo_answer(prompt: str) -> str:
    """The echo model's answer: the text after ``Reply with exactly:`` (stripped) when the
    prompt has it, else ``ECHO: <prompt>``."""
    _, marker, tail = prompt.partition(REPLY_MARKER)
    return tail.strip() if marker else f"ECHO: {prompt}"


def thinking_text(prompt: str) -> str:
    """The echo model's reasoning: one fixed sentence naming the prompt's length (with a
    non-ASCII dash, so split-UTF-8 streams always have a character to split)."""
    return f"The prompt is {len(prompt)} characters long \u2014 answering exactly as asked."


def count_tokens(text: str) -> int:
    """A deterministic token count: one per four characters, at least one."""
    return max(1, (len(text) + 3) // 4)


def chunk_text(text: str, size: int) -> list[str]:
    """``text`` in pieces of ``size`` characters (one empty piece for empty text)."""
    step = max(1, size)
    return [text[i : i + step] for i in range(0, len(text), step)] or [""]


class StepMode(StrEnum):
    """What a validation step does with a failure: refuse, let through and record, not check."""

    STRICT = "strict"
    WARN = "warn"
    OFF = "off"


class Outcome(StrEnum):
    """A validation step's verdict on one request."""

    PASS = "pass"
    FAIL = "fail"  # refused at this step
    WARN = "warn"  # failed, let through (the step is in warn mode)
    OFF = "off"  # not checked


@dataclass(frozen=True, slots=True)
class Verdict:
    step: str
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class SiteConfig:
    """The knobs every mock site has (§5.1 answer engine, §5.4 timing); times in ms.

    ``checks`` maps a validation step to ``strict|warn|off`` (a site documents its steps and
    their defaults).
    """

    chunk_chars: int = 40
    frame_delay_ms: float = 5.0
    instant: bool = False  # every delay is 0 (frames, first byte, slow page)
    first_byte_delay_ms: float = 0.0  # between the response headers and the first frame
    stall_after_frames: int | None = None  # pause the stream after this many frames ...
    stall_ms: float = 0.0  # ... for this long
    abort_after_frames: int | None = None  # reset the connection after this many frames
    slow_page_ms: float = 0.0  # hydration delay before the page's input appears
    split_frames: bool = True  # cut frames across writes at seeded random offsets
    seed: int = 0
    emit_done_sentinel: bool = False  # a trailing ``data: [DONE]``
    rpm_per_ip: int | None = None  # completions per minute per client address
    checks: Mapping[str, str] = field(default_factory=dict)

    def delay_s(self, ms: float) -> float:
        """``ms`` in seconds, or 0 in instant mode."""
        return 0.0 if self.instant else ms / 1000


C = TypeVar("C", bound=SiteConfig)


def config_from_env(cls: type[C], prefix: str, environ: Mapping[str, str] | None = None) -> C:
    """``cls()`` with every knob set in the environment as ``<prefix><KNOB>`` (e.g.
    ``MOCK_ZAI_FRAME_DELAY_MS=0``); values are read as JSON, else taken as plain strings."""
    env = os.environ if environ is None else environ
    changes: dict[str, Any] = {}
    for knob in dataclasses.fields(cls):
        raw = env.get(f"{prefix}{knob.name.upper()}")
        if raw is not None:
            try:
                changes[knob.name] = json.loads(raw)
            except ValueError:
                changes[knob.name] = raw
    return cls(**changes)


class Clock:
    """The server's time for its time checks: real time plus an offset, or frozen."""

    def __init__(self) -> None:
        self.frozen_ms: int | None = None
        self.offset_ms = 0.0

    def now(self) -> float:
        """Seconds since the epoch, as the server sees them."""
        if self.frozen_ms is not None:
            return self.frozen_ms / 1000
        return time.time() + self.offset_ms / 1000

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def set(self, *, freeze_ms: int | None = None, offset_ms: float = 0.0) -> None:
        """Freeze at ``freeze_ms`` (None: run) and shift running time by ``offset_ms``."""
        self.frozen_ms = freeze_ms
        self.offset_ms = offset_ms

    def as_json(self) -> dict[str, Any]:
        return {"now_ms": self.now_ms(), "frozen_ms": self.frozen_ms, "offset_ms": self.offset_ms}


@dataclass(frozen=True, slots=True)
class Scenario:
    """A switched-on failure mode; ``times`` is how many more matching requests it applies to
    (None: all of them until reset)."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    times: int | None = None

    def param(self, key: str, default: Any) -> Any:
        return self.params.get(key, default)


class Scenarios:
    """The active scenarios of one site; a request *takes* the one that applies to it."""

    def __init__(self, known: Iterable[str]) -> None:
        self.known = frozenset(known)
        self._active: dict[str, Scenario] = {}
        self.taken: Counter[str] = Counter()  # matching requests each scenario applied to

    def set(
        self, name: str, params: Mapping[str, Any] | None = None, times: int | None = None
    ) -> Scenario:
        """Switch ``name`` on (replacing its earlier setting); ValueError when unknown."""
        if name not in self.known:
            raise ValueError(f"unknown scenario {name!r}; known: {', '.join(sorted(self.known))}")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError("times must be a positive integer or null")
        scenario = Scenario(name, dict(params or {}), times)
        self._active[name] = scenario
        return scenario

    def active(self, name: str) -> Scenario | None:
        return self._active.get(name)

    def take(self, *names: str) -> Scenario | None:
        """The first active one of ``names``, one use spent (it ends when none are left)."""
        for name in names:
            scenario = self._active.get(name)
            if scenario is None:
                continue
            self.taken[name] += 1
            if scenario.times == 1:
                del self._active[name]
            elif scenario.times is not None:
                self._active[name] = dataclasses.replace(scenario, times=scenario.times - 1)
            return scenario
        return None

    def clear(self) -> None:
        self._active.clear()
        self.taken.clear()

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {"name": s.name, "params": dict(s.params), "times": s.times, "taken": self.taken[n]}
            for n, s in self._active.items()
        ]


@dataclass(eq=False, slots=True)
class Recorded:
    """One request the site received, the verdict of each validation step and what it sent."""

    seq: int
    at: float
    method: str
    path: str
    query: tuple[tuple[str, str], ...]  # in the order sent
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, else text, else None
    remote: str
    verdicts: list[Verdict] = field(default_factory=list)
    status: int | None = None
    response: bytearray = field(default_factory=bytearray)
    end: str = "open"  # complete | aborted (reset on purpose) | disconnected | error

    def param(self, name: str) -> str | None:
        """The first query value named ``name``."""
        return next((v for k, v in self.query if k == name), None)

    def outcome(self, step: str) -> Outcome | None:
        """The verdict of ``step``, if the request got that far."""
        return next((v.outcome for v in self.verdicts if v.step == step), None)

    def check(self, step: str, ok: bool, mode: StepMode, detail: str = "") -> bool:
        """Record ``step``'s verdict; True when the request must be refused at this step."""
        if mode is StepMode.OFF:
            outcome = Outcome.OFF
        elif ok:
            outcome = Outcome.PASS
        else:
            outcome = Outcome.WARN if mode is StepMode.WARN else Outcome.FAIL
            log.info("%s %s: step %s %s: %s", self.method, self.path, step, outcome, detail)
        self.verdicts.append(Verdict(step, outcome, "" if ok else detail))
        return outcome is Outcome.FAIL

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "query": [list(pair) for pair in self.query],
            "headers": self.headers,
            "body": self.body,
            "remote": self.remote,
            "verdicts": [dataclasses.asdict(v) for v in self.verdicts],
            "status": self.status,
            "response": self.response.decode("utf-8", "replace"),
            "end": self.end,
        }


class Recorder:
    """Every request of one site, in arrival order; tests wait on them without sleeping."""

    def __init__(self) -> None:
        self.records: list[Recorded] = []
        self._changed = asyncio.Event()

    def start(self, request: web.Request, body: Any, at: float) -> Recorded:
        rec = Recorded(
            seq=len(self.records) + 1,
            at=at,
            method=request.method,
            path=request.path,
            query=tuple(request.query.items()),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            remote=request.remote or "",
        )
        self.records.append(rec)
        return rec

    def finish(self, rec: Recorded, end: str) -> None:
        rec.end = end if rec.end == "open" else rec.end
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def select(self, path_prefix: str | None = None, *, ended: bool = False) -> list[Recorded]:
        """The records whose path starts with ``path_prefix``; only finished ones if ``ended``."""
        return [
            r
            for r in self.records
            if r.path.startswith(path_prefix or "/") and not (ended and r.end == "open")
        ]

    async def wait(
        self,
        path_prefix: str,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[Recorded]:
        """The finished records under ``path_prefix`` once there are ``count`` of them."""
        async with asyncio.timeout(timeout):
            while len(done := self.select(path_prefix, ended=True)) < count:
                await self._changed.wait()
        return done

    def clear(self) -> None:
        self.records.clear()


class SiteState(Generic[C]):
    """The state of one mock site; its handlers and the control plane share it."""

    def __init__(
        self, config: C, scenarios: Iterable[str], default_modes: Mapping[str, StepMode]
    ) -> None:
        self.initial = config
        self.config = config
        self.clock = Clock()
        self.scenarios = Scenarios(scenarios)
        self.recorder = Recorder()
        self.counters: Counter[str] = Counter()
        #: set on reset and stop: a stalled stream gives up its stall
        self.interrupt = asyncio.Event()
        self.default_modes = dict(default_modes)

    def mode(self, step: str) -> StepMode:
        """How ``step`` treats failures now (``config.checks``, else the site's default)."""
        return StepMode(self.config.checks.get(step, self.default_modes.get(step, "strict")))

    def set_scenario(
        self, name: str, params: Mapping[str, Any] | None = None, times: int | None = None
    ) -> Scenario:
        """Switch a scenario on and apply its immediate effects (ValueError when unknown)."""
        scenario = self.scenarios.set(name, params, times)
        self.apply(scenario)
        return scenario

    def apply(self, scenario: Scenario) -> None:
        """What a scenario does the moment it is set (most act per request instead)."""

    def configure(self, **changes: Any) -> C:
        """Replace knobs (TypeError for unknown ones)."""
        self.config = dataclasses.replace(self.config, **changes)
        return self.config

    def reset(self) -> None:
        """Back to the start: initial config, running clock, no scenarios or requests."""
        self.config = self.initial
        self.clock = Clock()
        self.scenarios.clear()
        self.recorder.clear()
        self.counters.clear()
        self.interrupt.set()
        self.interrupt = asyncio.Event()

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /__mock__/state`` answers; sites add their own entries."""
        return {
            "config": dataclasses.asdict(self.config),
            "scenarios": self.scenarios.as_json(),
            "clock": self.clock.as_json(),
            "counters": dict(self.counters),
            "requests": len(self.recorder.records),
        }


RECORD = web.RequestKey("mock_record", Recorded)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _parsed_body(request: web.Request) -> Any:
    if not request.can_read_body:
        return None
    raw = await request.read()
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def recording_middleware(state: SiteState[Any]) -> Any:
    """Record every request outside ``/__mock__/``, its status, body sent and how it ended."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        rec = state.recorder.start(request, await _parsed_body(request), state.clock.now())
        request[RECORD] = rec
        end = "error"
        try:
            response = await handler(request)
            rec.status = response.status
            if isinstance(response, web.Response) and isinstance(response.body, bytes):
                rec.response += response.body
            end = "complete"
            return response
        except web.HTTPException as exc:
            rec.status, end = exc.status, "complete"
            raise
        except asyncio.CancelledError:
            end = "disconnected"
            raise
        finally:
            state.recorder.finish(rec, end)

    return record


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """How :func:`send_frames` paces and cuts one stream (seconds)."""

    first_byte_delay_s: float = 0.0
    frame_delay_s: float = 0.0
    split: bool = True
    split_utf8: bool = False  # cut inside multi-byte characters wherever a frame has one
    stall_after: int | None = None
    stall_s: float = 0.0
    abort_after: int | None = None
    seed: int = 0

    @classmethod
    def of(cls, config: SiteConfig, **overrides: Any) -> StreamPlan:
        """The plan ``config``'s knobs give, with per-request ``overrides``."""
        plan = cls(
            first_byte_delay_s=config.delay_s(config.first_byte_delay_ms),
            frame_delay_s=config.delay_s(config.frame_delay_ms),
            split=config.split_frames,
            stall_after=config.stall_after_frames,
            stall_s=config.stall_ms / 1000,
            abort_after=config.abort_after_frames,
            seed=config.seed,
        )
        return dataclasses.replace(plan, **overrides)


def _pieces(frame: bytes, rng: random.Random, plan: StreamPlan) -> list[bytes]:
    if not plan.split or len(frame) < 2:
        return [frame]
    inside = [i for i in range(1, len(frame)) if 0x80 <= frame[i] < 0xC0]
    if plan.split_utf8 and inside:
        cuts = {rng.choice(inside)}
    else:
        cuts = {rng.randrange(1, len(frame)) for _ in range(rng.randint(0, 2))}
    bounds = [0, *sorted(cuts), len(frame)]
    return [frame[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


async def _pause(seconds: float, interrupt: asyncio.Event) -> None:
    if seconds <= 0:
        return
    try:
        async with asyncio.timeout(seconds):
            await interrupt.wait()
    except TimeoutError:
        pass


async def send_frames(
    request: web.Request,
    response: web.StreamResponse,
    frames: Sequence[bytes],
    plan: StreamPlan,
    interrupt: asyncio.Event,
) -> bool:
    """Write whole SSE ``frames`` on the prepared ``response`` as ``plan`` says; False when it
    reset the connection on purpose (``abort_after``). Bytes sent go to ``request[RECORD]``."""
    rec = request.get(RECORD)
    rng = random.Random(plan.seed)
    await _pause(plan.first_byte_delay_s, interrupt)
    for index, frame in enumerate(frames):
        if plan.abort_after is not None and index >= plan.abort_after:
            if rec is not None:
                rec.end = "aborted"
            reset_connection(request)
            return False
        if plan.stall_after is not None and index == plan.stall_after:
            await _pause(plan.stall_s, interrupt)
        if index:
            await _pause(plan.frame_delay_s, interrupt)
        for piece in _pieces(frame, rng, plan):
            await response.write(piece)
            if rec is not None:
                rec.response += piece
    return True


def control_routes(state: SiteState[Any]) -> list[web.RouteDef]:
    """The ``/__mock__/`` control plane of ``state``'s site (never used by a bridge)."""

    async def get_state(request: web.Request) -> web.Response:
        return web.json_response(state.snapshot())

    async def post_scenario(request: web.Request) -> web.Response:
        body = await _parsed_body(request)
        try:
            scenario = state.set_scenario(body["name"], body.get("params"), body.get("times"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"name": scenario.name, "times": scenario.times})

    async def post_reset(request: web.Request) -> web.Response:
        state.reset()
        return web.json_response({"ok": True})

    async def get_requests(request: web.Request) -> web.Response:
        records = state.recorder.select(request.query.get("path"))
        return web.json_response([r.as_json() for r in records])

    async def post_clock(request: web.Request) -> web.Response:
        body = await _parsed_body(request) or {}
        state.clock.set(freeze_ms=body.get("freeze_ms"), offset_ms=body.get("offset_ms", 0.0))
        return web.json_response(state.clock.as_json())

    async def post_config(request: web.Request) -> web.Response:
        try:
            state.configure(**(await _parsed_body(request) or {}))
        except TypeError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(state.snapshot()["config"])

    return [
        web.get("/__mock__/state", get_state),
        web.post("/__mock__/scenario", post_scenario),
        web.post("/__mock__/reset", post_reset),
        web.get("/__mock__/requests", get_requests),
        web.post("/__mock__/clock", post_clock),
        web.post("/__mock__/config", post_config),
    ]


S = TypeVar("S", bound=SiteState[Any])


class MockSite(FakeServer, Generic[S]):
    """A mock site's app and state, served on 127.0.0.1 while started; ``async with`` it."""

    def __init__(self, app: web.Application, state: S) -> None:
        self.app = app
        self.state = state
        self.base_url: str | None = None
        self._runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> str:
        runner = web.AppRunner(
            self.app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        self._runner = runner
        await web.TCPSite(runner, "127.0.0.1", port).start()
        bound = next(a for a in runner.addresses if isinstance(a, tuple))[1]
        self.base_url = f"http://127.0.0.1:{bound}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            self.state.interrupt.set()
            await self._runner.cleanup()
            self._runner = None

    def scenario(
        self, name: str, params: Mapping[str, Any] | None = None, times: int | None = None
    ) -> Scenario:
        """Switch a scenario on for the next ``times`` matching requests (None: all)."""
        return self.state.set_scenario(name, params, times)

    def reset(self) -> None:
        self.state.reset()

    def requests(self, path_prefix: str | None = None) -> list[Recorded]:
        """The recorded requests whose path starts with ``path_prefix``, oldest first."""
        return self.state.recorder.select(path_prefix)

    def configure(self, **changes: Any) -> SiteConfig:
        """Replace config knobs while serving."""
        config: SiteConfig = self.state.configure(**changes)
        return config

    def set_clock(self, *, freeze_ms: int | None = None, offset_ms: float = 0.0) -> None:
        """Freeze or shift the server's clock (signature window, token lifetimes)."""
        self.state.clock.set(freeze_ms=freeze_ms, offset_ms=offset_ms)

    async def wait_requests(
        self,
        path_prefix: str,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[Recorded]:
        """The finished requests under ``path_prefix`` once there are ``count`` of them."""
        return await self.state.recorder.wait(path_prefix, count, timeout)
