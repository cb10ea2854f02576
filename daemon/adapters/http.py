"""The one I/O step every HTTP adapter shares, and the translation of its failures.

:func:`exchange` makes one request on the shared ``aiohttp.ClientSession`` and yields the
payloads: each SSE ``data`` of a stream, or the whole body once; a family with a binary
framing (Bedrock's eventstream) asks for each network read as it came. aiohttp's exceptions
and timeouts become :mod:`daemon.errors` here and nowhere else.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncGenerator, Callable, Mapping

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


async def exchange(
    session: aiohttp.ClientSession,
    request: HttpRequest,
    *,
    stream: bool,
    connect_timeout: float,
    map_error: ErrorMapper,
    raw: str | None = None,
    exact_url: bool = False,
) -> AsyncGenerator[list[bytes], None]:
    """Yield the SSE data payloads of each network read (``stream``; a read may complete no
    event, or several) or the body once; raise UpstreamError on failure.

    ``raw``: the stream's content type (``application/vnd.amazon.eventstream``); each read is
    yielded unparsed, for the caller to frame. ``exact_url``: the URL is already percent-encoded
    and signed, so it goes out byte for byte (aiohttp would otherwise turn ``%3A`` into ``:``).
    First-byte, idle and total limits belong to the caller, which wraps its whole loop over
    this generator in ``asyncio.timeout``: a timeout must never span a ``yield``.
    """
    timeout = aiohttp.ClientTimeout(
        total=None, connect=connect_timeout, sock_connect=connect_timeout
    )
    url = URL(request.url, encoded=True) if exact_url else request.url
    try:
        async with session.request(
            request.method, url, headers=request.headers, data=request.body, timeout=timeout
        ) as response:
            if response.status >= 400:
                body = await _read_at_most(response, ERROR_BODY_LIMIT)
                raise map_error(response.status, response.headers, body)
            if not stream:
                yield [await response.read()]
                return
            if (raw or "event-stream") not in response.headers.get("Content-Type", ""):
                raise await _not_a_stream(response, map_error)
            parser = None if raw else SseParser()
            while chunk := await response.content.readany():
                if parser is None:
                    yield [chunk]
                elif events := parser.feed(chunk):
                    yield [event.data for event in events]
    except aiohttp.ClientPayloadError:
        raise UpstreamUnavailable("the connection broke in the middle of the answer") from None
    except (aiohttp.ClientConnectionError, OSError) as exc:
        raise UpstreamUnavailable(f"connection failed ({type(exc).__name__})") from None
    except aiohttp.ClientError as exc:
        raise UpstreamProtocol(f"unreadable answer ({type(exc).__name__})") from None
