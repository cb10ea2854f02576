"""The calls to a provider that are not chats: its model list, a key check, a token count.

Each goes where a chat would (:class:`daemon.routing.Router`'s target and credentials), once,
without the chat's retries or breaker: a listing or a count that fails is reported, not tried
elsewhere.
"""

from __future__ import annotations

from daemon.adapters import adapter_for, counter_for
from daemon.adapters.tokens import estimate_input_tokens, provider_count
from daemon.adapters.types import ChatCall
from daemon.attempts import hide_key
from daemon.auth.credentials import Credentials
from daemon.errors import (
    CredentialsMissing,
    DaemonError,
    KeyRejected,
    Unsupported,
    UpstreamAuthFailed,
    UpstreamError,
)
from daemon.log import get_logger
from daemon.providers.model import Provider, Quirk
from daemon.routes import Route, bridge_site, credentials_for
from daemon.routing import Router

log = get_logger("daemon.routing")


async def models(router: Router, provider: Provider) -> tuple[str, list[str]]:
    """("live", ids) from the provider's /models, ("bridge", ids) read from its website
    when no credential resolves and it has a bridge, or ("catalog", hints)."""
    settings = router.registry.settings(provider.id)
    site = bridge_site(router.bridges, provider)
    if site is not None and router.bridges is not None:
        try:
            keyless = not await credentials_for(
                provider, router.credentials, bridges=router.bridges
            )
        except DaemonError:
            keyless = False  # a record it cannot read: the API path below says so
        if keyless:
            return "bridge", await router.bridges.models(site)
    if not provider.has(Quirk.NO_MODELS_ENDPOINT) and provider.base_url is not None:
        try:
            credentials = await router.credentials(provider)
            target = router.target(provider, "", credentials)
            adapter = adapter_for(provider.family)
            return "live", await adapter.models(
                router.session, target, router.policy.connect_timeout_ms / 1000
            )
        except UpstreamError as exc:
            exc.data.setdefault("provider", provider.id)
            raise
        except DaemonError:
            pass  # no key, or no adapter yet: what the catalog and config say will do
    hints = [*settings.models, *filter(None, [settings.default_model, provider.default_model])]
    return "catalog", list(dict.fromkeys(hints))


async def check_key(router: Router, provider_id: str, key: str) -> bool:
    """Try ``key`` with the provider's cheapest call (its model list): True when it worked,
    False when the provider has no such call; KeyRejected when it refused the key."""
    provider = router.registry.resolve(provider_id)
    if provider.has(Quirk.NO_MODELS_ENDPOINT) or provider.base_url is None:
        return False
    try:
        adapter = adapter_for(provider.family)
        target = router.target(provider, "", Credentials((key,), "request"))
        await adapter.models(router.session, target, router.policy.connect_timeout_ms / 1000)
    except UpstreamAuthFailed:
        raise KeyRejected(f"{provider.id} refused the key", provider=provider.id) from None
    except Unsupported:
        return False
    return True


async def count_tokens(
    router: Router, provider: Provider, model: str, call: ChatCall, route: Route = Route.AUTO
) -> tuple[int, bool]:
    """(input tokens of ``call``, whether estimated): the provider's own count where its
    family has a counting call and a credential resolves, else the daemon's estimate."""
    counter = counter_for(provider.family)
    if counter is None or route is Route.BRIDGE or provider.base_url is None:
        return estimate_input_tokens(call), True
    try:
        credentials = await router.credentials(provider)
    except CredentialsMissing:
        return estimate_input_tokens(call), True  # counting is no reason to demand a key
    target = router.target(provider, model, credentials)
    policy = router.policy
    try:
        counted = await provider_count(
            counter,
            router.session,
            target,
            call,
            policy.connect_timeout_ms / 1000,
            policy.total_timeout_ms / 1000,
        )
    except UpstreamError as exc:
        hide_key(exc, target.key)
        exc.data.setdefault("provider", provider.id)
        raise
    if counted is None:
        log.info("count_estimated", provider=provider.id, reason="no counting endpoint")
        return estimate_input_tokens(call), True
    return counted, False
