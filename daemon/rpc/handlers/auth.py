"""The ``auth.*`` namespace: stored keys, the login catalog, login flows, imports, status.

Provider names resolve through the catalog (ids and aliases alike); every answer describes
credentials without ever holding one.
"""

from __future__ import annotations

from typing import Any, TypedDict

from daemon.auth.records import DEFAULT_ACCOUNT, api_key_login
from daemon.auth.service import Auth, pasted_answer
from daemon.provider_calls import check_key
from daemon.rpc.context import CallContext
from daemon.rpc.handlers.providers import router_of


class NoParams(TypedDict):
    pass


class _Account(TypedDict, total=False):
    account: str


class KeySetParams(_Account, total=False):
    provider: str
    key: str
    validate: bool


class ProviderParams(_Account, total=False):
    provider: str


class StartParams(_Account, total=False):
    provider: str
    method: str


class WaitParams(TypedDict, total=False):
    flowId: str
    timeoutMs: int


class CompleteParams(TypedDict, total=False):
    flowId: str
    code: str
    redirectUrl: str
    apiKey: str


class FlowParams(TypedDict):
    flowId: str


class ImportParams(_Account, total=False):
    provider: str
    path: str
    overwrite: bool


def auth_of(ctx: CallContext) -> Auth:
    auth = ctx.daemon.auth
    assert auth is not None, "the vault opens before the listeners do"
    return auth


def _provider(ctx: CallContext, name: str) -> str:
    return router_of(ctx).registry.resolve(name).id


async def status(ctx: CallContext, params: NoParams) -> dict[str, Any]:
    """auth.status: every credential the daemon can use, and records it had to set aside."""
    auth = auth_of(ctx)
    status, detail = auth.vault.health()
    stored = [] if status == "unavailable" else await auth.records()
    return {
        "credentials": [*stored, *discovered(ctx)],
        "problems": auth.vault.problems(),
        "vault": {"status": status, "detail": detail},
    }


def discovered(ctx: CallContext) -> list[dict[str, Any]]:
    """Keys found in config and the environment (by where they are, never what they are)."""
    router = router_of(ctx)
    found: list[dict[str, Any]] = []
    for row in router.registry.rows():
        if router.registry.settings(row.id).api_keys:
            found.append({"provider": row.id, "kind": "api_key", "source": "config"})
        for name in row.env_keys:
            if router.environ.get(name):
                found.append(
                    {"provider": row.id, "kind": "api_key", "source": "env", "envKey": name}
                )
                break
    return found


async def apikey_set(ctx: CallContext, params: KeySetParams) -> dict[str, Any]:
    """auth.apikey.set: check the key with a cheap call (unless told not to), then store it."""
    provider = _provider(ctx, params["provider"])
    account = params.get("account", DEFAULT_ACCOUNT)
    validated = False
    if params.get("validate", True):
        validated = await check_key(router_of(ctx), provider, params["key"])
    await auth_of(ctx).store(provider, account, api_key_login(params["key"]))
    return {"provider": provider, "account": account, "validated": validated}


async def apikey_delete(ctx: CallContext, params: ProviderParams) -> dict[str, Any]:
    """auth.apikey.delete: forget a stored key."""
    provider = _provider(ctx, params["provider"])
    account = params.get("account", DEFAULT_ACCOUNT)
    removed = await auth_of(ctx).delete(provider, account)
    return {"provider": provider, "account": account, "removed": removed}


async def oauth_providers(ctx: CallContext, params: NoParams) -> dict[str, Any]:
    """auth.oauth.providers: the login catalog, with each row's policy note."""
    catalog = auth_of(ctx).catalog
    rows = []
    for spec in catalog.specs.values():
        rows.append(
            {
                "provider": spec.provider,
                "methods": [method.value for method in spec.methods],
                "status": spec.status.value,
                "enabled": catalog.usable(spec),
                "policy": spec.policy,
                "keyUrl": spec.key_url,
            }
        )
    return {"providers": rows}


async def oauth_start(ctx: CallContext, params: StartParams) -> dict[str, Any]:
    """auth.oauth.start: begin a login; the answer says what to show the person."""
    provider = _provider(ctx, params["provider"])
    router = router_of(ctx)

    async def check(key: str) -> None:
        await check_key(router, provider, key)

    auth = auth_of(ctx)
    flow = await auth.start(
        provider, params.get("method"), params.get("account", DEFAULT_ACCOUNT), check
    )
    auth.flows.subscribe(flow, ctx.notify)
    return flow.started()


async def oauth_wait(ctx: CallContext, params: WaitParams) -> dict[str, Any]:
    """auth.oauth.wait: block until the flow ends, or for timeoutMs (default 30 s)."""
    flows = auth_of(ctx).flows
    flows.subscribe(flows.get(params["flowId"]), ctx.notify)
    return await flows.wait(params["flowId"], params.get("timeoutMs"))


async def oauth_complete(ctx: CallContext, params: CompleteParams) -> dict[str, Any]:
    """auth.oauth.complete: finish with a pasted redirect URL or code, or an API key."""
    answer = pasted_answer(params)
    return await auth_of(ctx).flows.complete(params["flowId"], answer)


async def oauth_cancel(ctx: CallContext, params: FlowParams) -> dict[str, Any]:
    """auth.oauth.cancel: stop a flow and free its loopback port."""
    return await auth_of(ctx).flows.cancel(params["flowId"])


async def oauth_logout(ctx: CallContext, params: ProviderParams) -> dict[str, Any]:
    """auth.oauth.logout: forget the login, revoking it where the provider offers that."""
    provider = _provider(ctx, params["provider"])
    return await auth_of(ctx).logout(provider, params.get("account", DEFAULT_ACCOUNT))


async def oauth_import(ctx: CallContext, params: ImportParams) -> dict[str, Any]:
    """auth.oauth.import: copy a login from an official CLI's credential file."""
    provider = _provider(ctx, params["provider"])
    return await auth_of(ctx).import_login(
        provider,
        params.get("path"),
        params.get("account", DEFAULT_ACCOUNT),
        params.get("overwrite", False),
    )
