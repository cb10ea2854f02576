"""One provider's attempts at a call: its circuit breaker, retries, key rotation, token
renewal, and the call's total time limit.

Shared by every API call the router makes, translated (:meth:`daemon.routing.Router.chat`)
or sent on whole (:mod:`daemon.lanes`): an ``attempt`` is one request to a
target, and everything here decides whether and where to make the next one. On a retryable
failure before any output reached the client: wait (exponential backoff with jitter, at least
``Retry-After``) and try again, rotating to the next key on 429; a refused login token is
renewed once. Each attempt is written into the call's route.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from daemon.adapters.types import Target
from daemon.auth.credentials import Credentials, Vault
from daemon.auth.records import DEFAULT_ACCOUNT
from daemon.errors import (
    CircuitOpen,
    DaemonError,
    RateLimited,
    RequestInvalid,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamTimeout,
)
from daemon.log import REDACTED, get_logger
from daemon.providers.model import Provider
from daemon.reliability import Breaker, backoff_s
from daemon.routes import Attempt, CallState, log_attempt, skipped

if TYPE_CHECKING:
    from daemon.routing import Router

log = get_logger("daemon.routing")
T = TypeVar("T")


async def guarded(
    router: Router,
    provider: Provider,
    model: str,
    credentials: Credentials,
    attempt: Callable[[Target], Awaitable[T]],
    state: CallState,
    route: list[Attempt],
    check: Callable[[], None] | None = None,
) -> T:
    """``attempt`` behind the provider's circuit breaker, retried as :class:`_Retries` says
    (``check`` first: what the provider's family cannot take). One coroutine, not one per
    concern: every level of awaits costs each read of a stream."""
    breaker = router.breaker(provider.id)
    if not breaker.allow():
        route.append(skipped(provider, model, "circuit open", via="api"))
        raise CircuitOpen(
            f"{provider.id} is failing",
            provider=provider.id,
            retryAfterMs=breaker.retry_after_ms(),
        )
    try:
        if not model:
            raise RequestInvalid(f"name a model for {provider.id}", field="model")
        if check is not None:
            check()
        target = router.target(provider, model, credentials)
        retries = _Retries(router, credentials, state)
        while True:
            started = time.monotonic()
            try:
                done = await attempt(target)
            except UpstreamError as exc:
                hide_key(exc, target.key)
                log_attempt(route, target.provider.id, target.model, "api", started, exc)
                exc.data.setdefault("provider", target.provider.id)
                target = await retries.next_target(exc, target)
                continue
            log_attempt(route, target.provider.id, target.model, "api", started, None)
            breaker.succeeded()
            return done
    except UpstreamError as exc:
        _record_breaker(breaker, exc)
        raise
    except BaseException:  # not the provider's fault, cancelled, or out of time
        breaker.abandon()
        raise


class _Retries:
    """What follows a failed attempt: its login renewed once (a refused token), the next key
    (a 429 with keys left), a wait and the same again (a retryable failure, while retries and
    time are left), or the failure as the answer. Nothing is retried once output began."""

    def __init__(self, router: Router, credentials: Credentials, state: CallState) -> None:
        self.router = router
        self.credentials = credentials
        self.state = state
        self.key_index = 0
        self.failures = 0
        self.renewable = credentials.oauth  # a vault login, or a token minted from a key

    async def next_target(self, exc: UpstreamError, target: Target) -> Target:
        """The target of the next attempt after ``exc``; raises ``exc`` when there is none."""
        router, state = self.router, self.state
        if self.renewable and isinstance(exc, UpstreamAuthFailed) and not state.started:
            self.renewable = False  # once: a token refused right after renewal is dead
            self.credentials = await _renewed(router.vault, target, self.credentials)
            return router.target(target.provider, target.model, self.credentials)
        if state.started or not exc.retryable:
            raise exc
        keys = self.credentials.keys
        if isinstance(exc, RateLimited) and self.key_index + 1 < len(keys):
            self.key_index += 1  # another key may have quota left: no need to wait
            return dataclasses.replace(target, key=keys[self.key_index])
        self.failures += 1
        delay = backoff_s(router.policy, self.failures, exc.data.get("retryAfterMs"))
        if self.failures > router.policy.retries or _now() + delay >= state.deadline:
            raise exc  # out of retries, or the wait would outlast the call: this is the answer
        await asyncio.sleep(delay)
        return target


async def _renewed(vault: Vault, target: Target, credentials: Credentials) -> Credentials:
    refused = credentials.login
    assert refused is not None
    provider = target.provider.id
    if credentials.source == "vault":
        login = await vault.renew(provider, DEFAULT_ACCOUNT, refused)
    else:  # a token minted from a config or env key (Copilot): mint another
        assert refused.secret_refresh is not None
        minted = await vault.exchanged(provider, refused.secret_refresh, refused)
        assert minted is not None
        login = minted
    return Credentials((login.bearer,), credentials.source, login)


def over_time(total_s: float) -> UpstreamTimeout:
    """The error of a call that outlasted its total limit."""
    return UpstreamTimeout(f"the call took longer than {total_s:g}s", phase="total")


def no_data(phase: str) -> UpstreamTimeout:
    """The error of an attempt whose provider went quiet (``phase``: first byte, idle)."""
    return UpstreamTimeout(f"no data from the provider ({phase} timeout)", phase=phase)


def _now() -> float:
    return asyncio.get_running_loop().time()


def hide_key(exc: UpstreamError, key: str | None) -> None:
    """Mask the call's own key in the provider's words: providers echo the key they refused,
    not always in a shape the log's scrubber recognizes (it knows only secret-shaped text)."""
    if key and exc.detail and key in exc.detail:
        exc.detail = exc.detail.replace(key, REDACTED)


def _record_breaker(breaker: Breaker, exc: UpstreamError) -> None:
    if exc.retryable:
        breaker.failed()
    else:
        breaker.abandon()


def failed(exc: DaemonError, route: list[Attempt]) -> DaemonError:
    """Log a failed call once (outcomes only: no messages, no keys) and attach its route."""
    log.warning(
        "chat_failed",
        error=type(exc).__name__,
        code=exc.code,
        attempts=[a["outcome"] for a in route],
    )
    exc.data["route"] = route
    return exc
