"""What the provider-compatible endpoints (``/v1/chat/completions``, ``/v1/messages``) share.

Each endpoint speaks its own wire (:mod:`daemon.rpc.openai_wire`, :mod:`daemon.rpc.anthropic_wire`);
everything else is here, once: refusing work while the daemon drains and counting the request as
in flight, reading the JSON body within the size limit, splitting ``provider/model`` (and
``<site>-web/model``, a website bridge), checking the params with chat.send's schema, and
planning the route.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import orjson
from aiohttp import web

from daemon.adapters.types import ChatCall, Wire
from daemon.errors import DaemonError, InvalidParams, ParseError, ShuttingDown, UnknownProvider
from daemon.lanes import Lane, forward, lane_of, relay
from daemon.providers.lookup import Registry
from daemon.providers.model import Provider
from daemon.routes import Route
from daemon.routing import Router
from daemon.rpc.handlers.chat import SendParams, to_call
from daemon.rpc.http import read_body
from daemon.rpc.keys import DISPATCHER, STATE

ToSendParams = Callable[[Mapping[str, Any], str | None, str], dict[str, Any]]
ErrorBody = Callable[[DaemonError], tuple[int, dict[str, Any]]]


BRIDGE_SUFFIX = "-web"  # "zai-web/<model>": the zai site's bridge, whatever the credentials


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field
class Prepared:
    """A request ready for the router."""

    body: Mapping[str, Any]
    requested: str  # the model as the client wrote it (answers name it back)
    call: ChatCall
    candidates: list[tuple[Provider, str]]
    route: Route = Route.AUTO


SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


class LazyStream:
    """An SSE answer whose headers go out with its first frames, so that a failure before any
    content (every retry and fallback included) still gets its own HTTP status and body."""

    def __init__(self, request: web.Request, error_body: ErrorBody) -> None:
        self.request = request
        self.error_body = error_body
        self.response: web.StreamResponse | None = None

    def opening(self) -> list[bytes]:
        """The frames that start the stream (the wire's own), sent with the headers."""
        return []

    def error_frame(self, exc: DaemonError) -> bytes:
        """``exc`` in band, once the stream is open (each wire says it its own way)."""
        raise NotImplementedError

    async def send(self, frames: list[bytes]) -> web.StreamResponse:
        """Write ``frames``, after the headers and the opening frames if they are not out yet."""
        if self.response is None:
            self.response = await self._open()
            frames = [*self.opening(), *frames]
        await self.response.write(b"".join(frames))
        return self.response

    async def relay(self, frames: list[bytes]) -> web.StreamResponse:
        """Write ``frames`` (after the headers), a provider's own: its stream opens itself."""
        if self.response is None:
            self.response = await self._open()
        await self.response.write(b"".join(frames))
        return self.response

    async def _open(self) -> web.StreamResponse:
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(self.request)
        return response

    async def close(self, frames: list[bytes]) -> web.StreamResponse:
        """Write the last ``frames`` and end the stream."""
        response = await self.send(frames)
        await response.write_eof()
        return response

    async def fail(self, exc: DaemonError) -> web.StreamResponse:
        """The error as a whole answer before any content, in band after it."""
        if self.response is None:
            return json_error(exc, self.error_body)
        await self.response.write(self.error_frame(exc))
        await self.response.write_eof()
        return self.response


class Relayed(LazyStream):
    """A provider's own events relayed to the client (they open the stream themselves); a
    failure after them is ``in_band``, the endpoint's own error event."""

    def __init__(
        self, request: web.Request, error_body: ErrorBody, in_band: Callable[[DaemonError], bytes]
    ) -> None:
        super().__init__(request, error_body)
        self.in_band = in_band

    def error_frame(self, exc: DaemonError) -> bytes:
        return self.in_band(exc)


def json_error(exc: DaemonError, error_body: ErrorBody) -> web.Response:
    """The endpoint's own error body and HTTP status for ``exc``."""
    status, body = error_body(exc)
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def router_of(request: web.Request) -> Router:
    router = request.app[STATE].router
    assert router is not None, "the router is set up before the listeners open"
    return router


def split_model(registry: Registry, model: Any) -> tuple[str | None, str, Route]:
    """``provider/model`` when the part before the first slash names a provider;
    ``<site>-web/model`` is the site's website bridge (the first provider it serves)."""
    if not isinstance(model, str) or not model:
        raise InvalidParams("model is required", field="model", reason="is required")
    head, slash, rest = model.partition("/")
    if slash and head.endswith(BRIDGE_SUFFIX):
        bridged = registry.bridged(head.removesuffix(BRIDGE_SUFFIX))
        if bridged is not None:
            return bridged.id, rest, Route.BRIDGE
    if slash and rest and _names_a_provider(registry, head):
        return head, rest, Route.AUTO
    # A bare model, or one with a slash in its name ("meta-llama/Llama-3").
    return None, model, Route.AUTO


def _names_a_provider(registry: Registry, name: str) -> bool:
    try:
        return registry.find(name) is not None
    except UnknownProvider:  # a custom:<url> form with a bad URL
        return False


async def read_json(request: web.Request, limit: int) -> Mapping[str, Any]:
    """The body as a JSON object, within ``limit`` bytes."""
    try:
        body = orjson.loads(await read_body(request, limit))
    except orjson.JSONDecodeError:
        raise ParseError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidParams(
            "the body must be a JSON object", field="body", reason="must be an object"
        )
    return body


@dataclass(slots=True)
class Received:
    """An admitted request, read and routed, not yet checked or translated."""

    body: Mapping[str, Any]
    requested: str  # the model as the client wrote it (answers name it back)
    provider: str | None
    model: str
    route: Route
    # The planned candidates, or why planning failed: the body's own faults are reported
    # first (prepare), as before anything was planned.
    candidates: list[tuple[Provider, str]] | DaemonError


async def receive(request: web.Request) -> Received:
    """Admit the request (not while draining; counted in flight), read it, plan its route."""
    state = request.app[STATE]
    if state.draining:
        raise ShuttingDown()
    task = asyncio.current_task()
    if task is not None:
        state.track(task)
    router = router_of(request)
    body = await read_json(request, state.settings.max_body_bytes)
    provider, model, route = split_model(router.registry, body.get("model"))
    candidates: list[tuple[Provider, str]] | DaemonError
    try:
        candidates = router.plan(provider, model)
    except DaemonError as exc:
        candidates = exc
    return Received(body, str(body["model"]), provider, model, route, candidates)


async def forwarded(
    request: web.Request,
    received: Received,
    wire: Wire,
    stream: Callable[[], LazyStream],
    wire_headers: Iterable[str] = (),
    refuse: Callable[[Mapping[str, Any]], None] | None = None,
) -> web.StreamResponse | None:
    """The provider's own answer when ``received`` can go on unchanged (one provider of the
    same ``wire``: :func:`daemon.lanes.lane_of`), with the model named as asked: whole, or
    relayed event by event through the endpoint's ``stream`` (a :class:`Relayed`, made only
    then); None when it must be translated. ``wire_headers``: the client's headers that go
    with it; ``refuse``: what the endpoint refuses either way (translation checks it itself)."""
    if isinstance(received.candidates, DaemonError):
        return None
    router = router_of(request)
    lane = lane_of(router, received.candidates, wire, received.route)
    body = received.body
    streamed = bool(body.get("stream"))
    if lane is None or (streamed and not lane.forwarding.relays(body)):
        return None
    if refuse is not None:
        refuse(body)
    sent = {name: request.headers[name] for name in wire_headers if name in request.headers}
    if streamed:
        return await _relayed(router, lane, received, sent, stream())
    answer = await forward(router, lane, received.body, sent, received.requested)
    return web.Response(body=answer, content_type="application/json")


async def _relayed(
    router: Router, lane: Lane, received: Received, sent: Mapping[str, str], stream: LazyStream
) -> web.StreamResponse:
    try:
        await relay(router, lane, received.body, sent, received.requested, stream.relay)
    except DaemonError as exc:
        return await stream.fail(exc)
    return await stream.close([])


def prepare(request: web.Request, received: Received, to_send_params: ToSendParams) -> Prepared:
    """Check ``received`` with chat.send's schema and make it a routed call."""
    validate = request.app[DISPATCHER].validators["chat.send"]
    body = received.body
    params = cast(SendParams, validate(to_send_params(body, received.provider, received.model)))
    call = to_call(params, stream=bool(body.get("stream")))
    if isinstance(received.candidates, DaemonError):
        raise received.candidates
    return Prepared(body, received.requested, call, received.candidates, received.route)
