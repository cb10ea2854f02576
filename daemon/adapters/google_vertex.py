"""The ``google-vertex`` family: Gemini and Claude on Vertex AI.

Gemini: ``POST {base}/publishers/google/models/{model}:generateContent`` (or
``:streamGenerateContent?alt=sse``) with the Gemini API's own body and answers, so the body
builder and parsers are :mod:`google_generative_ai`'s. Claude (a row with
``Quirk.ANTHROPIC_PUBLISHER``, or a model id starting ``claude``):
``{base}/publishers/anthropic/models/{model}:rawPredict`` (or ``:streamRawPredict``) with the
Anthropic Messages body, the model moved to the URL and ``anthropic_version`` added, answered
the way Anthropic answers, so :mod:`anthropic_messages` parses it.

Credentials: an express-mode API key (``target.key``) goes as ``x-goog-api-key``. Without one,
a service-account key file (option ``credentials_file``, else ``GOOGLE_APPLICATION_CREDENTIALS``)
is exchanged for an OAuth access token (the JWT bearer grant, RFC 7523) that is cached per
account until five minutes before it expires; concurrent calls share one refresh. The private
key, the signed assertion and the token never go into an error or a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import warnings
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from authlib.deprecate import AuthlibDeprecationWarning  # type: ignore[import-untyped]

from daemon.adapters import anthropic_messages as anthropic
from daemon.adapters import common
from daemon.adapters import google_generative_ai as gemini
from daemon.adapters.http import fetch
from daemon.adapters.types import ChatCall, Event, HttpRequest, Target
from daemon.errors import (
    ConfigInvalid,
    CredentialsMissing,
    Unsupported,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamProtocol,
)
from daemon.log import get_logger, scrub
from daemon.providers.catalog import CLAUDE_MODEL_MARKER
from daemon.providers.lookup import check_base_url
from daemon.providers.model import AuthStyle, Quirk

with warnings.catch_warnings():
    # authlib >= 1.7 marks authlib.jose deprecated in favour of joserfc, which the authlib
    # versions pyproject allows (>= 1.3) need not ship; jwt.encode is the same in all of them.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.jose import jwt  # type: ignore[import-untyped]

ANTHROPIC_VERSION = "vertex-2023-10-16"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
ASSERTION_LIFETIME = 3600  # seconds; Google accepts at most one hour
DEFAULT_TOKEN_LIFETIME = 3600.0  # when the token endpoint leaves expires_in out
REFRESH_MARGIN = 300.0  # refresh this long before expiry, so no call starts with a dying token
_SA_HELP = "download a new JSON key for the service account (IAM > Service accounts > Keys)"

log = get_logger("daemon.adapters.google_vertex")


def is_claude(target: Target) -> bool:
    """Whether ``target`` is an Anthropic publisher model (rawPredict, Messages body)."""
    anthropic_model = target.model.startswith(CLAUDE_MODEL_MARKER)
    return target.provider.has(Quirk.ANTHROPIC_PUBLISHER) or anthropic_model


def build_request(target: Target, call: ChatCall, token: str | None = None) -> HttpRequest:
    """The HTTP request for ``call``; ``token`` is the OAuth access token, if one is used."""
    if is_claude(target):
        publisher, body = "anthropic", _claude_body(call)
        method = "streamRawPredict" if call.stream else "rawPredict"
    else:
        publisher, body = "google", gemini.request_body(call)
        method = "streamGenerateContent?alt=sse" if call.stream else "generateContent"
    url = f"{target.base_url}/publishers/{publisher}/models/{target.model}:{method}"
    headers = common.headers(
        target, accept="text/event-stream" if call.stream else "application/json"
    )
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return HttpRequest("POST", common.with_query_key(url, target), headers, orjson.dumps(body))


def _claude_body(call: ChatCall) -> dict[str, Any]:
    # The Messages body as anthropic_messages builds it; Vertex takes the model from the URL
    # (a "model" key is refused) and the API version in the body, not a header.
    return {"anthropic_version": ANTHROPIC_VERSION, **anthropic.request_body(call)}


def map_claude_error(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """Vertex itself refuses (auth, quota, unknown model) in Google's error shape; the model's
    own errors come in Anthropic's."""
    try:
        parsed: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict) and "status" in error:
        return gemini.map_error(status, headers, body)
    return anthropic.map_error(status, headers, body)


