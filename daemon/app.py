"""The aiohttp application: routes, shared state under typed keys, and core health checks."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from daemon.access import tcp_guard
from daemon.auth.credentials import EmptyVault
from daemon.config import Settings
from daemon.providers.catalog import PROVIDERS
from daemon.providers.lookup import Registry
from daemon.reliability import Policy, load_policy
from daemon.routing import Router
from daemon.rpc import anthropic_http, openai_http
from daemon.rpc.context import ComponentHealth, DaemonState, HealthCheck
from daemon.rpc.dispatch import Dispatcher
from daemon.rpc.http import post_rpc
from daemon.rpc.keys import CONNECTIONS, DISPATCHER, STATE
from daemon.rpc.ws import ws_rpc


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
    app.router.add_get("/v1/models", openai_http.models)
    app.cleanup_ctx.append(http_client(state, routing))
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

    return {"rpc": rpc, "state_dir": state_dir, "config": config, "providers": providers}


@dataclass(frozen=True, slots=True)
class RoutingSetup:
    """What the router is built from, checked before the daemon starts listening."""

    registry: Registry
    policy: Policy

    @classmethod
    def from_settings(cls, settings: Settings) -> RoutingSetup:
        source = str(settings.config_path or "config")
        providers = settings.sections.get("providers", {})
        return cls(Registry(PROVIDERS, providers, source), load_policy(settings.sections, source))


def http_client(
    state: DaemonState, routing: RoutingSetup
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The one shared upstream HTTP session, and the router that uses it, for the app's life."""

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        # No connection cap: concurrency is bounded by the callers, not by a pool that queues.
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        async with aiohttp.ClientSession(connector=connector) as session:
            state.router = Router(
                routing.registry, routing.policy, session, EmptyVault(), os.environ
            )
            yield
            state.router = None

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
