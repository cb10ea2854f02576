"""The two plain RFC 8628 device variants: ``qwen-portal`` (``/qwen``, with PKCE) and
``kimi-coding`` (``/kimi``, no PKCE, no scope, and kimi-cli's X-Msh device headers on every
call: the ``kimi_required_headers`` knob names the ones a request without gets a 400 for).

Both poll errors are RFC 8628 3.5 JSON errors: HTTP 400, except qwen's ``slow_down`` which
chat.qwen.ai sends with 429. Refresh rotates on both; kimi answers a dead refresh token with
401 (kimi-cli tombstones the login on 401/403), qwen with RFC 6749's 400.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from tests.fakes.oauth.devices import PollRefused
from tests.fakes.oauth.grants import (
    DeviceLogin,
    Dialect,
    Issued,
    open_device,
    poll_device,
    refresh_grant,
    rfc_body,
    rfc_refusal,
)
from tests.fakes.oauth.state import ServerState
from tests.fakes.oauth.store import Client, Refused
from tests.fakes.oauth.wire import (
    JSON,
    Call,
    answer,
    oauth_error,
    pkce_problem,
    seconds,
    tokens_answer,
)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

QWEN = "qwen-portal"
QWEN_CLIENT_ID = "f0304373b74a44d2b584a3fb70ca9e56"
QWEN_DEVICE = "/qwen/api/v1/oauth2/device/code"
QWEN_TOKEN = "/qwen/api/v1/oauth2/token"
QWEN_VERIFY = "/qwen/authorize"  # chat.qwen.ai/authorize?user_code=...&client=qwen-code
QWEN_SCOPES = frozenset({"openid", "profile", "email", "model.completion"})

KIMI = "kimi-coding"
KIMI_CLIENT_ID = "17e5f671-d194-4dfb-9706-5516cb48c098"
KIMI_DEVICE = "/kimi/api/oauth/device_authorization"
KIMI_TOKEN = "/kimi/api/oauth/token"
KIMI_VERIFY = "/kimi/device"
KIMI_SCOPE = "kimi-code"  # kimi sends no scope; the server answers this one

QWEN_DIALECT = Dialect(QWEN)
KIMI_DIALECT = Dialect(KIMI)


def qwen_resource_url(state: ServerState) -> str:
    """``host:port/path`` like the real ``portal.qwen.ai`` (clients build ``https://`` + it +
    ``/v1``), or the ``qwen_resource_url`` knob as is (a full ``http://`` URL for tests)."""
    return state.qwen_resource_url or f"{state.host_port()}/qwen-api"


def _client(state: ServerState, call: Call, provider: str) -> Client | web.Response:
    client = state.clients.get(call.text("client_id") or "")
    if call.kind not in ("form", "empty"):
        return oauth_error("invalid_request", "the endpoint takes a form body")
    if client is None or client.provider != provider:
        return oauth_error("invalid_client", "unknown client", 401)
    return client


def _authorization(
    state: ServerState, client: Client, scope: str, verify: str, challenge: str | None = None
) -> JSON:
    device = open_device(state, client, scope, challenge=challenge)
    page = state.url(verify)
    return {
        "device_code": device.device_code,
        "user_code": device.user_code,
        "verification_uri": page,
        "verification_uri_complete": f"{page}?user_code={device.user_code}",
        "expires_in": seconds(state.device_lifetime),
        "interval": seconds(device.interval),
    }


def qwen_device(state: ServerState, call: Call) -> web.Response:
    """``{client_id, scope, code_challenge, code_challenge_method=S256}`` -> a device code."""
    client = _client(state, call, QWEN)
    if isinstance(client, web.Response):
        return client
    problem = pkce_problem(call.text("code_challenge"), call.text("code_challenge_method"))
    if problem is not None:
        return oauth_error("invalid_request", problem)
    scope = call.text("scope")
    if scope is None or not set(scope.split()) <= QWEN_SCOPES:
        return oauth_error("invalid_scope", f"scope must be among {' '.join(sorted(QWEN_SCOPES))}")
    body = _authorization(state, client, scope, QWEN_VERIFY, call.text("code_challenge"))
    body["verification_uri_complete"] += "&client=qwen-code"
    return answer(body)


def _kimi_headers(state: ServerState, call: Call) -> web.Response | None:
    # kimi-cli sends its X-Msh device headers on every call to auth.kimi.com.
    missing = [name for name in state.kimi_required_headers if not call.headers.get(name)]
    if missing:
        return oauth_error("invalid_request", f"missing headers: {', '.join(missing)}")
    return None


def kimi_device(state: ServerState, call: Call) -> web.Response:
    """``{client_id}`` plus the X-Msh headers kimi-cli sends (400 when one is missing)."""
    refused = _kimi_headers(state, call)
    if refused is not None:
        return refused
    client = _client(state, call, KIMI)
    if isinstance(client, web.Response):
        return client
    return answer(_authorization(state, client, KIMI_SCOPE, KIMI_VERIFY))


def _token(
    state: ServerState,
    call: Call,
    dialect: Dialect,
    *,
    pkce: bool,
    slow_down_status: int,
    refresh_refused_status: int,
    extra: Callable[[ServerState], JSON],
) -> web.Response:
    """The device_code and refresh_token grants of one RFC 8628 variant."""
    client = _client(state, call, dialect.provider)
    if isinstance(client, web.Response):
        return client
    grant_type = call.text("grant_type")
    issued: Issued
    if grant_type == DEVICE_GRANT:
        try:
            issued = poll_device(state, dialect, call, client, pkce=pkce)
        except PollRefused as refused:
            status = slow_down_status if refused.error == "slow_down" else 400
            return oauth_error(refused.error, refused.description, status)
    elif grant_type == "refresh_token":
        try:
            issued = refresh_grant(state, dialect, call, client)
        except Refused as refused:
            status = 400 if refused.reason == "missing" else refresh_refused_status
            return rfc_refusal(refused, status)
    elif grant_type is None:
        return oauth_error("invalid_request", "grant_type is required")
    else:
        return oauth_error("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
    return tokens_answer({**rfc_body(issued), **extra(state)})


def qwen_token(state: ServerState, call: Call) -> web.Response:
    """Poll (with ``code_verifier``) or refresh; successes carry ``resource_url``."""
    return _token(
        state,
        call,
        QWEN_DIALECT,
        pkce=True,
        slow_down_status=429,
        refresh_refused_status=400,
        extra=lambda s: {"resource_url": qwen_resource_url(s)},
    )


def kimi_token(state: ServerState, call: Call) -> web.Response:
    """Poll or refresh (always rotating, X-Msh headers required); a dead refresh token is
    401."""
    refused = _kimi_headers(state, call)
    if refused is not None:
        return refused
    return _token(
        state,
        call,
        KIMI_DIALECT,
        pkce=False,
        slow_down_status=400,
        refresh_refused_status=401,
        extra=lambda s: {},
    )


QWEN_LOGIN = DeviceLogin(QWEN, "/qwen", QWEN_CLIENT_ID, QWEN_DEVICE, QWEN_TOKEN, QWEN_VERIFY)
QWEN_VARIANT = QWEN_LOGIN.variant(qwen_device, qwen_token)
KIMI_LOGIN = DeviceLogin(KIMI, "/kimi", KIMI_CLIENT_ID, KIMI_DEVICE, KIMI_TOKEN, KIMI_VERIFY)
KIMI_VARIANT = KIMI_LOGIN.variant(kimi_device, kimi_token)
