"""The one I/O step every HTTP adapter shares, and the translation of its failures.

:func:`fetch` makes one request on the shared ``aiohttp.ClientSession`` and returns the whole
body; :func:`exchange` makes a streamed one and yields the payloads: each SSE ``data``, or,
for a family with a binary framing (Bedrock's eventstream), each network read as it came.
aiohttp's exceptions and timeouts become :mod:`daemon.errors` here and nowhere else.
"""

from __future__ import annotations

import email.utils
import functools
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from types import TracebackType

import aiohttp
import orjson
from yarl import URL

from daemon.adapters.sse import SseParser
from daemon.adapters.types import HttpRequest
from daemon.errors import UpstreamError, UpstreamProtocol, UpstreamUnavailable

ERROR_BODY_LIMIT = 64 << 10
ErrorMapper = Callable[[int, Mapping[str, str], bytes], UpstreamError]


def retry_after_ms(headers: Mapping[str, str], now: float | None = None) -> int | None:
    """``Retry-After`` (seconds or an HTTP date) in milliseconds, if the provider sent one."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value) * 1000
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    delta = when.timestamp() - (time.time() if now is None else now)
    return max(0, int(delta * 1000))


async def _read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body up to ``limit`` bytes, however many pieces it arrives in."""
    pieces: list[bytes] = []
    size = 0
    while size < limit and (piece := await response.content.read(limit - size)):
        pieces.append(piece)
        size += len(piece)
    return b"".join(pieces)


async def _refused(response: aiohttp.ClientResponse, map_error: ErrorMapper) -> UpstreamError:
    """The typed error for an HTTP error answer, from its status, headers and (capped) body."""
    body = await _read_at_most(response, ERROR_BODY_LIMIT)
    return map_error(response.status, response.headers, body)


async def _not_a_stream(response: aiohttp.ClientResponse, map_error: ErrorMapper) -> UpstreamError:
    """A 200 that is not the event stream asked for: an error object in disguise, or garbage."""
    body = await _read_at_most(response, ERROR_BODY_LIMIT)
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and "error" in parsed:
        return map_error(200, response.headers, body)
    kind = response.headers.get("Content-Type", "no content type")
    return UpstreamProtocol(f"asked for an event stream, got {kind}")


class _Translated:
    """aiohttp's exceptions as :mod:`daemon.errors`, for the block it wraps (a class: this
    runs on every call, and a generator-based context manager costs a generator)."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or isinstance(exc, UpstreamError):
            return
        if isinstance(exc, aiohttp.ClientPayloadError):
            raise UpstreamUnavailable("the connection broke in the middle of the answer") from None
        if isinstance(exc, aiohttp.ClientConnectionError | OSError):
            raise UpstreamUnavailable(f"connection failed ({type(exc).__name__})") from None
        if isinstance(exc, aiohttp.ClientError):
            raise UpstreamProtocol(f"unreadable answer ({type(exc).__name__})") from None


_TRANSLATED = _Translated()


@functools.lru_cache(maxsize=16)
def _timeout(connect_timeout: float) -> aiohttp.ClientTimeout:
    # No total: first-byte, idle and total limits belong to the caller. Frozen, so shared.
    return aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_connect=connect_timeout)


def _send(
    session: aiohttp.ClientSession, request: HttpRequest, connect_timeout: float, exact_url: bool
) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
    # ``exact_url``: the URL is already percent-encoded and signed, so it goes out byte for
    # byte (aiohttp would otherwise turn ``%3A`` into ``:``).
    url = URL(request.url, encoded=True) if exact_url else request.url
    return session.request(
        request.method,
        url,
        headers=request.headers,
        data=request.body,
        timeout=_timeout(connect_timeout),
    )


async def fetch(
    session: aiohttp.ClientSession,
    request: HttpRequest,
    *,
    connect_timeout: float,
    map_error: ErrorMapper,
    exact_url: bool = False,
) -> bytes:
    """The whole body of one request's answer; raise UpstreamError on failure.

    A limit on the whole call belongs to the caller (``asyncio.timeout`` or a Cutoff around
    the await)."""
    with _TRANSLATED:
        async with _send(session, request, connect_timeout, exact_url) as response:
            if response.status >= 400:
                raise await _refused(response, map_error)
            return await response.read()


async def exchange(
    session: aiohttp.ClientSession,
    request: HttpRequest,
    *,
    connect_timeout: float,
    map_error: ErrorMapper,
    raw: str | None = None,
    exact_url: bool = False,
) -> AsyncGenerator[list[bytes], None]:
    """Yield the SSE data payloads of each network read of a streamed answer (a read may
    complete no event, or several); raise UpstreamError on failure.

    ``raw``: the stream's content type (``application/vnd.amazon.eventstream``); each read is
    yielded unparsed, for the caller to frame. First-byte, idle and total limits belong to the
    caller, which wraps its whole loop over this generator: a timeout must never span a
    ``yield``.
    """
    with _TRANSLATED:
        async with _send(session, request, connect_timeout, exact_url) as response:
            if response.status >= 400:
                raise await _refused(response, map_error)
            if (raw or "event-stream") not in response.headers.get("Content-Type", ""):
                raise await _not_a_stream(response, map_error)
            parser = None if raw else SseParser()
            while chunk := await response.content.readany():
                if parser is None:
                    yield [chunk]
                elif payloads := parser.payloads(chunk):
                    yield payloads
