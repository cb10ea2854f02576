"""Every chat call goes through here: plan the candidates, then try them in order.

For one candidate (provider + model): resolve its keys, then attempt it behind its circuit
breaker with retries (:mod:`daemon.attempts`). A failure that another provider might not
have moves on to the next candidate (model fallbacks, then fallback providers). Once output
has reached the client nothing is retried. Each attempt is written into the result's
``route``.

A ``/v1`` request whose route is one provider speaking the request's own wire is not
translated: :mod:`daemon.lanes` sends it on whole through the same credentials, breaker and
retries.

A candidate a website bridge serves (chat.send's ``route``: "bridge", or "auto" when no
credential resolves for a provider with a bridge) takes :func:`daemon.routes.via_bridge`
instead: no retries or breaker there (the bridge recovers what a reload fixes, once), but a
failure before any output still moves on to the next candidate.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field

import aiohttp

from daemon.adapters import adapter_for
from daemon.adapters.checks import check_stop, check_tools
from daemon.adapters.types import Assembly, ChatCall, Target
from daemon.attempts import failed, guarded, no_data, over_time
from daemon.auth.credentials import Credentials, Vault, resolve
from daemon.errors import (
    BridgeError,
    DaemonError,
    RequestInvalid,
    Unsupported,
    UpstreamError,
)
from daemon.providers.lookup import Registry, template_fields
from daemon.providers.model import AuthStyle, Provider, Quirk
from daemon.reliability import Breaker, Policy
from daemon.routes import (
    Attempt,
    BridgeService,
    CallState,
    ChatResult,
    Emit,
    Route,
    credentials_for,
    skipped,
    via_bridge,
)
from daemon.timers import Alarms, Cutoff, Deadline

PLANS_KEPT = 512


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
    alarms: Alarms = field(default_factory=Alarms)  # every call's time limits
    _known: dict[str, tuple[int, Credentials]] = field(default_factory=dict)  # by provider id
    _plans: dict[tuple[str | None, str | None], tuple[tuple[Provider, str], ...]] = field(
        default_factory=dict
    )

    def breaker(self, provider_id: str) -> Breaker:
        if provider_id not in self.breakers:
            self.breakers[provider_id] = Breaker(
                self.policy.breaker_threshold, self.policy.breaker_cooldown_ms / 1000
            )
        return self.breakers[provider_id]

    def plan(self, provider_name: str | None, model: str | None) -> list[tuple[Provider, str]]:
        """The (provider, model) candidates for a call, in the order they will be tried.

        The catalog and the config do not change while the daemon runs, so the same names
        always plan the same way: each pair is worked out once (a few hundred pairs are kept,
        the names being the clients')."""
        key = (provider_name, model)
        planned = self._plans.get(key)
        if planned is None:
            planned = self._plan_anew(provider_name, model)
            if len(self._plans) >= PLANS_KEPT:
                self._plans.clear()
            self._plans[key] = planned
        return list(planned)

    def _plan_anew(
        self, provider_name: str | None, model: str | None
    ) -> tuple[tuple[Provider, str], ...]:
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
        return tuple(unique.values())

    async def credentials(self, provider: Provider, request_key: str | None = None) -> Credentials:
        """The provider's credentials (:func:`resolve`). Keys from the config, the environment
        or a stored API key stay what they are until a vault record changes (the config and
        the environment never do while the daemon runs), so they are looked up once per
        change; an OAuth login is looked up every time, to be renewed before it expires."""
        if request_key:
            return Credentials((request_key,), "request")
        changes = self.vault.changes
        known = self._known.get(provider.id)
        if known is not None and known[0] == changes:
            return known[1]
        settings = self.registry.settings(provider.id)
        credentials = await resolve(provider, settings, self.vault, self.environ)
        if not credentials.oauth:
            self._known[provider.id] = (changes, credentials)
        return credentials

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
        state, total_s = self.call_state(emit, timeout_ms, route, conversation_id)
        attempts: list[Attempt] = []
        try:  # (not a helper coroutine: every level of awaits costs each read of a stream)
            with Cutoff(state.deadline, self.alarms):
                return await self._first_success(candidates, call, state, attempts, request_key)
        except TimeoutError:
            raise failed(over_time(total_s), attempts) from None
        except DaemonError as exc:
            raise failed(exc, attempts) from None

    def call_state(
        self, emit: Emit | None, timeout_ms: int | None, route: Route, conversation_id: str | None
    ) -> tuple[CallState, float]:
        total_s = (timeout_ms or self.policy.total_timeout_ms) / 1000
        deadline = asyncio.get_running_loop().time() + total_s
        return CallState(emit, deadline, route, conversation_id), total_s

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
                    provider, self.credentials, request_key, state.route, self.bridges
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
        def check() -> None:
            check_tools(call.tools, provider.family)
            check_stop(call.stop, provider.family)

        def attempt(target: Target) -> Awaitable[Assembly]:  # (no coroutine of its own)
            return self._once(target, call, state)

        assembly = await guarded(self, provider, model, credentials, attempt, state, route, check)
        return {
            "provider": provider.id,
            "model": model,
            "message": assembly.message(),
            "finishReason": assembly.finish_reason(),
            "usage": assembly.usage,
            "route": route,
        }

    async def _once(self, target: Target, call: ChatCall, state: CallState) -> Assembly:
        """One request; first-byte and idle limits wrap the whole loop, never a yield."""
        adapter = adapter_for(target.provider.family)
        assembly = Assembly()
        policy = self.policy
        events = adapter.stream(self.session, target, call, policy.connect_timeout_ms / 1000)
        try:
            with Cutoff() as limit, Deadline(limit, policy, self.alarms) as deadline:
                async for batch in events:
                    for event in batch:
                        assembly.add(event)
                    if state.emit is not None:
                        deadline.pause()  # a slow client is not a slow provider
                        state.started = True
                        await state.emit(batch)
                    deadline.renew()
        except TimeoutError:
            raise no_data("idle" if state.started or assembly.text else "first byte") from None
        finally:
            await events.aclose()
        return assembly
