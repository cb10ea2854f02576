"""``[reliability]``, ``[defaults]`` and ``[[model_routes]]``: the routing policy as data.

Also the two small mechanisms the policy drives: exponential backoff with full jitter, and a
per-provider circuit breaker (open after N consecutive failures, one probe when it half-opens).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
