"""One provider's attempts at a call: its circuit breaker, retries, key rotation, token
renewal, and the call's total time limit.

Shared by every API call the router makes, translated (:meth:`daemon.routing.Router.chat`)
or forwarded whole (:meth:`daemon.routing.Router.forward`): an ``attempt`` is one request to a
target, and everything here decides whether and where to make the next one. On a retryable
failure before any output reached the client: wait (exponential backoff with jitter, at least
``Retry-After``) and try again, rotating to the next key on 429; a refused login token is
renewed once. Each attempt is written into the call's route.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

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
from daemon.reliability import Breaker, Cutoff, backoff_s
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
) -> tuple[Target, T]:
    """``attempt`` behind the provider's circuit breaker, with retries (``check`` first:
    what the provider's family cannot take)."""
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
        done = await _with_retries(router, target, credentials, attempt, state, route)
    except UpstreamError as exc:
        _record_breaker(breaker, exc)
        raise
    except BaseException:  # not the provider's fault, cancelled, or out of time
        breaker.abandon()
        raise
    breaker.succeeded()
    return done


async def _with_retries(
    router: Router,
    target: Target,
    credentials: Credentials,
    attempt: Callable[[Target], Awaitable[T]],
    state: CallState,
    route: list[Attempt],
) -> tuple[Target, T]:
    keys = list(credentials.keys)
    key_index, failures = 0, 0
    renewable = credentials.oauth  # a vault login, or a token minted from a key
    while True:
        started = time.monotonic()
        try:
            done = await attempt(target)
        except UpstreamError as exc:
            hide_key(exc, target.key)
            log_attempt(route, target.provider.id, target.model, "api", started, exc)
            exc.data.setdefault("provider", target.provider.id)
            if renewable and isinstance(exc, UpstreamAuthFailed) and not state.started:
                renewable = False  # once: a token refused right after renewal is dead
                credentials = await _renewed(router.vault, target, credentials)
                target = router.target(target.provider, target.model, credentials)
                continue
            if state.started or not exc.retryable:
                raise
            if isinstance(exc, RateLimited) and key_index + 1 < len(keys):
                key_index += 1  # another key may have quota left: no need to wait
                target = dataclasses.replace(target, key=keys[key_index])
                continue
            failures += 1
            delay = backoff_s(router.policy, failures, exc.data.get("retryAfterMs"))
            if failures > router.policy.retries or _now() + delay >= state.deadline:
                raise  # out of retries, or the wait would outlast the call: this is the answer
            await asyncio.sleep(delay)
            continue
        log_attempt(route, target.provider.id, target.model, "api", started, None)
        return target, done


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


async def bounded(
    deadline: float, total_s: float, attempts: list[Attempt], work: Coroutine[Any, Any, T]
) -> T:
    """``work`` within the call's total time; a failure is logged once, with its attempts."""
    try:
        with Cutoff(deadline):
            return await work
    except TimeoutError:
        raise failed(over_time(total_s), attempts) from None
    except DaemonError as exc:
        raise failed(exc, attempts) from None


def over_time(total_s: float) -> UpstreamTimeout:
    """The error of a call that outlasted its total limit."""
    return UpstreamTimeout(f"the call took longer than {total_s:g}s", phase="total")


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
