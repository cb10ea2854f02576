"""Driving login flows through a real daemon against the fake authorization server.

:func:`login_daemon` starts a daemon pointed at a :class:`~tests.support.oauth.ThreadedOAuth`
and, when it has stopped, checks that no secret the fake issued or was shown reached the
daemon's log, any answer the test collected, or a file under its state dir. :class:`Answers`
is that collection: :meth:`Answers.connected` gives a call function that keeps every result,
error and notification. :func:`follow` is the browser following a redirect to the daemon's
loopback server.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import aiohttp

from daemon.client import Client
from daemon.errors import DaemonError
from tests.support.daemon import DaemonProcess, serving_daemon
from tests.support.leaks import assert_daemon_leaked_nothing
from tests.support.oauth import ThreadedOAuth

LOG_EVERYTHING = ("--log-level", "debug")
WAIT_MS = 15_000  # long enough for any flow here to end; a pass never waits for it


class Call(Protocol):
    async def __call__(self, method: str, params: Mapping[str, Any] | None = None) -> Any: ...


@dataclass
class Answers:
    """Everything the daemon answered during a test: results, errors, notifications."""

    seen: list[object] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def connected(self, daemon: DaemonProcess) -> AsyncIterator[Call]:
        """A WebSocket client whose ``call(method, params)`` records what comes back."""
        async with Client(daemon.socket) as client:
            yield self.recording(client)

    def recording(self, client: Client) -> Call:
        """``client.call`` that keeps each answer (an error as its wire form)."""

        async def call(method: str, params: Mapping[str, Any] | None = None) -> Any:
            try:
                result = await client.call(method, params)
            except DaemonError as exc:
                self.seen.append(exc.to_rpc())
                raise
            self.seen.append(result)
            return result

        return call


@contextlib.contextmanager
def login_daemon(
    oauth: ThreadedOAuth, answers: Answers, config: str, **kwargs: Any
) -> Iterator[DaemonProcess]:
    """A daemon with ``config``, logging everything (debug lines too); once it has stopped
    cleanly, nothing it saw has leaked."""
    with serving_daemon(config=config, args=LOG_EVERYTHING, **kwargs) as daemon:
        yield daemon
        assert daemon.stop() == 0
        assert_daemon_leaked_nothing(daemon, answers.seen, oauth.fake)


def with_redirect_port(config: str, value: str) -> str:
    """``config`` (ending in the ``[oauth.openai-codex]`` table) with ``redirect_port = value``
    instead of whatever port it named."""
    lines = [line for line in config.splitlines() if not line.startswith("redirect_port =")]
    return "\n".join([*lines, f"redirect_port = {value}", ""])


def query(url: str) -> dict[str, str]:
    """The query parameters of ``url``."""
    return dict(parse_qsl(urlsplit(url).query))


async def follow(location: str, browser: aiohttp.ClientSession | None = None) -> tuple[int, str]:
    """GET the redirect ``location`` as the browser would: (status, page text). Pass
    ``browser`` to keep the connection open afterwards, as a browser does.

    The daemon listens on IPv4 loopback; a browser resolving ``localhost`` to ``::1`` first
    falls back to it, so the test goes there directly and never meets another ``::1`` server.
    """
    parts = urlsplit(location)
    direct = parts._replace(netloc=f"127.0.0.1:{parts.port}").geturl()
    if browser is not None:
        return await _get(browser, direct)
    async with aiohttp.ClientSession() as http:
        return await _get(http, direct)


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as response:
        return response.status, await response.text()


def redirect_port(flow: Mapping[str, Any]) -> int:
    """The loopback port named by the redirect_uri of a started flow's authorization URL."""
    port = urlsplit(query(flow["url"])["redirect_uri"]).port
    assert port is not None
    return port


def held_port(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (any free one for 0): the port is busy.

    SO_REUSEADDR, as the daemon sets it: a port that only lingers in TIME_WAIT is free to
    either, while one another socket listens on is busy to both.
    """
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        held.bind(("127.0.0.1", port))
        held.listen()
    except OSError:
        held.close()
        raise
    return held


def occupied(port: int) -> socket.socket | None:
    """Make ``port`` busy: our own listener on it, or None when something else already is."""
    try:
        return held_port(port)
    except OSError:
        return None


def port_of(held: socket.socket) -> int:
    """The port ``held`` is bound to."""
    port: int = held.getsockname()[1]
    return port
