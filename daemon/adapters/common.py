"""What the HTTP adapters share: credential placement and the reading of error answers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import orjson

from daemon.adapters.http import ErrorMapper, exchange, fetch, retry_after_ms
from daemon.adapters.types import ChatCall, Event, Finish, HttpRequest, Target
from daemon.errors import (
    ContextTooLong,
    RateLimited,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamProtocol,
    UpstreamRejected,
    UpstreamUnavailable,
)
from daemon.log import scrub
from daemon.providers.model import AuthStyle

DETAIL_LIMIT = 500
_AUTH_HEADER: Mapping[AuthStyle, Callable[[str], tuple[str, str]]] = {
    AuthStyle.BEARER: lambda key: ("Authorization", f"Bearer {key}"),
    AuthStyle.X_API_KEY: lambda key: ("x-api-key", key),
    AuthStyle.API_KEY: lambda key: ("api-key", key),
    AuthStyle.X_GOOG_API_KEY: lambda key: ("x-goog-api-key", key),
    AuthStyle.AWS_SIGV4: lambda key: ("Authorization", f"Bearer {key}"),  # a Bedrock API key
}
_CONTEXT_HINTS = (
    "context_length",
    "context length",
    "maximum context",
    "too many tokens",
    "prompt is too long",
    "exceeds the maximum number of tokens",  # Gemini
    "input is too long",  # Bedrock
    "too many input tokens",  # Bedrock
)
_UNAVAILABLE = frozenset({408, 409, 425, 529})
# Words of an in-stream error (no HTTP status to go by) that blame the provider's side.
_SERVER_SIDE = ("overload", "server_error", "api_error", "internal", "unavailable", "timeout")


def headers(target: Target, *, accept: str) -> dict[str, str]:
    """Content type, accept, the credential where the provider wants it, static extras."""
    result = {"Content-Type": "application/json", "Accept": accept}
    place = _AUTH_HEADER.get(target.provider.auth)
    if place is not None and target.key:
        name, value = place(target.key)
        result[name] = value
    result.update(target.provider.headers)
    result.update(target.headers)
    return result


def with_query_key(url: str, target: Target) -> str:
    """``url`` with ``?key=`` for providers that take the credential in the query."""
    if target.provider.auth is not AuthStyle.QUERY_KEY or not target.key:
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}key={quote(target.key, safe='')}"


def _provider_words(body: Any) -> tuple[str, str]:
    """The provider's own message and error code, from the usual error body shapes."""
    if not isinstance(body, dict):
        return "", ""
    error = body.get("error", body)
    if isinstance(error, str):
        return error, ""
    if not isinstance(error, dict):
        return "", ""
    message = error.get("message") or body.get("message") or ""
    code = error.get("code") or error.get("type") or ""
    return str(message), str(code)


def _provider_param(body: Any) -> str:
    """The request field an OpenAI-style error names (``"param": "messages[0].role"``)."""
    error = body.get("error") if isinstance(body, dict) else None
    param = error.get("param") if isinstance(error, dict) else None
    return param if isinstance(param, str) else ""


def error_from_body(
    body: Any, *, status: int, headers: Mapping[str, str] | None = None
) -> UpstreamError:
    """The typed error for a provider's error answer; its words are scrubbed of secrets."""
    message, code = _provider_words(body)
    detail = scrub(message)[:DETAIL_LIMIT] or f"HTTP {status}"
    data: dict[str, Any] = {"status": status}
    if code:
        data["upstreamCode"] = scrub(code)[:100]
    if param := _provider_param(body):
        data["field"] = scrub(param)[:100]  # the request field the provider names
    retry_after = retry_after_ms(headers or {})
    if retry_after is not None:
        data["retryAfterMs"] = retry_after
    lowered = f"{message} {code}".lower()
    if status in (401, 403):
        return UpstreamAuthFailed(detail, **data)
    if status == 429:
        return RateLimited(detail, **data)
    if status in _UNAVAILABLE or status >= 500:
        return UpstreamUnavailable(detail, **data)
    if any(hint in lowered for hint in _CONTEXT_HINTS):
        return ContextTooLong(detail, **data)
    if status == 200:  # an error object inside a successful stream
        if any(hint in lowered for hint in _SERVER_SIDE):
            return UpstreamUnavailable(detail, **data)
        return UpstreamRejected(detail, **data)
    return UpstreamRejected(detail, **data)


