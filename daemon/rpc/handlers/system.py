"""The ``rpc.*`` and ``daemon.*`` namespaces: discovery, identity and health."""

from __future__ import annotations

import asyncio
import platform
from typing import Any, TypedDict

from daemon.rpc.context import CallContext, ComponentHealth, HealthStatus, ListenerInfo, worst

FEATURES = ("http", "websocket", "stdio")
PYTHON = platform.python_version()


class NoParams(TypedDict):
    pass


class DaemonInfo(TypedDict):
    name: str
    version: str
    pid: int
    startedAt: str
    uptimeS: float
    listeners: list[ListenerInfo]
    configPath: str | None
    stateDir: str
    python: str
    features: list[str]


class Health(TypedDict):
    status: HealthStatus
    components: dict[str, ComponentHealth]


async def discover(ctx: CallContext, params: NoParams) -> dict[str, Any]:
    """rpc.discover: the OpenRPC document this daemon serves."""
    return ctx.daemon.openrpc


async def info(ctx: CallContext, params: NoParams) -> DaemonInfo:
    """daemon.info: who is answering, since when, and where it listens."""
    state = ctx.daemon
    config_path = state.settings.config_path
    return {
        "name": "switchboard",
        "version": state.version,
        "pid": state.pid,
        "startedAt": state.started_at_text,
        "uptimeS": round(state.uptime_s(), 3),
        "listeners": state.listeners,
        "configPath": str(config_path) if config_path else None,
        "stateDir": str(state.settings.state_dir),
        "python": PYTHON,
        "features": list(FEATURES),
    }


async def health(ctx: CallContext, params: NoParams) -> Health:
    """daemon.health: every registered component's readiness, checked concurrently."""
    checks = ctx.daemon.health_checks
    results = await asyncio.gather(*(check() for check in checks.values()))
    components = dict(zip(checks, results, strict=True))
    return {"status": worst([c["status"] for c in results]), "components": components}
