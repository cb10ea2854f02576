"""The wire pieces every variant shares: a request parsed once, RFC 6749 section 5 answers,
HTML pages, redirects, client credentials (RFC 6749 2.3.1), PKCE S256 (RFC 7636) and JWTs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from aiohttp import web
from multidict import CIMultiDictProxy
from yarl import URL

JSON = dict[str, Any]
FORM = "application/x-www-form-urlencoded"
# The fake signs its JWTs (HS256) so tests can tell its tokens from forged ones; clients
# only decode the claims.
JWT_SECRET = b"switchboard-fake-oauth-jwt-secret"
# RFC 6749 5.1: token answers (and errors beside them) must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 4.1
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256 digest, unpadded


@dataclass(frozen=True)
class Call:
    """One request, read and parsed once; the handlers are plain functions of it."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    kind: str  # "query" (a GET), "form", "json", "empty" or "other" (neither form nor object)
    params: JSON  # the query of a GET, else the form fields or the JSON object
    repeated: frozenset[str] = frozenset()  # names sent more than once (RFC 6749 3.1 forbids)

    def text(self, name: str) -> str | None:
        """Parameter ``name`` as a non-empty string, else None."""
        value = self.params.get(name)
        return value if isinstance(value, str) and value else None

    def wants_json(self) -> bool:
        """Whether the client asked for JSON (GitHub answers form-encoded otherwise)."""
        return "application/json" in self.headers.get("Accept", "")


def _repeats(pairs: list[tuple[str, str]]) -> frozenset[str]:
    names = [name for name, _ in pairs]
    return frozenset(name for name in names if names.count(name) > 1)


def _body(content_type: str, raw: bytes) -> tuple[str, JSON, frozenset[str]]:
    if not raw:
        return "empty", {}, frozenset()
    if content_type == FORM:
        pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        return "form", dict(pairs), _repeats(pairs)
    if content_type == "application/json":
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return "json", value, frozenset()
    return "other", {}, frozenset()


async def read_call(request: web.Request) -> Call:
    """Parse ``request`` once: a GET's query, or a form or JSON body."""
    pairs = list(request.query.items())
    if request.method == "GET":
        kind, params, repeated = "query", dict(pairs), _repeats(pairs)
    else:
        kind, params, repeated = _body(request.content_type, await request.read())
    return Call(request.method, request.path, dict(pairs), request.headers, kind, params, repeated)


def answer(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON answer."""
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )


def tokens_answer(body: JSON) -> web.Response:
    """RFC 6749 5.1: a successful token answer, marked not cacheable."""
    return answer(body, headers=NO_STORE)


def oauth_error(
    error: str,
    description: str,
    status: int = 400,
    *,
    extra: JSON | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """RFC 6749 5.2's ``{"error", "error_description"}`` (400, or 401 for invalid_client)."""
    body = {"error": error, "error_description": description, **(extra or {})}
    return answer(body, status, {**NO_STORE, **(headers or {})})


def html(status: int, title: str, text: str, form: str = "") -> web.Response:
    """A small HTML page, as an authorization server shows a person."""
    page = (
        f"<!DOCTYPE html>\n<html><head><title>{escape(title)}</title></head>\n"
        f"<body><h1>{escape(title)}</h1><p>{escape(text)}</p>{form}</body></html>\n"
    )
    return web.Response(status=status, text=page, content_type="text/html")


def redirect(uri: str, **params: str | None) -> web.Response:
    """302 to ``uri`` with ``params`` added to its query (RFC 6749 3.1.2 keeps the query)."""
    location = URL(uri).update_query({k: v for k, v in params.items() if v is not None})
    return web.Response(status=302, headers={"Location": str(location), **NO_STORE})


def seconds(value: float) -> int | float:
    """A duration for a JSON answer: an integer when it is whole (RFC 8628's ``interval``)."""
    return int(value) if value == int(value) else value


def rand(nbytes: int = 32) -> str:
    """An unguessable URL-safe string."""
    return secrets.token_urlsafe(nbytes)


def client_credentials(call: Call) -> tuple[str | None, str | None, bool]:
    """(client_id, client_secret, sent by HTTP Basic) per RFC 6749 2.3.1, Basic or body.

    A malformed Basic header gives (None, None, True): authentication fails.
    """
    scheme, _, value = call.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return call.text("client_id"), call.text("client_secret"), False
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None, True
    user, colon, password = decoded.partition(":")
    if not colon:
        return None, None, True
    # RFC 6749 2.3.1: both halves are form-urlencoded before they are joined.
    return unquote_plus(user), unquote_plus(password), True


def presented_token(call: Call) -> str | None:
    """The token of ``Authorization: Bearer <t>`` (or GitHub's ``token <t>``)."""
    scheme, _, value = call.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return None


def s256(verifier: str) -> str:
    """RFC 7636 4.2: BASE64URL(SHA256(ASCII(code_verifier))), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def pkce_problem(challenge: str | None, method: str | None) -> str | None:
    """Why an authorization request's PKCE parameters are refused (RFC 7636 4.4.1), or None.

    Only S256 is accepted; a missing method means ``plain`` (RFC 7636 4.3), also refused.
    """
    if challenge is None:
        return "code_challenge is required"
    if (method or "plain") != "S256":
        return f"code_challenge_method {method or 'plain'!r} is not supported: use S256"
    if not _CHALLENGE.fullmatch(challenge):
        return "code_challenge is not a base64url SHA-256 digest"
    return None


def verifier_matches(challenge: str, verifier: str | None) -> bool:
    """RFC 7636 4.6: the verifier is well-formed and hashes to the challenge."""
    if verifier is None or not _VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(s256(verifier), challenge)


def new_verifier() -> str:
    """A fresh RFC 7636 code verifier (43-128 unreserved characters)."""
    return secrets.token_urlsafe(48)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: JSON) -> str:
    """A compact JWS (HS256, :data:`JWT_SECRET`) carrying ``claims``."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(JWT_SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def jwt_claims(token: str) -> JSON:
    """The claims of a JWT this fake signed; ValueError for anything else."""
    header, payload, signature = token.split(".")
    expected = hmac.new(JWT_SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(_b64(expected), signature):
        raise ValueError("not a JWT signed by the fake")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if not isinstance(claims, dict):
        raise ValueError("JWT claims are not an object")
    return claims
