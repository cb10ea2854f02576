"""What the login-bound families' fakes share: the tokens their imports hand the daemon, and an
authorization server that knows none of the refresh tokens.

Each login-bound wire accepts exactly the access token its import file carries (Copilot's
accepts the tokens its own exchange issued). The refresh tokens in those files were never
issued by anyone, so the token endpoint every such login is pointed at
(:data:`REFUSED_REFRESH`, under the wire's mount) refuses each refresh grant the way RFC 6749
section 5.2 says (400 ``invalid_grant``): after a 401 from the API, a new login is the only way
on. Refreshing for real is the OAuth fakes' business
(``tests/fakes/oauth/``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from tests.fakes.families.wire import JSON, Handler, SignIn

TOKEN_PATH = "/oauth/token"  # under a wire's mount
# 2100-01-01: an expiry no test run outlives, so no login is renewed for its age.
FAR_FUTURE_S = 4_102_444_800
# The path of every refresh grant refused, in order (tests count their mount's).
REFUSED: list[str] = []


def access_token(provider: str) -> str:
    """The access token the import of ``provider`` carries (and its fake accepts)."""
    return f"contract-{provider}-access-0000"


def refresh_token(provider: str) -> str:
    """The refresh token the import of ``provider`` carries (no server knows it)."""
    return f"contract-{provider}-refresh-0000"


def token_url(base_url: str, mount: str) -> str:
    """Where ``[oauth.<id>] token_url`` points a login-bound wire's refresh grants."""
    return f"{base_url}{mount}{TOKEN_PATH}"


def bearer(headers: Mapping[str, str]) -> str:
    """The token of an ``Authorization: Bearer`` header, else ``""``."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token if scheme == "Bearer" else ""


def unsigned_jwt(claims: Mapping[str, Any]) -> str:
    """A JWT with ``claims`` and a dummy signature (the daemon reads claims, never verifies)."""

    def part(value: Mapping[str, Any]) -> str:
        raw = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def oauth_token_file(provider: str, expiry: str, unit_ms: bool = True) -> dict[str, Any]:
    """The flat token file the qwen, minimax, kimi and Gemini CLIs write (google-auth-library's
    ``Credentials`` layout): tokens, type and an absolute expiry in ``expiry``."""
    return {
        "access_token": access_token(provider),
        "refresh_token": refresh_token(provider),
        "token_type": "Bearer",
        expiry: FAR_FUTURE_S * 1000 if unit_ms else float(FAR_FUTURE_S),
    }


async def refuse_refresh(request: web.Request) -> web.Response:
    """POST token endpoint: a form grant is read, recorded and refused as unknown."""
    form = await request.post()
    REFUSED.append(request.path)
    if form.get("grant_type") != "refresh_token":
        refusal = {"error": "unsupported_grant_type", "error_description": "refresh only"}
        return web.json_response(refusal, status=400)
    refusal = {"error": "invalid_grant", "error_description": "The refresh token is not valid."}
    return web.json_response(refusal, status=400)


# The token endpoint route a login-bound wire mounts (in ``Wire.extra_routes``).
REFUSED_REFRESH: tuple[str, str, Handler] = ("POST", TOKEN_PATH, refuse_refresh)


def refresh_login(
    file: str, content: Callable[[str], JSON], mount: str, *, names_base: bool = False
) -> SignIn:
    """The import of a login renewed by refresh grants, which ``[oauth.<id>] token_url``
    sends to the :data:`REFUSED_REFRESH` endpoint under ``mount``."""
    return SignIn(
        file=file,
        content=content,
        oauth=lambda base_url: {"token_url": token_url(base_url, mount)},
        names_base=names_base,
    )
