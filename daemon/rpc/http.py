"""HTTP ``POST /rpc``: one body in, one JSON-RPC answer out (204 when there is none)."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from daemon.errors import DaemonError, RequestTooLarge, ShuttingDown
from daemon.rpc.context import CallContext, Transport
from daemon.rpc.keys import DISPATCHER, STATE


def error_response(exc: DaemonError, status: int) -> web.Response:
    """A JSON-RPC error with ``id: null`` carried by a non-200 HTTP answer."""
    body = orjson.dumps({"jsonrpc": "2.0", "error": exc.to_rpc(), "id": None})
    return web.Response(status=status, body=body, content_type="application/json")


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body; RequestTooLarge when it is (or says it is) over ``limit`` bytes."""
    if (request.content_length or 0) > limit:
        raise RequestTooLarge(f"the body is over {limit} bytes")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestTooLarge(f"the body is over {limit} bytes") from None


async def post_rpc(request: web.Request) -> web.Response:
    """Dispatch the body; batches and notifications as the JSON-RPC 2.0 spec says."""
    state = request.app[STATE]
    try:
        body = await read_body(request, state.settings.max_body_bytes)
    except RequestTooLarge as exc:
        return error_response(exc, 413)
    dispatcher = request.app[DISPATCHER]
    if state.draining:
        out = dispatcher.refuse(body, ShuttingDown())
    else:
        task = asyncio.current_task()
        if task is not None:
            state.track(task)
        out = await dispatcher.handle(body, CallContext(state, Transport.HTTP))
    if out is None:
        return web.Response(status=204)
    return web.Response(body=out, content_type="application/json")
