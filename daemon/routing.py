"""Every chat call goes through here: plan the candidates, then try them in order.

For one candidate (provider + model): skip it while its circuit is open; resolve its keys;
send; on a retryable failure before any output reached the client, wait (exponential backoff
with jitter, at least ``Retry-After``) and try again, rotating to the next key on 429. A
failure that another provider might not have moves on to the next candidate (model
fallbacks, then fallback providers). Once output has reached the client nothing is retried.
Each attempt is written into the result's ``route``.

A candidate a website bridge serves (chat.send's ``route``: "bridge", or "auto" when no
credential resolves for a provider with a bridge) takes :func:`daemon.routes.via_bridge`
instead: no retries or breaker there (the bridge recovers what a reload fixes, once), but a
failure before any output still moves on to the next candidate.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp

from daemon.adapters import adapter_for, counter_for
from daemon.adapters.checks import check_stop, check_tools
from daemon.adapters.tokens import estimate_input_tokens, provider_count
from daemon.adapters.types import Assembly, ChatCall, Target
from daemon.auth.credentials import Credentials, Vault, resolve
from daemon.auth.records import DEFAULT_ACCOUNT
from daemon.errors import (
    BridgeError,
    CircuitOpen,
    CredentialsMissing,
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
from daemon.reliability import Breaker, Cutoff, Deadline, Policy, backoff_s
from daemon.routes import (
    Attempt,
    BridgeService,
    CallState,
    ChatResult,
    Emit,
    Route,
    bridge_site,
    credentials_for,
    log_attempt,
    skipped,
    via_bridge,
)

log = get_logger("daemon.routing")


@dataclass(slots=True)
class Router:
    """Shared by every call: the providers, the policy, the HTTP session and the breakers."""

    registry: Registry
    policy: Policy
    session: aiohttp.ClientSession
    vault: Vault
    environ: Mapping[str, str]
    breakers: dict[str, Breaker] = field(default_factory=dict)
    bridges: BridgeService | None = None  # set while the daemon runs

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
        if not model and first.bridge is None:  # a bridge may use the site's own default
            raise RequestInvalid(f"name a model for {first.id}", field="model")
        model = model or ""
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
        """("live", ids) from the provider's /models, ("bridge", ids) read from its website
        when no credential resolves and it has a bridge, or ("catalog", hints)."""
        settings = self.registry.settings(provider.id)
        site = bridge_site(self.bridges, provider)
        if site is not None and self.bridges is not None:
            try:
                keyless = not await credentials_for(
                    provider, settings, self.vault, self.environ, bridges=self.bridges
                )
            except DaemonError:
                keyless = False  # a record it cannot read: the API path below says so
            if keyless:
                return "bridge", await self.bridges.models(site)
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

    async def count_tokens(
        self, provider: Provider, model: str, call: ChatCall, route: Route = Route.AUTO
    ) -> tuple[int, bool]:
        """(input tokens of ``call``, whether estimated): the provider's own count where its
        family has a counting call and a credential resolves, else the daemon's estimate."""
        counter = counter_for(provider.family)
        if counter is None or route is Route.BRIDGE or provider.base_url is None:
            return estimate_input_tokens(call), True
        try:
            settings = self.registry.settings(provider.id)
            credentials = await resolve(provider, settings, self.vault, self.environ)
        except CredentialsMissing:
            return estimate_input_tokens(call), True  # counting is no reason to demand a key
        target = self.target(provider, model, credentials)
        policy = self.policy
        try:
            counted = await provider_count(
                counter,
                self.session,
                target,
                call,
                policy.connect_timeout_ms / 1000,
                policy.total_timeout_ms / 1000,
            )
        except UpstreamError as exc:
            _hide_key(exc, target.key)
            exc.data.setdefault("provider", provider.id)
            raise
        if counted is None:
            log.info("count_estimated", provider=provider.id, reason="no counting endpoint")
            return estimate_input_tokens(call), True
        return counted, False

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
        route: Route = Route.AUTO,
        conversation_id: str | None = None,
    ) -> ChatResult:
        """Run ``call`` against the candidates; the first success wins. ``route`` says whether
        a website bridge may serve (``conversation_id`` continues a bridge's chat)."""
        attempts: list[Attempt] = []
        total_s = (timeout_ms or self.policy.total_timeout_ms) / 1000
        call_state = CallState(
            emit, asyncio.get_running_loop().time() + total_s, route, conversation_id
        )
        try:
            with Cutoff(call_state.deadline):
                return await self._first_success(
                    candidates, call, call_state, attempts, request_key
                )
        except TimeoutError:
            error = UpstreamTimeout(f"the call took longer than {total_s:g}s", phase="total")
            raise _failed(error, attempts) from None
        except DaemonError as exc:
            raise _failed(exc, attempts) from None

    async def _first_success(
        self,
        candidates: list[tuple[Provider, str]],
        call: ChatCall,
        state: CallState,
        route: list[Attempt],
        request_key: str | None,
    ) -> ChatResult:
        last: DaemonError | None = None
        images = call.has_images()
        for provider, model in candidates:
            if images and provider.has(Quirk.TEXT_ONLY):
                last = Unsupported(f"{provider.id} does not accept images", provider=provider.id)
                route.append(skipped(provider, model, "no image input"))
                continue
            try:
                credentials = await credentials_for(
                    provider,
                    self.registry.settings(provider.id),
                    self.vault,
                    self.environ,
                    request_key,
                    state.route,
                    self.bridges,
                )
            except DaemonError as exc:  # no credentials and no bridge, no bridge when asked
                route.append(skipped(provider, model, type(exc).__name__, exc.code))
                last = exc
                continue
            try:
                if credentials is None:
                    assert self.bridges is not None
                    return await via_bridge(self.bridges, provider, model, call, state, route)
                return await self._via_api(provider, model, credentials, call, state, route)
            except (UpstreamError, BridgeError) as exc:
                if state.started or not exc.falls_back:
                    raise
                last = exc
            except DaemonError as exc:  # unsupported here (tools, a family): try the next one
                if credentials is not None:  # (a bridge's attempt is in the route already)
                    route.append(skipped(provider, model, type(exc).__name__, exc.code, "api"))
                last = exc
        assert last is not None
        raise last

    async def _via_api(
        self,
        provider: Provider,
        model: str,
        credentials: Credentials,
        call: ChatCall,
        state: CallState,
        route: list[Attempt],
    ) -> ChatResult:
        breaker = self.breaker(provider.id)
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
            check_tools(call.tools, provider.family)
            check_stop(call.stop, provider.family)
            target = self.target(provider, model, credentials)
            result = await self._with_retries(target, credentials, call, state, route)
        except UpstreamError as exc:
            _record_breaker(breaker, exc)
            raise
        except BaseException:  # not the provider's fault, cancelled, or out of time
            breaker.abandon()
            raise
        breaker.succeeded()
        return result

    async def _with_retries(
        self,
        target: Target,
        credentials: Credentials,
        call: ChatCall,
        state: CallState,
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
                log_attempt(route, target.provider.id, target.model, "api", started, exc)
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
            log_attempt(route, target.provider.id, target.model, "api", started, None)
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

    async def _once(self, target: Target, call: ChatCall, state: CallState) -> Assembly:
        """One request; first-byte and idle limits wrap the whole loop, never a yield."""
        adapter = adapter_for(target.provider.family)
        assembly = Assembly()
        policy = self.policy
        events = adapter.stream(self.session, target, call, policy.connect_timeout_ms / 1000)
        try:
            with Cutoff() as limit, Deadline(limit, policy) as deadline:
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
