"""Who may talk to the daemon.

- Unix socket: the peer's uid, read once per connection with ``SO_PEERCRED``, must be one of
  ``allowed_uids`` (by default only the daemon's own). Anyone else is disconnected before a
  byte is read, and the refusal is logged.
- Loopback TCP: every request needs ``Authorization: Bearer <token>`` (the token lives in a
  0600 file in the state dir), a loopback ``Host`` and no foreign ``Origin``, which stops a web
  page in a browser from reaching the daemon through DNS rebinding or a cross-site form.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import secrets
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from aiohttp import web

from daemon.errors import AccessDenied
from daemon.listeners import BACKLOG
from daemon.log import get_logger, remember_secret
from daemon.rpc.http import error_response

log = get_logger("daemon.access")
_UCRED = struct.Struct("3i")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process on the other end of a connected Unix socket."""
    _pid, uid, _gid = _UCRED.unpack(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    )
    return int(uid)


class PeerGate(asyncio.Protocol):
    """Stands in front of aiohttp's protocol until the peer's uid is checked, then hands the
    transport over (``set_protocol``), so it costs nothing per read afterwards."""

    def __init__(self, inner: asyncio.Protocol, allowed: frozenset[int]) -> None:
        self._inner = inner
        self._allowed = allowed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        uid = peer_uid(sock) if sock is not None else -1
        if uid not in self._allowed:
            log.warning("peer_refused", uid=uid)
            cast(asyncio.Transport, transport).abort()  # a stream socket: reset, don't linger
            return
        transport.set_protocol(self._inner)
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        """Only a refused connection ends here; accepted ones belong to aiohttp by now."""

    def data_received(self, data: bytes) -> None:
        """Bytes a refused peer sent before the reset are dropped."""


class PeerCheckedSite(web.BaseSite):
    """An aiohttp site on an already-listening Unix socket whose peers pass :class:`PeerGate`."""

    def __init__(self, runner: web.BaseRunner, sock: socket.socket, allowed: frozenset[int]):
        # create_unix_server listens again with the site's backlog: keep the listener's.
        super().__init__(runner, backlog=BACKLOG)
        self._sock = sock
        self._allowed = allowed

    @property
    def name(self) -> str:
        return f"http://unix:{self._sock.getsockname()}:"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        allowed = self._allowed
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(
            lambda: PeerGate(server(), allowed), sock=self._sock, backlog=self._backlog
        )


def ensure_token(path: Path) -> str:
    """The TCP bearer token: read it, or create it (0600, from creation) on first use."""
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
    remember_secret(token)
    return token


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def tcp_guard(token: str) -> Any:
    """Middleware: requests that came over TCP must carry the token and a loopback Host."""
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        if transport is None or not isinstance(transport.get_extra_info("sockname"), tuple):
            return await handler(request)  # the Unix socket: already checked by PeerGate
        problem = _tcp_problem(request, expected)
        if problem is not None:
            log.warning("tcp_request_refused", reason=problem, path=request.path)
            return error_response(AccessDenied(problem), 401 if "token" in problem else 403)
        return await handler(request)

    return guard


def _tcp_problem(request: web.Request, expected: bytes) -> str | None:
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    if host not in LOOPBACK_HOSTS:
        return "the Host header must name a loopback address"
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return "requests from web pages (a foreign Origin) are not accepted"
    given = request.headers.get("Authorization", "").encode()
    if not hmac.compare_digest(given, expected):
        return "a valid bearer token is required (see the tcp-token file in the state dir)"
    return None
