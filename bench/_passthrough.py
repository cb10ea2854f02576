"""The floor for a Python gateway: a bare aiohttp pass-through proxy for the /v1 wires.

``python -m bench._passthrough serve --socket PATH --upstream URL`` serves ``POST
/v1/chat/completions``, ``POST /v1/messages`` and ``POST /v1/responses`` on a Unix socket
(:data:`bench._wires.WIRES`): it reads the request body, sends it unchanged to the same wire
at ``URL`` (``URL/chat/completions``, ...) with its own credential in that wire's headers over
one shared keep-alive session, and sends back the status, the content type and the body, an
event stream as each piece arrives. Nothing is parsed, checked or logged. It runs on uvloop
when importable and sends ``READY=1`` to ``NOTIFY_SOCKET`` like the daemon, so both are
started and measured the same way.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from bench._aio import run, serve_until_signal
from bench._wires import WIRES, ApiWire

SESSION = web.AppKey("session", aiohttp.ClientSession)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def forwarder(upstream: str, wire: ApiWire) -> Handler:
    """The handler relaying ``wire``'s requests to the same wire at ``upstream``."""
    url = upstream.rstrip("/") + wire.upstream
    headers = {"Content-Type": "application/json", **wire.headers}

    async def handler(request: web.Request) -> web.StreamResponse:
        return await forward(request, url, headers)

    return handler


async def forward(request: web.Request, url: str, headers: dict[str, str]) -> web.StreamResponse:
    """Send the body upstream; relay the answer (SSE piece by piece, JSON in one go)."""
    body = await request.read()
    session = request.app[SESSION]
    async with session.post(url, data=body, headers=headers) as upstream:
        content_type = upstream.headers.get("Content-Type", "application/json")
        if not content_type.startswith("text/event-stream"):
            payload = await upstream.read()
            return web.Response(
                status=upstream.status, body=payload, headers={"Content-Type": content_type}
            )
        response = web.StreamResponse(status=upstream.status)
        response.headers["Content-Type"] = content_type
        await response.prepare(request)
        async for piece in upstream.content.iter_any():
            await response.write(piece)
        await response.write_eof()
        return response


async def serve(path: Path, upstream: str) -> None:
    """Serve on ``path`` until SIGTERM or SIGINT."""
    app = web.Application()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        app[SESSION] = session
        for wire in WIRES.values():
            app.router.add_post(wire.path, forwarder(upstream, wire))
        await serve_until_signal(app, path)


def main() -> None:
    """The command line: ``serve --socket PATH --upstream URL``, the daemon's own shape."""
    parser = argparse.ArgumentParser(prog="python -m bench._passthrough")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:N/v1")
    args = parser.parse_args()
    run(serve(args.socket, args.upstream))


if __name__ == "__main__":
    main()
