"""The Anthropic-compatible endpoints: ``POST /v1/messages`` (JSON or SSE) and
``POST /v1/messages/count_tokens``.

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
from functools import partial
from typing import Any

import orjson
from aiohttp import web

from daemon.adapters.types import Event, Wire
from daemon.errors import DaemonError
from daemon.provider_calls import count_tokens as count_tokens_of
from daemon.rpc.anthropic_output import StreamEncoder, count_answer, error_frame, message
from daemon.rpc.anthropic_wire import error_body, to_send_params
from daemon.rpc.compat import (
    LazyStream,
    Relayed,
    forwarded,
    json_error,
    prepare,
    receive,
    router_of,
)
from daemon.rpc.ids import next_id

# The client's headers that go on with a request sent to an Anthropic provider unchanged: the
# beta features it asked for (Claude Code's prompt caching, longer context, ...) and the
# API version it speaks.
WIRE_HEADERS = ("anthropic-beta", "anthropic-version")


def _error(exc: DaemonError) -> web.Response:
    return json_error(exc, error_body)


class _Stream(LazyStream):
    """Writes a chat's events as Anthropic's SSE events, opening the response lazily."""

    def __init__(self, request: web.Request, model: str) -> None:
        super().__init__(request, error_body)
        self.encoder = StreamEncoder(next_id("msg_"), model)

    def opening(self) -> list[bytes]:
        return [self.encoder.start()]

    def error_frame(self, exc: DaemonError) -> bytes:
        return error_frame(exc)  # in band, as Anthropic does mid-stream

    async def emit(self, events: list[Event]) -> None:
        frames = self.encoder.feed(events)
        if frames:  # until there is content, a failure can still have its own HTTP status
            await self.send(frames)

    async def finish(self, result: Mapping[str, Any]) -> web.StreamResponse:
        return await self.close([self.encoder.finish(result)])


async def messages(request: web.Request) -> web.StreamResponse:
    """``POST /v1/messages``: one chat through the router, as a message or as its events."""
    router = router_of(request)
    try:
        received = await receive(request)
        relayed = partial(Relayed, request, error_body, error_frame)
        whole = await forwarded(request, received, Wire.MESSAGES, relayed, WIRE_HEADERS)
        if whole is not None:
            return whole
        prepared = prepare(request, received, to_send_params)
        if not prepared.call.stream:  # refused, failed or answered: all before any byte is sent
            result = await router.chat(
                prepared.candidates, prepared.call, None, route=prepared.route
            )
            answer = message(result, prepared.requested, next_id("msg_"))
            return web.Response(body=orjson.dumps(answer), content_type="application/json")
    except DaemonError as exc:
        return _error(exc)
    writer = _Stream(request, prepared.requested)
    try:
        result = await router.chat(
            prepared.candidates, prepared.call, writer.emit, route=prepared.route
        )
    except DaemonError as exc:
        return await writer.fail(exc)
    return await writer.finish(result)


async def count_tokens(request: web.Request) -> web.Response:
    """``POST /v1/messages/count_tokens``: the input tokens of a Messages request, counted by the
    provider where its family can count, else estimated (the answer says which)."""
    router = router_of(request)
    try:
        prepared = prepare(request, await receive(request), to_send_params)
        provider, model = prepared.candidates[0]  # where the call would go first
        tokens, estimated = await count_tokens_of(
            router, provider, model, prepared.call, route=prepared.route
        )
    except DaemonError as exc:
        return _error(exc)
    answer = count_answer(tokens, estimated=estimated)
    return web.Response(body=orjson.dumps(answer), content_type="application/json")
