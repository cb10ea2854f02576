"""The one I/O step every HTTP adapter shares, and the translation of its failures.

:func:`exchange` makes one request on the shared ``aiohttp.ClientSession`` and yields the
payloads: each SSE ``data`` of a stream, or the whole body once. aiohttp's exceptions and
timeouts become :mod:`daemon.errors` here and nowhere else.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Callable, Mapping

import aiohttp

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


async def exchange(
    session: aiohttp.ClientSession,
    request: HttpRequest,
    *,
    stream: bool,
    connect_timeout: float,
    map_error: ErrorMapper,
) -> AsyncIterator[bytes]:
    """Yield SSE data payloads (``stream``) or the body once; raise UpstreamError on failure.

    First-byte, idle and total limits belong to the caller, which wraps its whole loop over
    this generator in ``asyncio.timeout``: a timeout must never span a ``yield``.
    """
    timeout = aiohttp.ClientTimeout(
        total=None, connect=connect_timeout, sock_connect=connect_timeout
    )
    try:
        async with session.request(
            request.method, request.url, headers=request.headers, data=request.body, timeout=timeout
        ) as response:
            if response.status >= 400:
                body = await response.content.read(ERROR_BODY_LIMIT)
                raise map_error(response.status, response.headers, body)
            if not stream:
                yield await response.read()
                return
            parser = SseParser()
            while chunk := await response.content.readany():
                for event in parser.feed(chunk):
                    yield event.data
    except aiohttp.ClientPayloadError:
        raise UpstreamUnavailable("the connection broke in the middle of the answer") from None
    except (aiohttp.ClientConnectionError, OSError) as exc:
        raise UpstreamUnavailable(f"connection failed ({type(exc).__name__})") from None
    except aiohttp.ClientError as exc:
        raise UpstreamProtocol(f"unreadable answer ({type(exc).__name__})") from None
