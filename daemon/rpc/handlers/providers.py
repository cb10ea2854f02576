"""The ``providers.*`` and ``models.*`` namespaces: the catalog and what each provider offers."""

from __future__ import annotations

from typing import Any, TypedDict

from daemon.provider_calls import models as provider_models
from daemon.providers.model import Provider
from daemon.routing import Router
from daemon.rpc.context import CallContext


class ListParams(TypedDict, total=False):
    family: str
    local: bool
    login: str
    configured: bool


class ResolveParams(TypedDict):
    name: str


class ModelsParams(TypedDict):
    provider: str


def router_of(ctx: CallContext) -> Router:
    router = ctx.daemon.router
    assert router is not None, "the router is set up before the listeners open"
    return router


def describe(row: Provider, configured: bool) -> dict[str, Any]:
    """A catalog row as the RPC ``Provider`` schema has it."""
    bridge = {"site": row.bridge.site, "websiteUrl": row.bridge.website_url} if row.bridge else None
    return {
        "id": row.id,
        "name": row.name,
        "aliases": list(row.aliases),
        "family": row.family.value,
        "baseUrl": row.base_url,
        "auth": row.auth.value,
        "envKeys": list(row.env_keys),
        "keyOptional": row.key_optional,
        "local": row.local,
        "bridge": bridge,
        "logins": [method.value for method in row.logins],
        "quirks": sorted(quirk.value for quirk in row.quirks),
        "defaultModel": row.default_model,
        "configured": configured,
    }


async def list_providers(ctx: CallContext, params: ListParams) -> list[dict[str, Any]]:
    """providers.list: every provider, narrowed by the filters given."""
    registry = router_of(ctx).registry
    rows = [describe(row, registry.is_configured(row.id)) for row in registry.rows()]
    for name, wanted in params.items():
        # Each filter names a field of the row; "login" is one entry of its "logins" list.
        if name == "login":
            rows = [row for row in rows if wanted in row["logins"]]
        else:
            rows = [row for row in rows if row[name] == wanted]
    return rows


async def resolve_provider(ctx: CallContext, params: ResolveParams) -> dict[str, Any]:
    """providers.resolve: the canonical row for an id, alias or custom form."""
    registry = router_of(ctx).registry
    row = registry.resolve(params["name"])
    return describe(row, registry.is_configured(row.id))


async def list_models(ctx: CallContext, params: ModelsParams) -> dict[str, Any]:
    """models.list: live from the provider's /models when it has one, else the hints we know."""
    router = router_of(ctx)
    row = router.registry.resolve(params["provider"])
    source, models = await provider_models(router, row)
    return {"provider": row.id, "source": source, "models": [{"id": model} for model in models]}
