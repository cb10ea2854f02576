"""The Anthropic-compatible endpoint: ``POST /v1/messages``, as JSON or SSE.

The twin of the OpenAI endpoint (:mod:`daemon.rpc.openai_http`): the model is ``provider/model``
or a bare model, the body becomes chat.send params checked by chat.send's schema, and the call
goes through the same router; answers and errors come back in Anthropic's shapes. A stream's
headers go out only with its first event, so failures before that (every retry and fallback
included) still get a proper HTTP status.

``anthropic-version`` is accepted and not required. A client's ``x-api-key`` or
``Authorization`` is never a provider credential: the provider's key comes from the daemon's
config, vault or environment (the OpenAI endpoint does the same). On the Unix socket any value
will do; over TCP the daemon's guard wants its token as ``Authorization: Bearer`` (the SDKs'
``auth_token`` / Claude Code's ``ANTHROPIC_AUTH_TOKEN``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from daemon.adapters.types import Event
from daemon.errors import DaemonError
from daemon.rpc.anthropic_wire import (
    StreamEncoder,
    error_body,
    error_frame,
    message,
    to_send_params,
)
from daemon.rpc.compat import json_error, prepare, router_of
from daemon.rpc.ids import next_id

_SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


def _error(exc: DaemonError) -> web.Response:
    return json_error(exc, error_body)


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


async def messages(request: web.Request) -> web.StreamResponse:
    """``POST /v1/messages``: one chat through the router, as a message or as its events."""
    router = router_of(request)
    try:
        prepared = await prepare(request, to_send_params)
        if not prepared.call.stream:  # refused, failed or answered: all before any byte is sent
            result = await router.chat(prepared.candidates, prepared.call, None)
            answer = message(result, prepared.requested, next_id("msg_"))
            return web.Response(body=orjson.dumps(answer), content_type="application/json")
    except DaemonError as exc:
        return _error(exc)
    writer = _Stream(request, prepared.requested)
    try:
        result = await router.chat(prepared.candidates, prepared.call, writer.emit)
    except DaemonError as exc:
        return await writer.fail(exc)
    return await writer.finish(result)
