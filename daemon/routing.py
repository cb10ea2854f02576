"""Every chat call goes through here: plan the candidates, then try them in order.

For one candidate (provider + model): skip it while its circuit is open; resolve its keys;
send; on a retryable failure before any output reached the client, wait (exponential backoff
with jitter, at least ``Retry-After``) and try again, rotating to the next key on 429. A
failure that another provider might not have moves on to the next candidate (model
fallbacks, then fallback providers). Once output has reached the client nothing is retried.
Each attempt is written into the result's ``route``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

import aiohttp

from daemon.adapters import adapter_for
from daemon.adapters.checks import check_stop, check_tools
from daemon.adapters.types import Assembly, ChatCall, Event, Target, Usage
from daemon.auth.credentials import Credentials, Vault, resolve
from daemon.auth.records import DEFAULT_ACCOUNT
from daemon.errors import (
    CircuitOpen,
    DaemonError,
    KeyRejected,
    RateLimited,
    RequestInvalid,
    Unsupported,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamTimeout,
)
from daemon.log import REDACTED, get_logger
from daemon.providers.lookup import Registry, template_fields
from daemon.providers.model import AuthStyle, Provider, Quirk
from daemon.reliability import Breaker, Deadline, Policy, backoff_s

Emit = Callable[[list[Event]], Awaitable[None]]  # the events of one upstream read
log = get_logger("daemon.routing")


class Attempt(TypedDict, total=False):
    provider: str
    model: str
    outcome: str  # "ok", or the error's class name, or "skipped: <why>"
    code: int
    status: int
    durationMs: int


class ChatResult(TypedDict):
    provider: str
    model: str
    message: dict[str, Any]
    finishReason: str
    usage: Usage
    route: list[Attempt]


@dataclass(slots=True)
class Router:
    """Shared by every call: the providers, the policy, the HTTP session and the breakers."""

    registry: Registry
    policy: Policy
    session: aiohttp.ClientSession
    vault: Vault
    environ: Mapping[str, str]
    breakers: dict[str, Breaker] = field(default_factory=dict)

    def breaker(self, provider_id: str) -> Breaker:
        if provider_id not in self.breakers:
            self.breakers[provider_id] = Breaker(
                self.policy.breaker_threshold, self.policy.breaker_cooldown_ms / 1000
            )
        return self.breakers[provider_id]

    def plan(self, provider_name: str | None, model: str | None) -> list[tuple[Provider, str]]:
        """The (provider, model) candidates for a call, in the order they will be tried."""
        model = model or self.policy.default_model
        provider_name = provider_name or self._routed(model) or self.policy.default_provider
        if provider_name is None:
            raise RequestInvalid("name a provider (or set [defaults].provider)", field="provider")
        first = self.registry.resolve(provider_name)
        model = model or self.registry.settings(first.id).default_model or first.default_model
        if not model:
            raise RequestInvalid(f"name a model for {first.id}", field="model")
        candidates = [(first, model)]
        for spec in self.policy.model_fallbacks.get(f"{first.id}/{model}", ()):
            name, _, fallback_model = spec.partition("/")
            candidates.append((self.registry.resolve(name), fallback_model or model))
        for name in self.policy.fallback_providers:
            provider = self.registry.resolve(name)
            fallback_model = (
                self.registry.settings(provider.id).default_model or provider.default_model or model
            )
            candidates.append((provider, fallback_model))
        unique: dict[tuple[str, str], tuple[Provider, str]] = {}
        for provider, candidate_model in candidates:
            unique.setdefault((provider.id, candidate_model), (provider, candidate_model))
        return list(unique.values())

    async def models(self, provider: Provider) -> tuple[str, list[str]]:
        """("live", ids) from the provider's /models, or ("catalog", hints) when that fails."""
        settings = self.registry.settings(provider.id)
        if not provider.has(Quirk.NO_MODELS_ENDPOINT) and provider.base_url is not None:
            try:
                credentials = await resolve(provider, settings, self.vault, self.environ)
                target = self.target(provider, "", credentials)
                adapter = adapter_for(provider.family)
                return "live", await adapter.models(
                    self.session, target, self.policy.connect_timeout_ms / 1000
                )
            except UpstreamError as exc:
                exc.data.setdefault("provider", provider.id)
                raise
            except DaemonError:
                pass  # no key, or no adapter yet: what the catalog and config say will do
        hints = [*settings.models, *filter(None, [settings.default_model, provider.default_model])]
        return "catalog", list(dict.fromkeys(hints))

    async def check_key(self, provider_id: str, key: str) -> bool:
        """Try ``key`` with the provider's cheapest call (its model list): True when it worked,
        False when the provider has no such call; KeyRejected when it refused the key."""
        provider = self.registry.resolve(provider_id)
        if provider.has(Quirk.NO_MODELS_ENDPOINT) or provider.base_url is None:
            return False
        try:
            adapter = adapter_for(provider.family)
            target = self.target(provider, "", Credentials((key,), "request"))
            await adapter.models(self.session, target, self.policy.connect_timeout_ms / 1000)
        except UpstreamAuthFailed:
            raise KeyRejected(f"{provider.id} refused the key", provider=provider.id) from None
        except Unsupported:
            return False
        return True

    def target(self, provider: Provider, model: str, credentials: Credentials) -> Target:
        """Where a request to ``provider`` goes; RequestInvalid when its base URL is unset."""
        if provider.base_url is None or provider.has(Quirk.NEEDS_CONFIG):
            wanted = "base_url"
            if provider.base_url_template:
                wanted += " (or " + ", ".join(template_fields(provider.base_url_template)) + ")"
            raise RequestInvalid(
                f"{provider.id} needs {wanted} in [providers.{provider.id}] of the config",
                field="provider",
            )
        options = self.registry.settings(provider.id).options
        key = credentials.keys[0]
        if credentials.login is None or not credentials.oauth:
            return Target(provider, provider.base_url, model, key, options=options)
        # A login's token goes as a bearer token, to the base URL the login named (qwen's
        # resource_url, Copilot's endpoint); its claims (account ids) reach the adapter.
        claims = credentials.login.claims
        bearer = dataclasses.replace(provider, auth=AuthStyle.BEARER)
        base_url = claims.get("base_url", provider.base_url)
        return Target(bearer, base_url, model, key, options={**options, **claims})

    def _routed(self, model: str | None) -> str | None:
        for prefix, provider in self.policy.model_routes:
            if model and model.startswith(prefix):
                return provider
        return None

    async def chat(
        self,
        candidates: list[tuple[Provider, str]],
        call: ChatCall,
        emit: Emit | None,
        request_key: str | None = None,
        timeout_ms: int | None = None,
    ) -> ChatResult:
        """Run ``call`` against the candidates; the first success wins."""
        route: list[Attempt] = []
        total_s = (timeout_ms or self.policy.total_timeout_ms) / 1000
        call_state = _CallState(emit, asyncio.get_running_loop().time() + total_s)
        try:
            async with asyncio.timeout(total_s):
                return await self._first_success(candidates, call, call_state, route, request_key)
        except TimeoutError:
            error = UpstreamTimeout(f"the call took longer than {total_s:g}s", phase="total")
            raise _failed(error, route) from None
        except DaemonError as exc:
            raise _failed(exc, route) from None

    async def _first_success(
        self,
        candidates: list[tuple[Provider, str]],
        call: ChatCall,
        state: _CallState,
        route: list[Attempt],
        request_key: str | None,
    ) -> ChatResult:
        last: DaemonError | None = None
        images = call.has_images()
        for provider, model in candidates:
            if images and provider.has(Quirk.TEXT_ONLY):
                last = Unsupported(f"{provider.id} does not accept images", provider=provider.id)
                route.append(
                    {"provider": provider.id, "model": model, "outcome": "skipped: no image input"}
                )
                continue
            breaker = self.breaker(provider.id)
            if not breaker.allow():
                last = CircuitOpen(
                    f"{provider.id} is failing",
                    provider=provider.id,
                    retryAfterMs=breaker.retry_after_ms(),
                )
                route.append(
                    {"provider": provider.id, "model": model, "outcome": "skipped: circuit open"}
                )
                continue
            try:
                credentials = await resolve(
                    provider,
                    self.registry.settings(provider.id),
                    self.vault,
                    self.environ,
                    request_key,
                )
                check_tools(call.tools, provider.family)
                check_stop(call.stop, provider.family)
                target = self.target(provider, model, credentials)
                result = await self._with_retries(target, credentials, call, state, route)
            except UpstreamError as exc:
                _record_breaker(breaker, exc)
                if state.started or not exc.falls_back:
                    raise
                last = exc
                continue
            except DaemonError as exc:  # no credentials, unsupported family: try the next one
                breaker.abandon()
                route.append(
                    {
                        "provider": provider.id,
                        "model": model,
                        "outcome": f"skipped: {type(exc).__name__}",
                        "code": exc.code,
                    }
                )
                last = exc
                continue
            except BaseException:  # cancelled, or out of time: no verdict on the provider
                breaker.abandon()
                raise
            breaker.succeeded()
            return result
        assert last is not None
        raise last

    async def _with_retries(
        self,
        target: Target,
        credentials: Credentials,
        call: ChatCall,
        state: _CallState,
        route: list[Attempt],
    ) -> ChatResult:
        keys = list(credentials.keys)
        key_index, failures = 0, 0
        renewable = credentials.oauth  # a vault login, or a token minted from a key
        while True:
            started = time.monotonic()
            try:
                assembly = await self._once(target, call, state)
            except UpstreamError as exc:
                _hide_key(exc, target.key)
                _log_attempt(route, target, started, exc)
                exc.data.setdefault("provider", target.provider.id)
                if renewable and isinstance(exc, UpstreamAuthFailed) and not state.started:
                    renewable = False  # once: a token refused right after renewal is dead
                    credentials = await self._renewed(target, credentials)
                    target = self.target(target.provider, target.model, credentials)
                    continue
                if state.started or not exc.retryable:
                    raise
                if isinstance(exc, RateLimited) and key_index + 1 < len(keys):
                    key_index += 1  # another key may have quota left: no need to wait
                    target = dataclasses.replace(target, key=keys[key_index])
                    continue
                failures += 1
                delay = backoff_s(self.policy, failures, exc.data.get("retryAfterMs"))
                if failures > self.policy.retries or _now() + delay >= state.deadline:
                    raise  # out of retries, or the wait would outlast the call: this is the answer
                await asyncio.sleep(delay)
                continue
            _log_attempt(route, target, started, None)
            return {
                "provider": target.provider.id,
                "model": target.model,
                "message": assembly.message(),
                "finishReason": assembly.finish_reason(),
                "usage": assembly.usage,
                "route": route,
            }

    async def _renewed(self, target: Target, credentials: Credentials) -> Credentials:
        refused = credentials.login
        assert refused is not None
        provider = target.provider.id
        if credentials.source == "vault":
            login = await self.vault.renew(provider, DEFAULT_ACCOUNT, refused)
        else:  # a token minted from a config or env key (Copilot): mint another
            assert refused.secret_refresh is not None
            minted = await self.vault.exchanged(provider, refused.secret_refresh, refused)
            assert minted is not None
            login = minted
        return Credentials((login.bearer,), credentials.source, login)

    async def _once(self, target: Target, call: ChatCall, state: _CallState) -> Assembly:
        """One request; first-byte and idle limits wrap the whole loop, never a yield."""
        adapter = adapter_for(target.provider.family)
        assembly = Assembly()
        policy = self.policy
        events = adapter.stream(self.session, target, call, policy.connect_timeout_ms / 1000)
        try:
            async with asyncio.timeout(None) as limit:
                with Deadline(limit, policy) as deadline:
                    async for batch in events:
                        for event in batch:
                            assembly.add(event)
                        if state.emit is not None:
                            deadline.pause()  # a slow client is not a slow provider
                            state.started = True
                            await state.emit(batch)
                        deadline.renew()
        except TimeoutError:
            phase = "idle" if state.started or assembly.text else "first byte"
            raise UpstreamTimeout(
                f"no data from the provider ({phase} timeout)", phase=phase
            ) from None
        finally:
            await events.aclose()
        return assembly


