"""Talking to authorization servers: pure request builders, one I/O call, one translation.

authlib provides the standard parts (PKCE S256, the authorize URI, parsing a redirect);
the provider dialects (JSON token bodies, absolute-ms expiries) are data on the login rows.
Every failure of a token endpoint becomes :class:`OAuthRefusal` (the server said no, with
an RFC 6749 error code) or :class:`~daemon.errors.LoginFailed` (it answered HTML, 5xx,
nothing) here, and nowhere else.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from yarl import URL

from daemon.auth.logins import LoginSpec, TokenBody
from daemon.errors import LoginFailed

TOKEN_TIMEOUT_S = 20.0
_MAX_ANSWER = 1 << 20
_DESCRIPTION_CHARS = 200  # an error description is the server's words: keep them short


class OAuthRefusal(Exception):
    """The server refused a grant with an RFC 6749 ``error`` (or a dialect's equivalent)."""

    def __init__(self, error: str, description: str, status: int, interval: object = None) -> None:
        super().__init__(error)
        self.error = error
        self.description = description[:_DESCRIPTION_CHARS]
        self.status = status
        self.interval = interval  # a device poll's new interval (GitHub's slow_down says one)


@dataclass(frozen=True, slots=True)
class Pkce:
    """A PKCE pair (RFC 7636, S256) and an independent random ``state``."""

    verifier: str
    challenge: str
    state: str

    def __repr__(self) -> str:
        return "Pkce(...)"

    @classmethod
    def new(cls) -> Pkce:
        verifier = generate_token(64)
        return cls(verifier, create_s256_code_challenge(verifier), generate_token(32))


def authorize_url(spec: LoginSpec, redirect_uri: str, pkce: Pkce) -> str:
    """The URL a person opens to approve the login."""
    endpoints = spec.endpoints
    assert endpoints.authorize_url is not None, "browser logins name an authorize URL"
    return str(
        prepare_grant_uri(
            endpoints.authorize_url,
            endpoints.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=" ".join(endpoints.scopes) or None,
            state=pkce.state,
            code_challenge=pkce.challenge,
            code_challenge_method="S256",
            **dict(spec.authorize_params),
        )
    )


def code_grant(spec: LoginSpec, code: str, redirect_uri: str, verifier: str) -> dict[str, str]:
    """The token request that redeems an authorization code (RFC 6749 4.1.3 + RFC 7636)."""
    return _with_client(
        spec,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    )


def refresh_grant(spec: LoginSpec, refresh_token: str) -> dict[str, str]:
    """The token request that refreshes an access token (RFC 6749 section 6)."""
    return _with_client(spec, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def _with_client(spec: LoginSpec, body: dict[str, str]) -> dict[str, str]:
    body["client_id"] = spec.endpoints.client_id
    if spec.endpoints.client_secret:
        body["client_secret"] = spec.endpoints.client_secret
    return body


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: Mapping[str, Any],
    shape: TokenBody = TokenBody.FORM,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST ``body`` and return (status, JSON object); LoginFailed when no JSON comes back."""
    sent = {"Accept": "application/json", **(headers or {})}
    payload: dict[str, Any] = {"json": dict(body)} if shape is TokenBody.JSON else {"data": body}
    with _failures(url):
        async with asyncio.timeout(TOKEN_TIMEOUT_S):
            async with session.post(url, headers=sent, **payload) as response:
                raw = await response.content.read(_MAX_ANSWER)
                return response.status, _json_object(raw, response.status, url)


async def get(
    session: aiohttp.ClientSession, url: str, headers: Mapping[str, str]
) -> tuple[int, dict[str, Any]]:
    """GET ``url`` for a JSON object, with :func:`post`'s failure translation."""
    with _failures(url):
        async with asyncio.timeout(TOKEN_TIMEOUT_S):
            async with session.get(url, headers=dict(headers)) as response:
                raw = await response.content.read(_MAX_ANSWER)
                return response.status, _json_object(raw, response.status, url)


async def revoke(session: aiohttp.ClientSession, url: str, body: Mapping[str, str]) -> bool:
    """RFC 7009 revocation: True on a 200. The answer has no body to read (RFC 7009 2.2: a
    client ignores it); LoginFailed when the server cannot be reached."""
    with _failures(url):
        async with asyncio.timeout(TOKEN_TIMEOUT_S):
            async with session.post(url, data=dict(body)) as response:
                return response.status == 200


@contextlib.contextmanager
def _failures(url: str) -> Iterator[None]:
    """A server that does not answer, or cannot be reached, as LoginFailed."""
    try:
        yield
    except TimeoutError:
        raise LoginFailed(f"{_host(url)} did not answer within {TOKEN_TIMEOUT_S:g}s") from None
    except aiohttp.ClientError as exc:
        raise LoginFailed(f"{_host(url)} could not be reached ({type(exc).__name__})") from None


def _json_object(raw: bytes, status: int, url: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        what = "an HTML page" if raw.lstrip()[:1] == b"<" else "something that is not JSON"
        raise LoginFailed(f"{_host(url)} answered {what} (HTTP {status})", status=status)
    return value


def checked(status: int, answer: dict[str, Any], url: str) -> dict[str, Any]:
    """``answer`` when it is a success; OAuthRefusal or LoginFailed when it is not."""
    error = answer.get("error")
    refused = answer.get("status") == "error"  # minimax: HTTP 200 with a status field
    if 200 <= status < 300 and not error and not refused:
        return answer
    # 429 means "not now" (kimi-cli retries it), not "log in again"; qwen's device poll is
    # the exception, putting RFC 8628's slow_down in the body of its 429.
    if status >= 500 or (status == 429 and error != "slow_down"):
        raise LoginFailed(f"{_host(url)} failed (HTTP {status})", status=status)
    code, description = _error_of(error, answer)
    raise OAuthRefusal(code, description, status, answer.get("interval"))


def _error_of(error: object, answer: Mapping[str, Any]) -> tuple[str, str]:
    # RFC 6749 puts a string in "error"; OpenAI nests {"code", "message"}; some add "code".
    if isinstance(error, dict):
        return str(error.get("code") or error.get("type") or "error"), str(error.get("message", ""))
    code = answer.get("code") if isinstance(answer.get("code"), str) else None
    base = answer.get("base_resp")  # minimax's {status_code, status_msg}
    if not error and isinstance(base, dict):
        return "refused", str(base.get("status_msg") or "")
    return str(code or error or "error"), str(answer.get("error_description", ""))


def _host(url: str) -> str:
    return URL(url).host or "the authorization server"


def jwt_claims(token: str | None) -> dict[str, Any]:
    """The claims of a JWT, unverified (the issuer checks its own tokens); {} for non-JWTs."""
    if not token or token.count(".") != 2:
        return {}
    segment = token.split(".")[1]
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def jwt_expiry_ms(token: str | None) -> int | None:
    """A JWT's ``exp`` claim as epoch ms; None for a token that is no JWT or has none."""
    exp = jwt_claims(token).get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        return None
    return int(exp * 1000)
