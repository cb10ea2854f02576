"""``google-gemini-cli`` under ``/google``: accounts.google.com + oauth2.googleapis.com as the
Gemini CLI installed app sees them, and Code Assist's project discovery.

The token endpoint takes a form body and needs ``client_secret`` (body or HTTP Basic; 401
``invalid_client`` without it). A refresh token is issued only for ``access_type=offline``,
and a refresh answers WITHOUT a new ``refresh_token``: Google keeps the old one valid, so
there is no rotation and no reuse to detect. PKCE is optional (gemini-cli's loopback path
sends none) but, when sent, must be S256 and is enforced. Revocation follows RFC 7009
(200 for any token); real Google answers 400 ``invalid_token`` for an unknown one.
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes.oauth.grants import (
    AuthorizeRules,
    Dialect,
    Issued,
    authorize,
    code_grant,
    opaque,
    refresh_grant,
    revoke,
    rfc_body,
    rfc_refusal,
)
from tests.fakes.oauth.state import Route, ServerState, Variant
from tests.fakes.oauth.store import Client, Refused
from tests.fakes.oauth.wire import (
    JSON,
    Call,
    answer,
    jwt,
    oauth_error,
    presented_token,
    tokens_answer,
)

PROVIDER = "google-gemini-cli"
CLIENT_ID = "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"
# The fake's own secret: tests put it in [oauth.google-gemini-cli] with oauth_config().
CLIENT_SECRET = "fake-google-client-secret"  # noqa: S105
PREFIX = "/google"
AUTHORIZE = "/google/o/oauth2/v2/auth"
TOKEN = "/google/token"
REVOKE = "/google/revoke"
CODE_ASSIST_API = "/google/v1internal"  # cloudcode-pa.googleapis.com/v1internal
CODE_ASSIST = CODE_ASSIST_API + ":loadCodeAssist"
_AUTH = "https://www.googleapis.com/auth/"
SCOPES = frozenset(
    {
        "openid",
        "email",
        "profile",
        _AUTH + "cloud-platform",
        _AUTH + "userinfo.email",
        _AUTH + "userinfo.profile",
        _AUTH + "cclog",
        _AUTH + "experimentsandconfigs",
    }
)

DIALECT = Dialect(PROVIDER, rotate=False, access=opaque("ya29.fake-"), refresh_prefix="1//fake-")
RULES = AuthorizeRules(
    PROVIDER,
    SCOPES,
    pkce_required=False,
    offline=lambda params: params.get("access_type") == "offline",
    echo_scope=True,
)


def _body(state: ServerState, issued: Issued) -> JSON:
    body = rfc_body(issued)
    grant = issued.grant
    if {"openid", "email", _AUTH + "userinfo.email"} & set(grant.scope.split()):
        now = int(state.now())
        body["id_token"] = jwt(
            {
                "iss": state.url(PREFIX),
                "aud": grant.client_id,
                "sub": grant.user.account_id,
                "email": grant.user.email,
                "email_verified": True,
                "iat": now,
                "exp": now + 3600,
            }
        )
    return body


def token(state: ServerState, call: Call) -> web.Response:
    """The code and refresh grants (form bodies only)."""
    if call.kind not in ("form", "empty"):
        return oauth_error("invalid_request", "the token endpoint takes a form body")
    grant_type = call.text("grant_type")
    if grant_type is None:
        return oauth_error("invalid_request", "grant_type is required")
    client = state.authenticate(call, PROVIDER)
    if isinstance(client, web.Response):
        return client
    grants = {"authorization_code": code_grant, "refresh_token": refresh_grant}
    run = grants.get(grant_type)
    if run is None:
        return oauth_error("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
    try:
        return tokens_answer(_body(state, run(state, DIALECT, call, client)))
    except Refused as refused:
        return rfc_refusal(refused)


def load_code_assist(state: ServerState, call: Call) -> web.Response:
    """Project discovery: the tier and project for a live Google access token, else 401."""
    value = presented_token(call)
    token = state.store.live(value) if value else None
    if token is None or token.kind != "access" or token.grant.provider != PROVIDER:
        error = {
            "code": 401,
            "message": "Request had invalid authentication credentials.",
            "status": "UNAUTHENTICATED",
        }
        return answer({"error": error}, 401)
    tier = {
        "id": state.google_tier,
        "name": "Gemini Code Assist",
        "userDefinedCloudaicompanionProject": True,
    }
    body: JSON = {"allowedTiers": [{**tier, "isDefault": True}]}
    if state.google_project is not None:
        # An onboarded account: its tier and project; else it must onboardUser first.
        body |= {"currentTier": tier, "cloudaicompanionProject": state.google_project}
    return answer(body)


def _clients(state: ServerState) -> list[Client]:
    uris = (
        "http://127.0.0.1/oauth2callback",  # gemini-cli: any free port
        "http://localhost/oauth2callback",  # pi-mono: localhost:8085
        "https://codeassist.google.com/authcode",  # the manual (paste) path
    )
    return [Client(CLIENT_ID, PROVIDER, CLIENT_SECRET, uris)]


def _config(state: ServerState) -> dict[str, object]:
    return {
        "enabled": True,  # an opt-in login
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "authorize_url": state.url(AUTHORIZE),
        "token_url": state.url(TOKEN),
        "revoke_url": state.url(REVOKE),
        "exchange_url": state.url(CODE_ASSIST_API),
    }


VARIANT = Variant(
    PROVIDER,
    PREFIX,
    (
        Route("GET", AUTHORIZE, lambda state, call: authorize(state, call, RULES)),
        Route("POST", TOKEN, token, token_endpoint=True),
        # Google's revoke needs no client authentication; the token may be in the query.
        Route("POST", REVOKE, lambda s, c: revoke(s, c, PROVIDER, authenticate=False)),
        Route("POST", CODE_ASSIST, load_code_assist),
    ),
    _clients,
    _config,
)