@dataclass(slots=True)
class _CallState:
    emit: Emit | None
    deadline: float  # loop time at which the call's total timeout fires
    started: bool = False


def _now() -> float:
    return asyncio.get_running_loop().time()


def _hide_key(exc: UpstreamError, key: str | None) -> None:
    """Mask the call's own key in the provider's words: providers echo the key they refused,
    not always in a shape the log's scrubber recognizes (it knows only secret-shaped text)."""
    if key and exc.detail and key in exc.detail:
        exc.detail = exc.detail.replace(key, REDACTED)


def _record_breaker(breaker: Breaker, exc: UpstreamError) -> None:
    if exc.retryable:
        breaker.failed()
    else:
        breaker.abandon()


def _log_attempt(
    route: list[Attempt], target: Target, started: float, exc: DaemonError | None
) -> None:
    attempt: Attempt = {
        "provider": target.provider.id,
        "model": target.model,
        "outcome": "ok" if exc is None else type(exc).__name__,
        "durationMs": int((time.monotonic() - started) * 1000),
    }
    if exc is not None:
        attempt["code"] = exc.code
        if "status" in exc.data:
            attempt["status"] = exc.data["status"]
    route.append(attempt)


def _failed(exc: DaemonError, route: list[Attempt]) -> DaemonError:
    """Log a failed call once (outcomes only: no messages, no keys) and attach its route."""
    log.warning(
        "chat_failed",
        error=type(exc).__name__,
        code=exc.code,
        attempts=[a["outcome"] for a in route],
    )
    exc.data["route"] = route
    return exc
