"""The OpenAI-compatible endpoint: ``POST /v1/chat/completions`` and ``GET /v1/models``.

The model is ``provider/model``, or a bare model for the default provider (or the one a
``[[model_routes]]`` prefix picks). Requests become chat.send params, are checked by chat.send's
schema and go through the same router; answers and errors come back in OpenAI's shapes. A
stream's headers go out only with its first chunk, so failures before that (including every
retry and fallback) still get a proper HTTP error status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

import orjson
from aiohttp import web

from daemon.adapters.types import Event
from daemon.errors import DaemonError, InvalidParams, ParseError, RequestTooLarge, UnknownProvider
from daemon.providers.lookup import Registry
from daemon.routing import Router
from daemon.rpc.handlers.chat import SendParams, to_call
from daemon.rpc.keys import DISPATCHER, STATE
from daemon.rpc.openai_wire import (
    chunk,
    chunk_frame,
    chunk_head,
    completion,
    delta_of,
    error_body,
    next_id,
    to_send_params,
    wire_usage,
)


def _error(exc: DaemonError) -> web.Response:
    status, body = error_body(exc)
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def split_model(registry: Registry, model: Any) -> tuple[str | None, str]:
    """``provider/model`` when the part before the first slash names a provider."""
    if not isinstance(model, str) or not model:
        raise InvalidParams("model is required", field="model", reason="is required")
    head, slash, rest = model.partition("/")
    if slash and rest:
        try:
            registry.resolve(head)
        except UnknownProvider:
            return None, model  # a model name with a slash in it, e.g. "meta-llama/Llama-3"
        return head, rest
    return None, model


async def _read_json(request: web.Request, limit: int) -> Mapping[str, Any]:
    if (request.content_length or 0) > limit:
        raise RequestTooLarge(f"the body is over {limit} bytes")
    try:
        body = orjson.loads(await request.read())
    except web.HTTPRequestEntityTooLarge:
        raise RequestTooLarge(f"the body is over {limit} bytes") from None
    except orjson.JSONDecodeError:
        raise ParseError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidParams(
            "the body must be a JSON object", field="body", reason="must be an object"
        )
    return body


class _Stream:
    """Writes a chat's events as ``chat.completion.chunk`` SSE, opening the response lazily.

    The events of one upstream read go out in one write, and every chunk's constant head
    (id, object, created, model) is encoded once per stream.
    """

    def __init__(self, request: web.Request, model: str) -> None:
        self.request = request
        self.model = model
        self.id = next_id("chatcmpl-")
        self.response: web.StreamResponse | None = None
        self._head = chunk_head(self.id, model)

    def _frame(self, delta: Mapping[str, Any], finish: str | None = None) -> bytes:
        return chunk_frame(self._head, delta, finish)

    async def _open(self) -> bytes:
        self.response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await self.response.prepare(self.request)
        return self._frame({"role": "assistant", "content": ""})

    async def emit(self, events: list[Event]) -> None:
        frames = [self._frame(delta) for event in events if (delta := delta_of(event))]
        if not frames:
            return
        if self.response is None:
            frames.insert(0, await self._open())
        assert self.response is not None
        await self.response.write(b"".join(frames))

    async def finish(self, result: Mapping[str, Any], include_usage: bool) -> web.StreamResponse:
        frames = [await self._open()] if self.response is None else []  # no deltas at all
        assert self.response is not None
        frames.append(self._frame({}, result["finishReason"]))
        if include_usage:
            usage_chunk = {
                **chunk(self.id, self.model, {}),
                "choices": [],
                "usage": wire_usage(result["usage"]),
            }
            frames.append(b"data: " + orjson.dumps(usage_chunk) + b"\n\n")
        frames.append(b"data: [DONE]\n\n")
        await self.response.write(b"".join(frames))
        await self.response.write_eof()
        return self.response

    async def fail(self, exc: DaemonError) -> web.StreamResponse:
        if self.response is None:
            return _error(exc)
        # In-band, as OpenAI does once a stream is open.
        await self.response.write(b"data: " + orjson.dumps(error_body(exc)[1]) + b"\n\n")
        await self.response.write_eof()
        return self.response


def _router(request: web.Request) -> Router:
    router = request.app[STATE].router
    assert router is not None
    return router


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """``POST /v1/chat/completions``."""
    state = request.app[STATE]
    router = _router(request)
    try:
        body = await _read_json(request, state.settings.max_body_bytes)
        provider, model = split_model(router.registry, body.get("model"))
        params = request.app[DISPATCHER].validators["chat.send"](
            to_send_params(body, provider, model)
        )
        stream = bool(body.get("stream"))
        call = to_call(cast(SendParams, params), stream=stream)
        candidates = router.plan(params.get("provider"), params.get("model"))
    except DaemonError as exc:
        return _error(exc)
    requested = str(body["model"])
    if not stream:
        try:
            result = await router.chat(candidates, call, None)
        except DaemonError as exc:
            return _error(exc)
        return web.Response(
            body=orjson.dumps(completion(result, requested, next_id("chatcmpl-"))),
            content_type="application/json",
        )
    writer = _Stream(request, requested)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    try:
        result = await router.chat(candidates, call, writer.emit)
    except DaemonError as exc:
        return await writer.fail(exc)
    return await writer.finish(result, include_usage)


async def models(request: web.Request) -> web.Response:
    """``GET /v1/models``: the models of every configured provider, as ``provider/model``."""
    router = _router(request)
    rows = [row for row in router.registry.rows() if router.registry.is_configured(row.id)]
    if router.policy.default_provider:
        default = router.registry.resolve(router.policy.default_provider)
        rows = [default, *(row for row in rows if row.id != default.id)]
    listings = await asyncio.gather(*(router.models(row) for row in rows), return_exceptions=True)
    data = [
        {"id": f"{row.id}/{model}", "object": "model", "created": 0, "owned_by": row.id}
        for row, listing in zip(rows, listings, strict=True)
        if not isinstance(listing, BaseException)
        for model in listing[1]
    ]
    return web.Response(
        body=orjson.dumps({"object": "list", "data": data}), content_type="application/json"
    )