async def stream(
    session: aiohttp.ClientSession, target: Target, call: ChatCall, connect_timeout: float
) -> AsyncGenerator[list[Event], None]:
    """Send a call and yield its events as they arrive, one list per network read."""
    token = await access_token(session, target, connect_timeout)
    claude = is_claude(target)
    events = common.relay(
        session,
        build_request(target, call, token),
        stream=call.stream,
        connect_timeout=connect_timeout,
        map_error=map_claude_error if claude else gemini.map_error,
        parse_body=anthropic.parse_body if claude else gemini.parse_body,
        parser=anthropic.StreamParser() if claude else gemini.StreamParser(),
    )
    try:
        async with contextlib.aclosing(events):
            async for batch in events:
                yield batch
    except UpstreamAuthFailed:
        if token is not None:
            TOKENS.forget(token)  # revoked or expired early: the next attempt gets a new one
        raise


async def models(
    session: aiohttp.ClientSession, target: Target, connect_timeout: float
) -> list[str]:
    """Unsupported: routing then answers with the models named in config and the catalog."""
    raise Unsupported(
        "Vertex AI lists no publisher models under a project URL; name them in "
        f"models = [...] of [providers.{target.provider.id}]",
        provider=target.provider.id,
    )


# --- service-account credentials -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """The fields of a service-account key file the token exchange needs."""

    path: str
    client_email: str
    token_uri: str
    private_key_id: str | None
    private_key: str = field(repr=False)


async def access_token(
    session: aiohttp.ClientSession, target: Target, connect_timeout: float
) -> str | None:
    """The bearer token for ``target``; None when an API key (or no credential) is used."""
    if target.key or target.provider.auth is AuthStyle.NONE:
        return None
    path, where = credentials_path(target)
    return await TOKENS.get(session, await _account(path, where), connect_timeout)


# Parsed key files by path, with the modification time they were read at: a call reads the
# file again only once it changed (a stat, not a read, a parse and a thread hop per call).
_ACCOUNTS: dict[str, tuple[int, ServiceAccount]] = {}


async def _account(path: str, where: str) -> ServiceAccount:
    try:
        changed = os.stat(path).st_mtime_ns
    except OSError:
        changed = -1  # gone or unreadable: reading it says which, with the next step
    cached = _ACCOUNTS.get(path)
    if cached is not None and cached[0] == changed:
        return cached[1]
    account = await asyncio.to_thread(read_service_account, path, where)
    _ACCOUNTS[path] = (changed, account)
    return account


def credentials_path(target: Target) -> tuple[str, str]:
    """The key file's path and where it was configured; CredentialsMissing when nowhere."""
    provider = target.provider.id
    configured = target.options.get("credentials_file")
    if configured:
        return os.path.expanduser(configured), f"credentials_file in [providers.{provider}]"
    from_env = os.environ.get(CREDENTIALS_ENV)
    if from_env:
        return os.path.expanduser(from_env), CREDENTIALS_ENV
    raise CredentialsMissing(
        f"{provider} needs a service-account key file: set credentials_file in "
        f"[providers.{provider}] or export {CREDENTIALS_ENV}; or use an express-mode API key "
        f"({' or '.join(target.provider.env_keys) or 'api_key'})",
        provider=provider,
        envKeys=[CREDENTIALS_ENV, *target.provider.env_keys],
    )