def json_object(payload: bytes) -> dict[str, Any]:
    """``payload`` parsed as a JSON object; UpstreamProtocol when it is anything else."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise UpstreamProtocol("the provider sent something that is not JSON") from None
    if not isinstance(value, dict):
        raise UpstreamProtocol("the provider sent JSON that is not an object")
    return value


def error_from_status(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """The typed error for an HTTP error status and its body (JSON, plain text, or neither)."""
    try:
        parsed: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = _plain_words(headers, body)
    return error_from_body(parsed, status=status, headers=headers)


def _plain_words(headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
    # Some gateways refuse in a bare sentence (Copilot: "bad request: missing Editor-Version
    # header for IDE auth"); those words are the provider's. An HTML page's are not.
    kind = headers.get("Content-Type") or headers.get("content-type") or ""
    text = body.decode("utf-8", "replace").strip()
    if not kind.startswith("text/plain") or not text:
        return None
    return {"error": {"message": text}}


async def list_models(
    session: aiohttp.ClientSession,
    request: HttpRequest,
    connect_timeout: float,
    map_error: ErrorMapper,
) -> list[str]:
    """Model ids from a ``GET .../models`` answering ``{"data": [{"id": ...}, ...]}``."""
    return model_ids(
        await fetch(session, request, connect_timeout=connect_timeout, map_error=map_error)
    )


async def fetch_json(
    session: aiohttp.ClientSession,
    request: HttpRequest,
    connect_timeout: float,
    map_error: ErrorMapper,
) -> dict[str, Any]:
    """The JSON object one non-streamed call answers (a token count, say)."""
    return json_object(
        await fetch(session, request, connect_timeout=connect_timeout, map_error=map_error)
    )


def count_in(answer: Mapping[str, Any], key: str, default: int | None = None) -> int:
    """The non-negative integer count under ``key`` of a counting call's answer (``default``
    when the key is absent: protobuf JSON leaves zeros out)."""
    value = answer.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UpstreamProtocol(f"the token count has no {key}")
    return value


def model_ids(body: bytes) -> list[str]:
    """The ids of a ``{"data": [{"id": ...}, ...]}`` listing (OpenAI's, Anthropic's), sorted."""
    try:
        listing = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamProtocol("the model list is not JSON") from None
    items = listing.get("data") if isinstance(listing, dict) else None
    return sorted(
        str(item["id"]) for item in items or () if isinstance(item, dict) and "id" in item
    )


MODEL_PAGES = 20  # enough for every listing seen; a provider that never ends is cut off


def token_in(field: str) -> Callable[[Mapping[str, Any]], str | None]:
    """The next page's token of listings that name it in ``field`` (Gemini, Cohere)."""
    return lambda page: str(page[field]) if page.get(field) else None


async def paged_models(
    session: aiohttp.ClientSession,
    page_request: Callable[[str | None], HttpRequest],
    parse: Callable[[bytes], list[str]],
    next_token: Callable[[Mapping[str, Any]], str | None],
    connect_timeout: float,
    map_error: ErrorMapper,
) -> list[str]:
    """Model ids over every page of a listing; ``next_token`` reads a page's pointer onwards."""
    ids: list[str] = []
    token: str | None = None
    for _ in range(MODEL_PAGES):
        body = await fetch(
            session, page_request(token), connect_timeout=connect_timeout, map_error=map_error
        )
        ids += parse(body)
        token = next_token(json_object(body))
        if token is None:
            break
    return sorted(set(ids))


def system_texts(call: ChatCall) -> list[str]:
    """The text of each system message, for families that take the system prompt apart."""
    return [text_of(m.get("content", "")) for m in call.messages if m["role"] == "system"]


def merged_turns(
    messages: list[dict[str, Any]], blocks_of: Callable[[dict[str, Any]], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Turns whose roles alternate, as Anthropic and Bedrock want: tool results are user turns,
    and neighbours of one role merge into one turn of their ``blocks_of``."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = "user" if message["role"] == "tool" else message["role"]
        blocks = blocks_of(message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def text_of(content: Any) -> str:
    """The text of a message's content: the string, or its text parts joined."""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


class StreamParser(Protocol):
    """A family's per-stream state: events for each SSE payload; ``done`` at its end marker."""

    done: bool

    def feed(self, payload: bytes) -> list[Event]: ...


async def relay(
    session: aiohttp.ClientSession,
    request: HttpRequest,
    *,
    stream: bool,
    connect_timeout: float,
    map_error: ErrorMapper,
    parse_body: Callable[[bytes], list[Event]],
    parser: StreamParser | None,
    raw: str | None = None,
    exact_url: bool = False,
) -> AsyncGenerator[list[Event], None]:
    """The one I/O loop of every family: yield the events of each network read.

    A stream ends at the parser's end marker, or when the connection closes after a finish
    reason arrived; closing before one is a truncated answer. ``parser`` may be None when not
    streaming; ``raw`` and ``exact_url`` go to :func:`exchange` (binary streams, signed URLs).
    """
    if not stream:
        body = await fetch(
            session,
            request,
            connect_timeout=connect_timeout,
            map_error=map_error,
            exact_url=exact_url,
        )
        yield parse_body(body)
        return
    reads = exchange(
        session,
        request,
        connect_timeout=connect_timeout,
        map_error=map_error,
        raw=raw,
        exact_url=exact_url,
    )
    assert parser is not None, "a stream needs its parser"
    finished = False
    # Closed here when the end marker comes first: a generator left suspended would be closed
    # by the event loop's finalizer instead, through a task of its own (~9 us a stream).
    async with contextlib.aclosing(reads):
        async for payloads in reads:
            batch = [event for payload in payloads for event in parser.feed(payload)]
            if batch:
                finished = finished or any(isinstance(event, Finish) for event in batch)
                yield batch
            if parser.done:
                return
    if not finished:
        raise stream_ended_early()


StreamFunction = Callable[
    [aiohttp.ClientSession, Target, ChatCall, float], AsyncGenerator[list[Event], None]
]


def streamer(
    build_request: Callable[[Target, ChatCall], HttpRequest],
    parse_body: Callable[[bytes], list[Event]],
    new_parser: Callable[[], StreamParser],
    map_error: ErrorMapper,
) -> StreamFunction:
    """An SSE family's ``stream`` function, from its pure parts: send, then relay events."""

    def stream(
        session: aiohttp.ClientSession, target: Target, call: ChatCall, connect_timeout: float
    ) -> AsyncGenerator[list[Event], None]:
        return relay(
            session,
            build_request(target, call),
            stream=call.stream,
            connect_timeout=connect_timeout,
            map_error=map_error,
            parse_body=parse_body,
            parser=new_parser(),
        )

    return stream


def stream_ended_early() -> UpstreamError:
    return UpstreamUnavailable("the stream ended before the answer was complete")
