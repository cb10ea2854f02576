"""``[reliability]``, ``[defaults]`` and ``[[model_routes]]``: the routing policy as data.

Also the two small mechanisms the policy drives: exponential backoff with full jitter, and a
per-provider circuit breaker (open after N consecutive failures, one probe when it half-opens).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from daemon.errors import ConfigInvalid

# The accepted range of each number; its default is the Policy field's.
_NUMBERS = {
    "retries": (0, 10),
    "backoff_ms": (0, 60_000),
    "backoff_max_ms": (0, 300_000),
    "breaker_threshold": (1, 1000),
    "breaker_cooldown_ms": (0, 3_600_000),
    "connect_timeout_ms": (1, 600_000),
    "first_byte_timeout_ms": (1, 3_600_000),
    "idle_timeout_ms": (1, 3_600_000),
    "total_timeout_ms": (1, 86_400_000),
}


@dataclass(frozen=True, slots=True)
class Policy:
    """How chat calls are routed, retried and timed out."""

    retries: int = 2
    backoff_ms: int = 500
    backoff_max_ms: int = 8_000
    breaker_threshold: int = 5
    breaker_cooldown_ms: int = 30_000
    connect_timeout_ms: int = 10_000
    first_byte_timeout_ms: int = 120_000
    idle_timeout_ms: int = 60_000
    total_timeout_ms: int = 600_000
    fallback_providers: tuple[str, ...] = ()
    model_fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    model_routes: tuple[tuple[str, str], ...] = ()  # (model-name prefix, provider)
    default_provider: str | None = None
    default_model: str | None = None


_DEFAULT = Policy()


def load_policy(sections: Mapping[str, Any], source: str) -> Policy:
    """The policy from config sections; ConfigInvalid names the key that is wrong."""
    table = sections.get("reliability", {})
    if not isinstance(table, dict):
        raise ConfigInvalid(source, "reliability", "must be a table")
    known = {*_NUMBERS, "fallback_providers", "model_fallbacks"}
    for key in table:
        if key not in known:
            raise ConfigInvalid(
                source, f"reliability.{key}", f"unknown key; known: {', '.join(sorted(known))}"
            )
    numbers = {key: _number(table, key, source) for key in _NUMBERS}
    defaults = sections.get("defaults", {})
    return Policy(
        **numbers,
        fallback_providers=_strings(
            table.get("fallback_providers", []), source, "reliability.fallback_providers"
        ),
        model_fallbacks=_fallbacks(table.get("model_fallbacks", {}), source),
        model_routes=_routes(sections.get("model_routes", []), source),
        default_provider=_optional_str(defaults, "provider", source),
        default_model=_optional_str(defaults, "model", source),
    )


def _number(table: Mapping[str, Any], key: str, source: str) -> int:
    low, high = _NUMBERS[key]
    value = table.get(key, getattr(_DEFAULT, key))
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigInvalid(
            source, f"reliability.{key}", f"must be a whole number from {low} to {high}"
        )
    return value


def _strings(value: Any, source: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigInvalid(source, key, "must be a list of non-empty strings")
    return tuple(value)


def _fallbacks(value: Any, source: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise ConfigInvalid(
            source, "reliability.model_fallbacks", 'must map "provider/model" to a list'
        )
    return {
        str(k): _strings(v, source, f"reliability.model_fallbacks.{k}") for k, v in value.items()
    }


def _routes(value: Any, source: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise ConfigInvalid(source, "model_routes", "must be an array of tables ([[model_routes]])")
    routes = []
    for index, route in enumerate(value):
        if (
            not isinstance(route, dict)
            or not isinstance(route.get("prefix"), str)
            or not isinstance(route.get("provider"), str)
        ):
            raise ConfigInvalid(
                source, f"model_routes[{index}]", 'needs prefix = "..." and provider = "..."'
            )
        routes.append((route["prefix"], route["provider"]))
    # The longest matching prefix wins, so more specific routes may follow general ones.
    return tuple(sorted(routes, key=lambda r: -len(r[0])))


def _optional_str(table: Any, key: str, source: str) -> str | None:
    value = table.get(key) if isinstance(table, dict) else None
    if value is not None and not isinstance(value, str):
        raise ConfigInvalid(source, f"defaults.{key}", "must be a string")
    return value


def backoff_s(
    policy: Policy,
    attempt: int,
    retry_after_ms: int | None,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): full jitter, at least Retry-After."""
    ceiling = min(float(policy.backoff_max_ms), policy.backoff_ms * 2.0 ** (attempt - 1))
    wait_ms = ceiling * rng()
    if retry_after_ms is not None:
        wait_ms = max(wait_ms, float(retry_after_ms))
    return wait_ms / 1000


