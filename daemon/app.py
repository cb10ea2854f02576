"""The aiohttp application: routes, shared state under typed keys, and core health checks."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from daemon.access import tcp_guard
from daemon.auth.identity import client_identity
from daemon.auth.login_config import LoginCatalog
from daemon.auth.service import Auth
from daemon.config import BridgeSettings, Settings, bridge_settings
from daemon.errors import ConfigInvalid
from daemon.providers.catalog import PROVIDERS
from daemon.providers.lookup import Registry
from daemon.providers.model import AuthStyle
from daemon.reliability import Policy, load_policy
from daemon.routing import Router
from daemon.rpc import anthropic_http, openai_http, responses_http
from daemon.rpc.context import ComponentHealth, DaemonState, HealthCheck
from daemon.rpc.dispatch import Dispatcher
from daemon.rpc.http import post_rpc
from daemon.rpc.keys import CONNECTIONS, DISPATCHER, STATE
from daemon.rpc.ws import ws_rpc
from daemon.store import keyfile
from daemon.store.vault import Vault


def build_app(
    state: DaemonState, dispatcher: Dispatcher, tcp_token: str | None, routing: RoutingSetup
) -> web.Application:
    """The app every listener serves; TCP requests pass the bearer guard when TCP is on."""
    app = web.Application(
        client_max_size=state.settings.max_body_bytes,
        middlewares=[tcp_guard(tcp_token)] if tcp_token else [],
    )
    app[STATE] = state
    app[DISPATCHER] = dispatcher
    app[CONNECTIONS] = set()
    app.router.add_post("/rpc", post_rpc)
    app.router.add_get("/rpc", ws_rpc)
    app.router.add_post("/v1/chat/completions", openai_http.chat_completions)
    app.router.add_post("/v1/messages", anthropic_http.messages)
    app.router.add_post("/v1/messages/count_tokens", anthropic_http.count_tokens)
    app.router.add_post("/v1/responses", responses_http.responses)
    app.router.add_get("/v1/models", openai_http.models)
    app.cleanup_ctx.append(services(state, routing))
    state.health_checks.update(core_health_checks(state))
    return app


def core_health_checks(state: DaemonState) -> dict[str, HealthCheck]:
    """The checks of this layer; later components register theirs beside them."""

    async def rpc() -> ComponentHealth:
        if state.draining:
            return {"status": "unavailable", "detail": "draining for shutdown"}
        return {"status": "ready", "detail": f"{len(state.listeners)} listener(s)"}

    async def state_dir() -> ComponentHealth:
        return await asyncio.to_thread(_check_state_dir, state)

    async def config() -> ComponentHealth:
        path = state.settings.config_path
        return {"status": "ready", "detail": str(path) if path else "built-in defaults"}

    async def providers() -> ComponentHealth:
        if state.router is None:
            return {"status": "unavailable", "detail": "not started"}
        rows = state.router.registry.rows()
        return {"status": "ready", "detail": f"{len(rows)} providers"}

    async def vault() -> ComponentHealth:
        if state.auth is None:
            return {"status": "unavailable", "detail": "not started"}
        status, detail = state.auth.vault.health()
        return {"status": status, "detail": detail}

    return {
        "rpc": rpc,
        "state_dir": state_dir,
        "config": config,
        "providers": providers,
        "vault": vault,
        "browser": lambda: _browser_health(state),
    }


async def _browser_health(state: DaemonState) -> ComponentHealth:
    """The website bridges' Chromium: running, or which one the first bridge call starts."""
    if state.bridges is None:
        return {"status": "unavailable", "detail": "not started"}
    report = (await asyncio.to_thread(state.bridges.status))["browser"]
    where = report["executable"] or "Playwright's own Chromium"
    if report["running"]:
        return {"status": "ready", "detail": f"running ({where})"}
    return {"status": "ready", "detail": f"starts with the first bridge call ({where})"}


@dataclass(frozen=True, slots=True)
class RoutingSetup:
    """What the router, the logins and the website bridges are built from, checked before
    the daemon listens."""

    registry: Registry
    policy: Policy
    logins: LoginCatalog
    bridges: BridgeSettings
    sites: frozenset[str]  # every website bridge: the catalog's, and [bridges.<site>] tables

    @classmethod
    def from_settings(cls, settings: Settings) -> RoutingSetup:
        source = str(settings.config_path or "config")
        providers = settings.sections.get("providers", {})
        # Every keyed provider without a login row of its own still takes an API key.
        key_only = {row.id: row.docs_url for row in PROVIDERS if row.auth is not AuthStyle.NONE}
        registry = Registry(PROVIDERS, providers, source)
        bridges = bridge_settings(settings.sections, source)
        return cls(
            registry,
            load_policy(settings.sections, source),
            LoginCatalog.from_config(settings.sections.get("oauth", {}), source, key_only),
            bridges,
            _sites(registry, bridges, source),
        )


def _sites(registry: Registry, bridges: BridgeSettings, source: str) -> frozenset[str]:
    """The website bridges; a [bridges.<site>] table for none of the catalog's sites must name
    its spec, and a provider's ``bridge`` must name a site."""
    builtin = {row.bridge.site for row in PROVIDERS if row.bridge}
    for name, site in bridges.sites.items():
        if name not in builtin and site.spec is None:
            known = ", ".join(sorted(builtin))
            raise ConfigInvalid(
                source, f"bridges.{name}", f"not a known site ({known}); a new one needs spec"
            )
    sites = frozenset(builtin | set(bridges.sites))
    for row in registry.rows():
        if row.bridge is not None and row.bridge.site not in sites:
            raise ConfigInvalid(
                source, f"providers.{row.id}.bridge", f"no website bridge {row.bridge.site!r}"
            )
    return sites


def services(
    state: DaemonState, routing: RoutingSetup
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The shared upstream HTTP session, the vault, the credential broker and the router,
    for the app's life (opened in that order, closed in reverse)."""

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        # No connection cap: concurrency is bounded by the callers, not by a pool that queues.
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        state_dir = state.settings.state_dir
        vault = Vault(state_dir / "vault", keyfile.locate(os.environ, state_dir))
        async with aiohttp.ClientSession(connector=connector) as session, vault:
            identity = await asyncio.to_thread(client_identity, state_dir)
            logins = routing.logins.with_identity(identity)
            auth = Auth(vault, logins, session, os.environ, Path.home())
            async with auth:
                state.auth = auth
                state.router = Router(
                    routing.registry, routing.policy, session, auth.sessions, os.environ
                )
                # Imported here: the bridges' modules are not part of the daemon's start-up
                # imports (playwright itself loads only with the first browser).
                from bridges.runner import Bridges

                async with Bridges(routing.bridges, state_dir, routing.sites) as bridges:
                    state.router.bridges = state.bridges = bridges
                    yield
                    state.router.bridges = state.bridges = None
                state.router, state.auth = None, None

    return lifecycle


def _check_state_dir(state: DaemonState) -> ComponentHealth:
    path = state.settings.state_dir
    try:
        info = path.stat()
    except OSError as exc:
        return {"status": "unavailable", "detail": f"{path}: {exc.strerror}"}
    if not os.access(path, os.W_OK):
        return {"status": "unavailable", "detail": f"{path} is not writable"}
    if stat.S_IMODE(info.st_mode) & 0o077:
        return {"status": "degraded", "detail": f"{path} is readable by other users (chmod 700)"}
    return {"status": "ready", "detail": str(path)}
