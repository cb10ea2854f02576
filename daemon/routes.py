"""What a routed chat call returns, and its website-bridge path.

:mod:`daemon.routing` plans the candidates and runs the API path with its retries; a candidate
that a website bridge serves (``route: "bridge"``, or ``"auto"`` with no credential for a
provider that has one) goes through :func:`via_bridge` instead. The bridges themselves live in
the ``bridges`` package, which the daemon imports lazily: here they are only the
:class:`BridgeService` shape. Every attempt, either way, is one :class:`Attempt` in the result's
``route``, whose ``via`` says which path it took.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NotRequired, Protocol, TypedDict

from daemon.adapters.types import Assembly, ChatCall, Event, Usage
from daemon.auth.credentials import Credentials
from daemon.errors import BridgeUnavailable, CredentialsMissing, DaemonError, Unsupported
from daemon.providers.model import Provider

Emit = Callable[[list[Event]], Awaitable[None]]  # the events of one upstream read
Send = Callable[[list[bytes]], Awaitable[object]]  # a relayed stream's frames of one read


class Route(StrEnum):
    """Which path a call may take (chat.send's ``route``)."""

    AUTO = "auto"  # the API when a credential resolves, else the provider's website bridge
    API = "api"
    BRIDGE = "bridge"


class Attempt(TypedDict, total=False):
    provider: str
    model: str
    via: str  # "api" or "bridge": the path that served (or failed) this attempt
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
    conversationId: NotRequired[str]  # a bridge's chat: pass it back to continue there


@dataclass(frozen=True, slots=True)
class BridgeReply:
    """What a website bridge answered: the events folded, the model, the site's chat id."""

    assembly: Assembly
    model: str
    conversation_id: str | None


class BridgeService(Protocol):
    """The website bridges as routing and the RPC handlers use them (``bridges.runner``)."""

    def sites(self) -> frozenset[str]: ...

    async def chat(
        self, site: str, model: str, call: ChatCall, emit: Emit | None, conversation_id: str | None
    ) -> BridgeReply: ...

    async def models(self, site: str) -> list[str]: ...

    def cached_models(self) -> dict[str, list[str]]: ...

    def status(self) -> dict[str, Any]: ...

    async def open(self, site: str) -> dict[str, Any]: ...


@dataclass(slots=True)
class CallState:
    """One call's progress across its attempts."""

    emit: Emit | None
    deadline: float  # loop time at which the call's total timeout fires
    route: Route = Route.AUTO
    conversation_id: str | None = None
    started: bool = False  # output reached the client: nothing is retried from here


def bridge_site(bridges: BridgeService | None, provider: Provider) -> str | None:
    """The website bridge that can serve ``provider`` now, if any."""
    if provider.bridge is None or bridges is None:
        return None
    return provider.bridge.site if provider.bridge.site in bridges.sites() else None


async def credentials_for(
    provider: Provider,
    credentials: Callable[[Provider, str | None], Awaitable[Credentials]],
    request_key: str | None = None,
    route: Route = Route.AUTO,
    bridges: BridgeService | None = None,
) -> Credentials | None:
    """The provider's credentials for the API path, or None when its website bridge serves
    (``route`` "bridge", or "auto" when no credential resolves and it has a running bridge)."""
    if route is Route.BRIDGE:
        if bridge_site(bridges, provider) is None:
            raise no_bridge(provider, bridges)
        return None
    try:
        return await credentials(provider, request_key)
    except CredentialsMissing:
        if route is Route.AUTO and bridge_site(bridges, provider) is not None:
            return None
        raise


async def via_bridge(
    bridges: BridgeService,
    provider: Provider,
    model: str,
    call: ChatCall,
    state: CallState,
    route: list[Attempt],
) -> ChatResult:
    """One attempt through the provider's website bridge, recorded in ``route``."""
    assert provider.bridge is not None
    emit = state.emit

    async def relay(events: list[Event]) -> None:
        assert emit is not None
        state.started = True
        await emit(events)

    started = time.monotonic()
    try:
        reply = await bridges.chat(
            provider.bridge.site,
            model,
            call,
            relay if emit is not None else None,
            state.conversation_id,
        )
    except DaemonError as exc:
        exc.data.setdefault("provider", provider.id)
        log_attempt(route, provider.id, model, "bridge", started, exc)
        raise
    log_attempt(route, provider.id, reply.model, "bridge", started, None)
    result: ChatResult = {
        "provider": provider.id,
        "model": reply.model,
        "message": reply.assembly.message(),
        "finishReason": reply.assembly.finish_reason(),
        "usage": reply.assembly.usage,
        "route": route,
    }
    if reply.conversation_id is not None:
        result["conversationId"] = reply.conversation_id
    return result


def no_bridge(provider: Provider, bridges: BridgeService | None) -> DaemonError:
    """The error for ``route: "bridge"`` when ``provider`` cannot take it."""
    if provider.bridge is not None:  # it has one, but this daemon cannot run that bridge
        return BridgeUnavailable(
            f"the {provider.bridge.site} website bridge is not available here",
            provider=provider.id,
            site=provider.bridge.site,
        )
    return Unsupported(
        f"{provider.id} has no website bridge",
        provider=provider.id,
        field="route",
        sites=sorted(bridges.sites()) if bridges is not None else [],
    )


def skipped(
    provider: Provider, model: str, why: str, code: int | None = None, via: str | None = None
) -> Attempt:
    """An attempt that did not send anything (``via``: the path it was on, once known)."""
    attempt: Attempt = {"provider": provider.id, "model": model, "outcome": f"skipped: {why}"}
    if via is not None:
        attempt["via"] = via
    if code is not None:
        attempt["code"] = code
    return attempt


def log_attempt(
    route: list[Attempt],
    provider_id: str,
    model: str,
    via: str,
    started: float,
    exc: DaemonError | None,
) -> None:
    attempt: Attempt = {
        "provider": provider_id,
        "model": model,
        "via": via,
        "outcome": "ok" if exc is None else type(exc).__name__,
        "durationMs": int((time.monotonic() - started) * 1000),
    }
    if exc is not None:
        attempt["code"] = exc.code
        if "status" in exc.data:
            attempt["status"] = exc.data["status"]
    route.append(attempt)