@dataclass(slots=True)
class Breaker:
    """One provider's circuit: closed, open for ``cooldown`` after N failures, then one probe."""

    threshold: int
    cooldown_s: float
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    def allow(self) -> bool:
        """Whether a call may go out now (in half-open state, only the first one does)."""
        if self.opened_at is None:
            return True
        if self.clock() - self.opened_at < self.cooldown_s or self.probing:
            return False
        self.probing = True
        return True

    def retry_after_ms(self) -> int:
        if self.opened_at is None:
            return 0
        return max(0, int((self.opened_at + self.cooldown_s - self.clock()) * 1000))

    def abandon(self) -> None:
        """The call went neither way (cancelled, out of time): let the next one probe."""
        self.probing = False

    def succeeded(self) -> None:
        self.failures, self.opened_at, self.probing = 0, None, False

    def failed(self) -> None:
        self.failures += 1
        self.probing = False
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = self.clock()


class Cutoff:
    """``asyncio.timeout`` for the running task, as a plain ``with`` block.

    :meth:`expire` (called by the timer when a deadline on the loop's clock is given, or by a
    :class:`Deadline`) cancels the task; leaving the block turns that cancellation into
    TimeoutError unless someone else cancelled the task too, exactly as ``asyncio.timeout``
    does. That one costs 3.5 us entered and left, 6.5 us with a deadline (its awaitable enter
    and exit, its state machine), on every call; this is a timer handle and two calls.
    """

    __slots__ = ("_cancelling", "_timer", "_task", "_when", "expired")

    def __init__(self, when: float | None = None) -> None:
        task = asyncio.current_task()
        assert task is not None, "a cutoff cancels the task it runs in"
        self._task = task
        self._when = when
        self._cancelling = 0
        self._timer: asyncio.TimerHandle | None = None
        self.expired = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the task runs on (on Python 3.11 each ``get_running_loop`` is a getpid)."""
        return self._task.get_loop()

    def __enter__(self) -> Cutoff:
        self._cancelling = self._task.cancelling()
        if self._when is not None:
            self._timer = self._task.get_loop().call_at(self._when, self.expire)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if (
            self.expired
            and self._task.uncancel() <= self._cancelling
            and kind is asyncio.CancelledError
        ):
            raise TimeoutError from exc

    def expire(self) -> None:
        """Cancel the task now (once)."""
        if not self.expired:
            self.expired = True
            self._task.cancel()


class Deadline:
    """The first-byte, then idle, limit of one attempt, for the price of a float per read.

    Moving a timeout on every event cancels one timer and schedules another (twice per event
    when a client is streaming: paused, then renewed). Here renewing only records the time;
    one watchdog timer wakes when the limit would have expired, re-arms for the limit as it
    stands by then, and expires its :class:`Cutoff` (which does the cancelling) only when no
    data came for that long. Paused, it never expires.

    No renewal ever has to move the watchdog either: it never sleeps longer than the idle
    limit, and a renewal at ``t`` sets the limit to ``t`` plus that (no earlier than the
    watchdog's wake). Before the first byte it so wakes every idle period on its way to the
    first-byte limit (once, with the defaults).
    """

    __slots__ = ("_at", "_idle_s", "_limit", "_loop", "_paused", "_timer")

    def __init__(self, limit: Cutoff, policy: Policy) -> None:
        self._limit = limit
        self._loop = limit.loop
        self._idle_s = policy.idle_timeout_ms / 1000
        self._paused = False
        self._at = self._loop.time() + policy.first_byte_timeout_ms / 1000
        self._timer: asyncio.TimerHandle | None = None

    def __enter__(self) -> Deadline:
        self._arm(self._loop.time())
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def pause(self) -> None:
        self._paused = True

    def renew(self) -> None:
        self._paused = False
        self._at = self._loop.time() + self._idle_s

    def _arm(self, now: float) -> None:
        wake = now + self._idle_s if self._paused else min(self._at, now + self._idle_s)
        self._timer = self._loop.call_at(wake, self._check)

    def _check(self) -> None:
        now = self._loop.time()
        if self._paused or now < self._at:
            self._arm(now)
        else:
            self._timer = None
            self._limit.expire()
