"""From a token endpoint's answer to a :class:`Login`, and the two ways a login is renewed.

A refresh (RFC 6749 section 6) may rotate the refresh token; when the answer has none the
old one is kept. A provider with :attr:`Exchange.COPILOT` renews by minting a new
short-lived API token from the long-lived one (kept in ``secret_refresh``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import aiohttp

from daemon.auth import oauth_http
from daemon.auth.logins import Exchange, LoginSpec, TokenBody
from daemon.auth.records import Kind, Login, Origin, now_ms
from daemon.errors import LoginFailed

# An "expires" value above this is an absolute epoch-ms deadline (minimax), not seconds.
_ABSOLUTE_MS = 10**11
# Where the OpenAI login puts the ChatGPT account id among a JWT's claims.
_OPENAI_AUTH = "https://api.openai.com/auth"


def expiry_ms(value: object, at_ms: int | None = None) -> int | None:
    """An answer's ``expires_in`` (relative seconds) or absolute-ms deadline, as epoch ms."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    if value > _ABSOLUTE_MS:
        return int(value)
    return (now_ms() if at_ms is None else at_ms) + int(value * 1000)


def login_from_answer(
    spec: LoginSpec, answer: Mapping[str, Any], previous: Login | None = None
) -> Login:
    """The login a successful token answer describes; LoginFailed when it lacks a token."""
    access = answer.get("access_token")
    if not isinstance(access, str) or not access:
        raise LoginFailed("the token answer has no access_token", provider=spec.provider)
    refresh = answer.get("refresh_token")
    id_token = answer.get("id_token")
    scope = answer.get("scope")
    # The answer's expiry, else the token's own (codex's refresh answer may name none); a
    # new token never inherits the old one's, which would have it renewed on every call.
    expires = expiry_ms(answer.get("expires_in", answer.get("expired_in")))
    fields: dict[str, Any] = {
        "secret_access": access,
        "secret_refresh": refresh if isinstance(refresh, str) and refresh else None,
        "secret_id_token": id_token if isinstance(id_token, str) else None,
        "claims": {**(previous.claims if previous else {}), **_claims(spec, answer)},
    }
    if isinstance(scope, str):
        fields["scopes"] = tuple(scope.split())
    expires = expires or oauth_http.jwt_expiry_ms(access)
    if previous is None:
        return Login(kind=Kind.OAUTH, origin=Origin.LOGIN, expires_at_ms=expires, **fields)
    # Keep what the answer leaves out (most often the refresh token: Google, qwen, minimax).
    kept = {k: v for k, v in fields.items() if v is not None}
    return previous.refreshed(expires_at_ms=expires, **kept)


def _claims(spec: LoginSpec, answer: Mapping[str, Any]) -> dict[str, str]:
    claims = {
        name: str(answer[name]) for name in spec.answer_claims if isinstance(answer.get(name), str)
    }
    resource = claims.get("resource_url")
    if resource and spec.resource_suffix is not None:
        base = resource if "://" in resource else f"https://{resource}"
        claims["base_url"] = base.rstrip("/") + spec.resource_suffix
    for token in (answer.get("id_token"), answer.get("access_token")):
        auth = oauth_http.jwt_claims(token if isinstance(token, str) else None).get(_OPENAI_AUTH)
        if isinstance(auth, dict) and isinstance(auth.get("chatgpt_account_id"), str):
            claims.setdefault("chatgpt_account_id", auth["chatgpt_account_id"])
    return claims


async def redeem_code(
    session: aiohttp.ClientSession, spec: LoginSpec, code: str, redirect_uri: str, verifier: str
) -> Login:
    """Exchange an authorization code for a login; OAuthRefusal when the server refuses the
    code (the flow may still finish with another), LoginFailed when anything fails after it
    was spent (the login's second step refused: only a new login helps)."""
    url = _token_url(spec)
    body = oauth_http.code_grant(spec, code, redirect_uri, verifier)
    status, answer = await oauth_http.post(
        session, url, body, spec.token_body, dict(spec.client_headers)
    )
    login = login_from_answer(spec, oauth_http.checked(status, answer, url))
    try:
        return await exchanged(session, spec, login)
    except oauth_http.OAuthRefusal as refusal:
        raise LoginFailed(
            f"signed in, but {spec.provider} refused the next step ({refusal.error})",
            provider=spec.provider,
        ) from None


