"""The Anthropic-compatible endpoint: ``POST /v1/messages``, as JSON or SSE.

The twin of the OpenAI endpoint (:mod:`daemon.rpc.openai_http`): the model is ``provider/model``
or a bare model, the body becomes chat.send params checked by chat.send's schema, and the call
goes through the same router; answers and errors come back in Anthropic's shapes. A stream's
headers go out only with its first event, so failures before that (every retry and fallback
included) still get a proper HTTP status.

``anthropic-version`` is accepted and not required. A client's ``x-api-key`` or
``Authorization`` is never a provider credential: the daemon's own access control admits the
caller, and the provider's key comes from the daemon's config, vault or environment (the OpenAI
endpoint does the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import orjson
from aiohttp import web

from daemon.adapters.types import ChatCall, Event
from daemon.errors import DaemonError
from daemon.providers.model import Provider
from daemon.routing import Router
from daemon.rpc.anthropic_wire import (
    StreamEncoder,
    error_body,
    error_frame,
    message,
    to_send_params,
)
from daemon.rpc.handlers.chat import SendParams, to_call
from daemon.rpc.keys import DISPATCHER, STATE
from daemon.rpc.openai_http import _read_json, _router, split_model
from daemon.rpc.openai_wire import next_id

_SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


def _error(exc: DaemonError) -> web.Response:
    status, body = error_body(exc)
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


class _Stream:
    """Writes a chat's events as Anthropic's SSE events, opening the response lazily."""

    def __init__(self, request: web.Request, model: str) -> None:
        self.request = request
        self.encoder = StreamEncoder(next_id("msg_"), model)
        self.response: web.StreamResponse | None = None

    async def _send(self, frames: list[bytes]) -> web.StreamResponse:
        """Write ``frames``, after the headers and ``message_start`` if they are not out yet."""
        if self.response is None:
            self.response = web.StreamResponse(headers=_SSE_HEADERS)
            await self.response.prepare(self.request)
            frames = [self.encoder.start(), *frames]
        await self.response.write(b"".join(frames))
        return self.response

    async def emit(self, events: list[Event]) -> None:
        frames = self.encoder.feed(events)
        if frames:  # until there is content, a failure can still have its own HTTP status
            await self._send(frames)

    async def finish(self, result: Mapping[str, Any]) -> web.StreamResponse:
        response = await self._send([self.encoder.finish(result)])
        await response.write_eof()
        return response

    async def fail(self, exc: DaemonError) -> web.StreamResponse:
        if self.response is None:
            return _error(exc)
        await self.response.write(error_frame(exc))  # in-band, as Anthropic does mid-stream
        await self.response.write_eof()
        return self.response


async def _prepare(
    request: web.Request, router: Router
) -> tuple[str, ChatCall, list[tuple[Provider, str]]]:
    """The model as asked for, the normalized call and its candidates; DaemonError if refused."""
    body = await _read_json(request, request.app[STATE].settings.max_body_bytes)
    provider, model = split_model(router.registry, body.get("model"))
    validate = request.app[DISPATCHER].validators["chat.send"]
    params = cast(SendParams, validate(to_send_params(body, provider, model)))
    call = to_call(params, stream=bool(body.get("stream")))
    return str(body["model"]), call, router.plan(params.get("provider"), params.get("model"))


async def messages(request: web.Request) -> web.StreamResponse:
    """``POST /v1/messages``: one chat through the router, as a message or as its events."""
    router = _router(request)
    try:
        requested, call, candidates = await _prepare(request, router)
        if not call.stream:  # refused, failed or answered: all before any byte is sent
            result = await router.chat(candidates, call, None)
            answer = message(result, requested, next_id("msg_"))
            return web.Response(body=orjson.dumps(answer), content_type="application/json")
    except DaemonError as exc:
        return _error(exc)
    writer = _Stream(request, requested)
    try:
        result = await router.chat(candidates, call, writer.emit)
    except DaemonError as exc:
        return await writer.fail(exc)
    return await writer.finish(result)
