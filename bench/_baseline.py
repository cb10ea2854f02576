"""The floor: a bare aiohttp server on a Unix socket, with no JSON-RPC dispatch at all.

``python -m bench._baseline serve --socket PATH`` serves ``POST /rpc`` with one fixed JSON
body and ``GET /rpc`` as a WebSocket that answers each text frame with a fixed result and
the frame's ``id``. It runs on the same event loop the daemon uses (uvloop when importable),
without an access log, and sends ``READY=1`` to ``NOTIFY_SOCKET`` like the daemon, so both
are started and measured the same way.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import orjson
from aiohttp import WSMsgType, web

from bench._aio import run, serve_until_signal

# About the size and shape of the daemon's daemon.info answer, precomputed once.
_RESULT = orjson.dumps(
    {
        "name": "baseline",
        "version": "0.0.0",
        "pid": os.getpid(),
        "startedAt": "2000-01-01T00:00:00Z",
        "uptimeS": 0.0,
        "listeners": [
            {
                "kind": "unix",
                "address": "/tmp/sb-bench-xxxxxxxx/run/sb.sock",
                "auth": "peer-uid",
                "activation": "bound",
            }
        ],
        "configPath": None,
        "stateDir": "/tmp/sb-bench-xxxxxxxx/xdg_state_home/switchboard",
        "python": "3.11.7",
        "features": ["http", "websocket", "stdio"],
    }
)
_HTTP_BODY = b'{"jsonrpc":"2.0","result":' + _RESULT + b',"id":1}'


async def post_rpc(request: web.Request) -> web.Response:
    """Read the body (keep-alive needs it consumed) and answer the fixed body."""
    await request.read()
    return web.Response(body=_HTTP_BODY, content_type="application/json")


async def ws_rpc(request: web.Request) -> web.WebSocketResponse:
    """Answer every frame inline with the fixed result and that frame's id."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type is WSMsgType.TEXT:
            request_id = orjson.dumps(orjson.loads(message.data).get("id"))
            answer = b'{"jsonrpc":"2.0","result":' + _RESULT + b',"id":' + request_id + b"}"
            await ws.send_frame(answer, WSMsgType.TEXT)
    return ws


async def serve(path: Path) -> None:
    """Serve on ``path`` until SIGTERM or SIGINT."""
    app = web.Application()
    app.router.add_post("/rpc", post_rpc)
    app.router.add_get("/rpc", ws_rpc)
    await serve_until_signal(app, path)


def main() -> None:
    """The command line: ``serve --socket PATH``, the daemon's own shape."""
    parser = argparse.ArgumentParser(prog="python -m bench._baseline")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--socket", type=Path, required=True)
    args = parser.parse_args()
    run(serve(args.socket))


if __name__ == "__main__":
    main()
