"""``openai-codex`` under ``/codex``: auth.openai.com's login for the Codex client.

Authorization code + PKCE (S256 required) with codex's own required parameters
(``id_token_add_organizations=true``, ``codex_cli_simplified_flow=true``; ``originator``
optional), JWT access and id tokens carrying ``https://api.openai.com/auth`` claims, single-use
refresh tokens, RFC 7009 revocation, and the custom 3-step device login (usercode -> poll
for an authorization code + PKCE pair -> ordinary code exchange at the token URL).

Refresh refusals: the reference names only the codes (``refresh_token_reused``,
``refresh_token_expired``, ``refresh_token_invalidated``). codex-rs classifies them only on
HTTP 401 and reads ``error.code``, a string ``error``, or a top-level ``code``, so the fake
answers 401 with ``{"error": "invalid_grant", "error_description", "code"}`` (flat) or, with
``codex_error_style = "nested"``, OpenAI's ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes.oauth.devices import PollRefused
from tests.fakes.oauth.grants import (
    AuthorizeRules,
    Dialect,
    Issued,
    authorize,
    code_grant,
    open_device,
    refresh_grant,
    revoke,
    rfc_refusal,
    verification_routes,
)
from tests.fakes.oauth.state import Route, ServerState, Variant
from tests.fakes.oauth.store import Client, Code, Grant, Refused
from tests.fakes.oauth.wire import (
    JSON,
    Call,
    answer,
    html,
    jwt,
    new_verifier,
    oauth_error,
    rand,
    s256,
    tokens_answer,
)

PROVIDER = "openai-codex"
CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
PREFIX = "/codex"
AUTHORIZE = "/codex/oauth/authorize"
TOKEN = "/codex/oauth/token"
REVOKE = "/codex/oauth/revoke"
DEVICE = "/codex/api/accounts/deviceauth"  # the daemon appends /usercode and /token
VERIFY = "/codex/codex/device"  # auth.openai.com/codex/device
DEVICE_CALLBACK = "/codex/deviceauth/callback"
AUTH_CLAIM = "https://api.openai.com/auth"
SCOPES = frozenset(
    {"openid", "profile", "email", "offline_access", "api.connectors.read", "api.connectors.invoke"}
)
DEVICE_SCOPE = "openid profile email offline_access"
_CODES = {
    "reused": "refresh_token_reused",
    "expired": "refresh_token_expired",
    "revoked": "refresh_token_invalidated",
}


def _claims(state: ServerState, grant: Grant, expires_at: float | None) -> JSON:
    now = int(state.now())
    user = grant.user
    auth = {
        "chatgpt_account_id": user.account_id,
        "chatgpt_plan_type": user.plan,
        "chatgpt_user_id": f"user-{user.account_id}",
    }
    return {
        "iss": state.url(PREFIX),
        "sub": f"auth0|{user.account_id}",
        "email": user.email,
        "iat": now,
        "exp": int(expires_at) if expires_at is not None else now + 3600,
        "jti": rand(12),  # keeps every token distinct
        AUTH_CLAIM: auth,
    }


def _access(state: ServerState, grant: Grant, expires_at: float | None) -> str:
    claims = _claims(state, grant, expires_at)
    claims |= {
        "aud": ["https://api.openai.com/v1"],
        "client_id": grant.client_id,
        "scp": grant.scope.split(),
        "https://api.openai.com/profile": {"email": grant.user.email, "email_verified": True},
    }
    return jwt(claims)


DIALECT = Dialect(PROVIDER, access=_access, refresh_prefix="rt_")
RULES = AuthorizeRules(
    PROVIDER,
    SCOPES,
    required=(("id_token_add_organizations", "true"), ("codex_cli_simplified_flow", "true")),
    # OpenAI issues a refresh token only when offline_access is asked for.
    offline=lambda params: "offline_access" in str(params.get("scope", "")).split(),
)


def _body(state: ServerState, issued: Issued) -> JSON:
    expires_at = issued.access.expires_at
    id_claims = _claims(state, issued.grant, expires_at)
    id_claims |= {"aud": issued.grant.client_id, "email_verified": True}
    body: JSON = {
        "id_token": jwt(id_claims),
        "access_token": issued.access.value,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.grant.scope,
    }
    if issued.refresh is not None:
        body["refresh_token"] = issued.refresh.value
    return body


def _refresh_refused(state: ServerState, refused: Refused) -> web.Response:
    code = _CODES.get(refused.reason)
    if code is None:
        return rfc_refusal(refused)
    if state.codex_error_style == "nested":
        error = {"message": refused.description, "type": "invalid_request_error", "param": None}
        return answer({"error": {**error, "code": code}}, 401)
    return oauth_error("invalid_grant", refused.description, 401, extra={"code": code})


def token(state: ServerState, call: Call) -> web.Response:
    """Form body for the code grant; JSON or form for refresh (codex-rs sends JSON)."""
    grant_type = call.text("grant_type")
    if grant_type is None:
        return oauth_error("invalid_request", "grant_type is required")
    if call.kind == "json" and grant_type != "refresh_token":
        return oauth_error("invalid_request", "the code grant takes a form body")
    client = state.authenticate(call, PROVIDER)
    if isinstance(client, web.Response):
        return client
    if grant_type == "authorization_code":
        try:
            return tokens_answer(_body(state, code_grant(state, DIALECT, call, client)))
        except Refused as refused:
            return rfc_refusal(refused)
    if grant_type == "refresh_token":
        try:
            return tokens_answer(_body(state, refresh_grant(state, DIALECT, call, client)))
        except Refused as refused:
            return _refresh_refused(state, refused)
    return oauth_error("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")


def device_redirect_uri(state: ServerState) -> str:
    """Where codex's device login says the code was issued for (a knob; default on the fake)."""
    return state.codex_device_redirect_uri or state.url(DEVICE_CALLBACK)