def read_service_account(path: str, where: str) -> ServiceAccount:
    """The key file at ``path`` (blocking: run it in a thread), checked field by field."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise CredentialsMissing(
            f"the service-account key file {path} (from {where}) does not exist; fix the "
            f"path or {_SA_HELP}",
            file=path,
        ) from None
    except OSError as exc:
        raise CredentialsMissing(
            f"cannot read the service-account key file {path} (from {where}): "
            f"{type(exc).__name__}; make it readable by the daemon's user",
            file=path,
        ) from None
    return parse_service_account(raw, path)


def parse_service_account(raw: bytes, path: str) -> ServiceAccount:
    """The service account in ``raw``; ConfigInvalid naming the field that is wrong."""
    try:
        info = orjson.loads(raw)
    except orjson.JSONDecodeError:
        info = None  # the parser's message may quote the file: never show it
    if not isinstance(info, dict):
        raise ConfigInvalid(path, "(file)", f"is not a JSON key file; {_SA_HELP}")
    kind = info.get("type")
    if kind != "service_account":
        shown = repr(kind)[:40] if isinstance(kind, str) else "missing"
        raise ConfigInvalid(path, "type", f"is {shown}, not 'service_account'; {_SA_HELP}")
    for name in ("client_email", "private_key"):
        if not isinstance(info.get(name), str) or not info[name]:
            raise ConfigInvalid(path, name, f"is missing or empty; {_SA_HELP}")
    token_uri = info.get("token_uri") or DEFAULT_TOKEN_URI
    try:
        token_uri = check_base_url(str(token_uri))
    except ValueError as exc:
        raise ConfigInvalid(path, "token_uri", f"{exc}; {_SA_HELP}") from None
    key_id = info.get("private_key_id")
    return ServiceAccount(
        path=path,
        client_email=info["client_email"],
        token_uri=token_uri,
        private_key_id=key_id if isinstance(key_id, str) else None,
        private_key=info["private_key"],
    )


def sign_assertion(account: ServiceAccount, now: int) -> str:
    """The RS256-signed JWT that asks ``account.token_uri`` for a cloud-platform token."""
    header = {"alg": "RS256", "typ": "JWT"}
    if account.private_key_id:
        header["kid"] = account.private_key_id  # lets Google pick the key without trying all
    claims = {
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": account.token_uri,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME,
    }
    try:
        signed: bytes = jwt.encode(header, claims, account.private_key)
    except ValueError:  # cryptography's words about the key; "from None" drops them too
        raise ConfigInvalid(
            account.path, "private_key", f"is not a PEM RSA private key; {_SA_HELP}"
        ) from None
    return signed.decode()


def token_error(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """The token endpoint's refusal: a 4xx is the key's fault (invalid_grant: deleted or
    disabled key, a clock far off); 429 and 5xx are the endpoint's, typed as usual."""
    if not 400 <= status < 500 or status in (408, 429):
        return common.error_from_status(status, headers, body)
    try:
        parsed: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    answer = parsed if isinstance(parsed, dict) else {}
    code = str(answer.get("error") or f"HTTP {status}")[:100]
    said = scrub(str(answer.get("error_description") or ""))[: common.DETAIL_LIMIT]
    return UpstreamAuthFailed(
        f"the token endpoint refused the service account ({scrub(code)}: {said}); check that "
        f"the key is not deleted or disabled and the system clock is right, or {_SA_HELP}",
        status=status,
        upstreamCode=scrub(code),
    )


def parse_token(body: bytes) -> tuple[str, float]:
    """The access token and its lifetime in seconds from the token endpoint's answer."""
    answer = common.json_object(body)
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise UpstreamProtocol("the token endpoint's answer has no access_token")
    lifetime = answer.get("expires_in")
    if isinstance(lifetime, str) and lifetime.isdigit():
        lifetime = int(lifetime)
    if not isinstance(lifetime, int | float) or lifetime <= 0:
        lifetime = DEFAULT_TOKEN_LIFETIME
    return token, float(lifetime)


async def fetch_token(
    session: aiohttp.ClientSession, account: ServiceAccount, connect_timeout: float
) -> tuple[str, float]:
    """A fresh access token for ``account`` and its lifetime (seconds)."""
    form = {"grant_type": JWT_BEARER_GRANT, "assertion": sign_assertion(account, int(time.time()))}
    request = HttpRequest(
        "POST",
        account.token_uri,
        {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        urlencode(form).encode(),
    )
    try:
        return parse_token(
            await fetch(session, request, connect_timeout=connect_timeout, map_error=token_error)
        )
    except UpstreamError as exc:  # say which request failed: the call itself was not sent
        detail = exc.detail or exc.message
        raise type(exc)(f"token endpoint {account.token_uri}: {detail}", **exc.data) from None


class TokenCache:
    """Access tokens per (client_email, token_uri), each kept until ``REFRESH_MARGIN``
    before it expires; one lock per account makes concurrent calls share one refresh."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}  # -> (token, refresh at)
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def get(
        self, session: aiohttp.ClientSession, account: ServiceAccount, connect_timeout: float
    ) -> str:
        """A token for ``account``: the cached one while fresh, else a new one."""
        key = (account.client_email, account.token_uri)
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._tokens.get(key)
            if cached is not None and self.clock() < cached[1]:
                return cached[0]
            token, lifetime = await fetch_token(session, account, connect_timeout)
            self._tokens[key] = (token, self.clock() + lifetime - REFRESH_MARGIN)
            log.info("vertex_token_refreshed", account=account.client_email, lifetime=lifetime)
            return token

    def forget(self, token: str) -> None:
        """Drop ``token`` (Vertex refused it), so the next call fetches a new one."""
        self._tokens = {key: value for key, value in self._tokens.items() if value[0] != token}


# The daemon's one cache (tests swap in their own, with a clock they control).
TOKENS = TokenCache()