async def renew(session: aiohttp.ClientSession, spec: LoginSpec, login: Login) -> Login:
    """A fresh access token for ``login``; OAuthRefusal when the refresh token is refused."""
    if login.secret_refresh is None:
        raise oauth_http.OAuthRefusal("no_refresh_token", "the login cannot be refreshed", 0)
    if spec.exchange is Exchange.COPILOT:
        return await exchanged(session, spec, login)  # a new Copilot token is the renewal
    url = _token_url(spec)
    body = oauth_http.refresh_grant(spec, login.secret_refresh)
    status, answer = await oauth_http.post(
        session, url, body, spec.token_body, dict(spec.client_headers)
    )
    fresh = login_from_answer(spec, oauth_http.checked(status, answer, url), login)
    return await exchanged(session, spec, fresh)  # adds what an import lacked (a project)


def incomplete(spec: LoginSpec, login: Login) -> bool:
    """True when ``login`` cannot be used until its provider's second step runs: an imported
    Copilot login has no Copilot token yet, an imported Gemini CLI login no project."""
    if spec.exchange is Exchange.COPILOT:
        return login.secret_access is None
    if spec.exchange is Exchange.CODE_ASSIST:
        return "project" not in login.claims
    return False


async def exchanged(session: aiohttp.ClientSession, spec: LoginSpec, login: Login) -> Login:
    """``login`` completed by its provider's second step (a Copilot token, a Code Assist
    project), or unchanged."""
    if spec.exchange is Exchange.NONE:
        return login
    if spec.exchange is Exchange.CODE_ASSIST:
        return await _with_project(session, spec, login)
    url = spec.endpoints.exchange_url
    assert url is not None, "an exchanging login names its exchange URL"
    # The long-lived GitHub token lives in secret_refresh once exchanged; a new login has it
    # as the access token of the device answer.
    github = login.secret_refresh if login.kind is Kind.OAUTH and login.secret_refresh else None
    github = github or login.secret_access
    headers = {**dict(spec.client_headers), "Authorization": f"token {github}"}
    status, answer = await oauth_http.get(session, url, headers)
    answer = oauth_http.checked(status, answer, url)
    token = answer.get("token")
    if not isinstance(token, str) or not token:
        raise LoginFailed("the token exchange answered no token", provider=spec.provider)
    claims = dict(login.claims)
    if base := _copilot_base(answer, token):
        claims["base_url"] = base
    return dataclasses.replace(
        login,
        secret_access=token,
        secret_refresh=github,
        expires_at_ms=_epoch_s_ms(answer.get("expires_at")),
        claims=claims,
        refreshed_at_ms=now_ms(),
    )


async def _with_project(session: aiohttp.ClientSession, spec: LoginSpec, login: Login) -> Login:
    """The login with the Code Assist project its account uses (``loadCodeAssist``)."""
    if "project" in login.claims:
        return login
    url = f"{spec.endpoints.exchange_url}:loadCodeAssist"
    metadata = {
        "ideType": "IDE_UNSPECIFIED",
        "platform": "PLATFORM_UNSPECIFIED",
        "pluginType": "GEMINI",
    }
    headers = {"Authorization": f"Bearer {login.secret_access}"}
    status, answer = await oauth_http.post(
        session,
        url,
        {"metadata": metadata},
        TokenBody.JSON,
        headers,
    )
    answer = oauth_http.checked(status, answer, url)
    project = answer.get("cloudaicompanionProject")
    if isinstance(project, dict):
        project = project.get("id")
    if not isinstance(project, str) or not project:
        raise LoginFailed(
            "this Google account has no Code Assist project (only paid Code Assist licences "
            "work); set project in [providers.google-gemini-cli]",
            provider=spec.provider,
        )
    return dataclasses.replace(login, claims={**login.claims, "project": project})


def _epoch_s_ms(value: object) -> int | None:
    # Copilot's expires_at is absolute epoch seconds.
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return int(value * 1000)


def _copilot_base(answer: Mapping[str, Any], token: str) -> str | None:
    endpoints = answer.get("endpoints")
    if isinstance(endpoints, dict) and isinstance(endpoints.get("api"), str):
        return str(endpoints["api"]).rstrip("/")
    fields = dict(part.split("=", 1) for part in token.split(";") if "=" in part)
    proxy = fields.get("proxy-ep")
    return f"https://{proxy.replace('proxy.', 'api.', 1)}" if proxy else None


def _token_url(spec: LoginSpec) -> str:
    url = spec.endpoints.token_url
    assert url is not None, "a login that redeems codes names its token URL"
    return url