def usercode(state: ServerState, call: Call) -> web.Response:
    """Step 1: ``{client_id}`` (JSON) -> ``{device_auth_id, user_code, interval: "5"}``."""
    if not state.codex_device_enabled:
        return answer({"error": {"message": "Device login is not enabled", "code": None}}, 404)
    client = state.clients.get(call.text("client_id") or "")
    if call.kind != "json" or client is None or client.provider != PROVIDER:
        return answer({"error": {"message": "unknown client", "code": "invalid_client"}}, 400)
    device = open_device(state, client, DEVICE_SCOPE, device_code="deviceauth_" + rand(16))
    # The interval is a string on this wire.
    body = {
        "device_auth_id": device.device_code,
        "user_code": device.user_code,
        "interval": f"{device.interval:g}",
    }
    return answer(body)


def device_token(state: ServerState, call: Call) -> web.Response:
    """Step 2: 403 (or 404) while pending; 200 ``{authorization_code, code_challenge,
    code_verifier}`` once approved. Unknown, expired or spent: 404. Denied: 400."""
    device = state.devices.grants.get(call.text("device_auth_id") or "")
    if device is None or device.provider != PROVIDER or device.user_code != call.text("user_code"):
        return answer({"error": {"message": "device authorization not found"}}, 404)
    try:
        state.devices.poll(device.device_code, device.client_id, paced=False)
    except PollRefused as refused:
        if refused.error == "authorization_pending":
            pending = {"message": "authorization pending", "code": "deviceauth_pending"}
            return answer({"error": pending}, state.codex_pending_status)
        if refused.error == "access_denied":
            return answer({"error": {"message": refused.description, "code": "access_denied"}}, 400)
        return answer({"error": {"message": refused.description}}, 404)
    assert device.user is not None
    device.status = "used"
    verifier = new_verifier()
    code = Code(
        value=rand(32),
        client_id=device.client_id,
        redirect_uri=device_redirect_uri(state),
        challenge=s256(verifier),
        scope=device.scope,
        user=device.user,
        expires_at=state.now() + state.code_lifetime,
    )
    state.store.codes[code.value] = code
    body = {
        "authorization_code": code.value,
        "code_challenge": code.challenge,
        "code_verifier": verifier,
    }
    return answer(body)


def _callback(state: ServerState, call: Call) -> web.Response:
    return html(200, "Signed in to Codex", "You may close this window.")


def _clients(state: ServerState) -> list[Client]:
    ports = state.codex_redirect_ports
    hosts = [f"localhost:{port}" for port in ports] or ["localhost"]
    uris = tuple(f"http://{host}/auth/callback" for host in hosts)
    return [Client(CLIENT_ID, PROVIDER, redirect_uris=uris)]


def _config(state: ServerState) -> dict[str, object]:
    table: dict[str, object] = {
        "client_id": CLIENT_ID,
        "authorize_url": state.url(AUTHORIZE),
        "token_url": state.url(TOKEN),
        "device_url": state.url(DEVICE),
        "revoke_url": state.url(REVOKE),
        "verification_uri": state.url(VERIFY),
        "device_redirect_uri": device_redirect_uri(state),
    }
    if not state.codex_redirect_ports:
        table["redirect_port"] = 0  # the fake accepts any port: let the daemon pick one
    return table


VARIANT = Variant(
    PROVIDER,
    PREFIX,
    (
        Route("GET", AUTHORIZE, lambda state, call: authorize(state, call, RULES)),
        Route("POST", TOKEN, token, token_endpoint=True),
        Route("POST", REVOKE, lambda s, c: revoke(s, c, PROVIDER, authenticate=True)),
        Route("POST", DEVICE + "/usercode", usercode),
        Route("POST", DEVICE + "/token", device_token),
        *verification_routes(VERIFY, PROVIDER),
        Route("GET", DEVICE_CALLBACK, _callback),
    ),
    _clients,
    _config,
)
