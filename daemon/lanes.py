"""The same-wire lane: a ``/v1`` request sent on whole to a provider of its own wire.

A request whose route is one provider speaking the request's own wire (a :class:`Lane`) is not
translated: the provider gets the client's body with only the model renamed, so every field
either side sent (``response_format``, ``cache_control``, ``logprobs``, ...) arrives, and the
client gets the provider's answer, with the model named as it asked: whole (:func:`forward`)
or event by event (:func:`relay`). The call keeps everything else of :meth:`Router.chat`: the
credentials, the breaker, retries, key rotation, token renewal and the time limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from daemon.adapters import forwarder_for
from daemon.adapters.common import stream_ended_early
from daemon.adapters.forwarding import Forwarding
from daemon.adapters.http import ErrorMapper, exchange, fetch
from daemon.adapters.relay import Relay
from daemon.adapters.types import HttpRequest, Target, Wire
from daemon.attempts import failed, guarded, no_data, over_time
from daemon.auth.credentials import Credentials
from daemon.errors import DaemonError
from daemon.providers.model import REQUEST_QUIRKS, Provider
from daemon.routes import Attempt, CallState, Route, Send, bridge_site, skipped
from daemon.timers import Cutoff, Deadline

if TYPE_CHECKING:
    from daemon.routing import Router


@dataclass(slots=True)
class Lane:
    """Where a client's request can go on unchanged: a provider of the request's own wire."""

    provider: Provider
    model: str
    forwarding: Forwarding


def lane_of(
    router: Router, candidates: list[tuple[Provider, str]], wire: Wire, route: Route = Route.AUTO
) -> Lane | None:
    """Where a client's request of ``wire`` can go unchanged: the route's one candidate, when
    it speaks that wire with no request quirk and no website bridge to stand in for it. None
    when the request must be translated (fallbacks may speak another wire)."""
    if route is not Route.AUTO or len(candidates) != 1:
        return None
    provider, model = candidates[0]
    if not model or provider.quirks & REQUEST_QUIRKS or bridge_site(router.bridges, provider):
        return None
    forwarding = forwarder_for(provider.family, wire)
    return None if forwarding is None else Lane(provider, model, forwarding)


async def forward(
    router: Router,
    lane: Lane,
    body: Mapping[str, Any],
    wire_headers: Mapping[str, str],
    named_as: str,
) -> bytes:
    """Send a client's request to ``lane`` (only the model renamed) and return the provider's
    answer whole, the model ``named_as`` the client asked."""
    state, total_s = router.call_state(None, None, Route.AUTO, None)
    attempts: list[Attempt] = []
    forwarding = lane.forwarding

    def attempt(target: Target) -> Awaitable[bytes]:  # (no coroutine of its own)
        request = forwarding.request(target, body, wire_headers)
        return _fetched(router, request, forwarding, named_as, state, total_s)

    # Each attempt's one timer keeps the total limit too (_fetched); the rest of the call is
    # credential lookups with limits of their own, and waits that stop short of it.
    try:
        credentials = await _credentials(router, lane, attempts)
        return await guarded(
            router, lane.provider, lane.model, credentials, attempt, state, attempts
        )
    except DaemonError as exc:
        raise failed(exc, attempts) from None


async def relay(
    router: Router,
    lane: Lane,
    body: Mapping[str, Any],
    wire_headers: Mapping[str, str],
    named_as: str,
    send: Send,
) -> None:
    """Send a client's streamed request to ``lane`` as :func:`forward` does, and ``send`` the
    client each read's events as they come, the model ``named_as`` the client asked. Nothing
    is retried once the first went out."""
    state, total_s = router.call_state(None, None, Route.AUTO, None)
    attempts: list[Attempt] = []
    forwarding = lane.forwarding

    def attempt(target: Target) -> Awaitable[None]:  # (no coroutine of its own)
        request = forwarding.request(target, body, wire_headers)
        stream = Relay(forwarding.stream, named_as)
        return _relayed(router, request, forwarding.map_error, state, stream, send)

    try:
        with Cutoff(state.deadline, router.alarms):
            credentials = await _credentials(router, lane, attempts)
            await guarded(router, lane.provider, lane.model, credentials, attempt, state, attempts)
    except TimeoutError:
        raise failed(over_time(total_s), attempts) from None
    except DaemonError as exc:
        raise failed(exc, attempts) from None


async def _credentials(router: Router, lane: Lane, attempts: list[Attempt]) -> Credentials:
    provider = lane.provider
    try:
        return await router.credentials(provider)
    except DaemonError as exc:
        attempts.append(skipped(provider, lane.model, type(exc).__name__, exc.code))
        raise


async def _fetched(
    router: Router,
    request: HttpRequest,
    forwarding: Forwarding,
    named_as: str,
    state: CallState,
    total_s: float,
) -> bytes:
    """One forwarded request's whole answer, within the first-byte limit and the call's total
    one (a whole answer has no idle time to watch: one timer does for both)."""
    policy = router.policy
    first_byte = asyncio.get_running_loop().time() + policy.first_byte_timeout_ms / 1000
    try:
        with Cutoff(min(first_byte, state.deadline), router.alarms):
            payload = await fetch(
                router.session,
                request,
                connect_timeout=policy.connect_timeout_ms / 1000,
                map_error=forwarding.map_error,
            )
    except TimeoutError:
        if state.deadline <= first_byte:
            raise over_time(total_s) from None
        raise no_data("first byte") from None
    return forwarding.answer(payload, named_as)


async def _relayed(
    router: Router,
    request: HttpRequest,
    map_error: ErrorMapper,
    state: CallState,
    stream: Relay,
    send: Send,
) -> None:
    """One relayed stream, within the first-byte and idle limits (as a translated one)."""
    policy = router.policy
    reads = exchange(
        router.session,
        request,
        connect_timeout=policy.connect_timeout_ms / 1000,
        map_error=map_error,
        raw="text/event-stream",  # each read as it came: the relay reads what it must
    )
    try:
        with Cutoff() as limit, Deadline(limit, policy, router.alarms) as deadline:
            async for payloads in reads:
                frames = stream.frames(payloads)
                if frames:
                    deadline.pause()  # a slow client is not a slow provider
                    state.started = True
                    await send(frames)
                    if stream.failure is not None:
                        raise stream.failure
                if stream.done:
                    break
                deadline.renew()
    except TimeoutError:
        raise no_data("idle" if state.started else "first byte") from None
    finally:
        await reads.aclose()
    if not stream.complete:
        raise stream_ended_early()
