"""The OpenAI-compatible endpoint: ``POST /v1/chat/completions`` and ``GET /v1/models``.

The model is ``provider/model``, or a bare model for the default provider (or the one a
``[[model_routes]]`` prefix picks), or ``<site>-web/model`` for a website bridge. Requests become
chat.send params, are checked by chat.send's schema and go through the same router; answers and
errors come back in OpenAI's shapes. A stream's headers go out only with its first chunk, so
failures before that (including every retry and fallback) still get a proper HTTP error status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import partial
from typing import Any

import orjson
from aiohttp import web

from daemon.adapters.types import Event, Wire
from daemon.errors import DaemonError
from daemon.provider_calls import models as provider_models
from daemon.rpc.compat import (
    BRIDGE_SUFFIX,
    LazyStream,
    Relayed,
    forwarded,
    json_error,
    prepare,
    receive,
    router_of,
)
from daemon.rpc.ids import next_id
from daemon.rpc.openai_wire import (
    chunk,
    chunk_frame,
    chunk_head,
    completion,
    delta_of,
    error_body,
    to_send_params,
    wire_usage,
)
from daemon.rpc.tool_order import ToolCallOrder


def _error(exc: DaemonError) -> web.Response:
    return json_error(exc, error_body)


def _error_chunk(exc: DaemonError) -> bytes:
    return b"data: " + orjson.dumps(error_body(exc)[1]) + b"\n\n"  # in band, as OpenAI does


class _Stream(LazyStream):
    """Writes a chat's events as ``chat.completion.chunk`` SSE, opening the response lazily.

    The events of one upstream read go out in one write, and every chunk's constant head
    (id, object, created, model) is encoded once per stream. Tool calls go out one after the
    other, each whole before the next begins (:class:`ToolCallOrder`), as the SDKs' stream
    helpers expect, whatever order the upstream interleaved them in.
    """

    def __init__(self, request: web.Request, model: str) -> None:
        super().__init__(request, error_body)
        self.model = model
        self.id = next_id("chatcmpl-")
        self._head = chunk_head(self.id, model)
        self._order = ToolCallOrder()

    def _frame(self, delta: Mapping[str, Any], finish: str | None = None) -> bytes:
        return chunk_frame(self._head, delta, finish)

    def opening(self) -> list[bytes]:
        return [self._frame({"role": "assistant", "content": ""})]

    def error_frame(self, exc: DaemonError) -> bytes:
        return _error_chunk(exc)

    def _frames(self, events: list[Event]) -> list[bytes]:
        return [self._frame(delta) for event in events if (delta := delta_of(event))]

    async def emit(self, events: list[Event]) -> None:
        frames = self._frames(self._order.feed(events))
        if frames:  # until there is content, a failure can still have its own HTTP status
            await self.send(frames)

    async def finish(self, result: Mapping[str, Any], include_usage: bool) -> web.StreamResponse:
        frames = self._frames(self._order.end())  # the tool calls still held
        frames.append(self._frame({}, result["finishReason"]))
        if include_usage:
            usage_chunk = {
                **chunk(self.id, self.model, {}),
                "choices": [],
                "usage": wire_usage(result["usage"]),
            }
            frames.append(b"data: " + orjson.dumps(usage_chunk) + b"\n\n")
        frames.append(b"data: [DONE]\n\n")
        return await self.close(frames)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """``POST /v1/chat/completions``."""
    router = router_of(request)
    try:
        received = await receive(request)
        relayed = partial(Relayed, request, error_body, _error_chunk)
        if (
            whole := await forwarded(request, received, Wire.CHAT_COMPLETIONS, relayed)
        ) is not None:
            return whole
        prepared = prepare(request, received, to_send_params)
        if not prepared.call.stream:  # refused, failed or answered: all before any byte is sent
            result = await router.chat(
                prepared.candidates, prepared.call, None, route=prepared.route
            )
            answer = completion(result, prepared.requested, next_id("chatcmpl-"))
            return web.Response(body=orjson.dumps(answer), content_type="application/json")
    except DaemonError as exc:
        return _error(exc)
    writer = _Stream(request, prepared.requested)
    include_usage = bool((prepared.body.get("stream_options") or {}).get("include_usage"))
    try:
        result = await router.chat(
            prepared.candidates, prepared.call, writer.emit, route=prepared.route
        )
    except DaemonError as exc:
        return await writer.fail(exc)
    return await writer.finish(result, include_usage)


async def models(request: web.Request) -> web.Response:
    """``GET /v1/models``: the models of every configured provider, as ``provider/model``, and
    those of every website bridge already opened, as ``<site>-web/model``."""
    router = router_of(request)
    rows = [row for row in router.registry.rows() if router.registry.is_configured(row.id)]
    if router.policy.default_provider:
        default = router.registry.resolve(router.policy.default_provider)
        rows = [default, *(row for row in rows if row.id != default.id)]
    listings = await asyncio.gather(
        *(provider_models(router, row) for row in rows), return_exceptions=True
    )
    data = [
        {"id": f"{row.id}/{model}", "object": "model", "created": 0, "owned_by": row.id}
        for row, listing in zip(rows, listings, strict=True)
        if not isinstance(listing, BaseException)
        for model in listing[1]
    ]
    # Website bridges' models, once a site's page has been read (listing launches no browser).
    cached = router.bridges.cached_models() if router.bridges is not None else {}
    data += [
        {"id": f"{site}{BRIDGE_SUFFIX}/{model}", "object": "model", "created": 0, "owned_by": site}
        for site, ids in cached.items()
        for model in ids
    ]
    return web.Response(
        body=orjson.dumps({"object": "list", "data": data}), content_type="application/json"
    )
