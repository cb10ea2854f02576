"""``github-copilot`` under ``/github``: GitHub's device flow and the Copilot token exchange
(reference 3.10).

- ``POST /github/login/device/code`` ``{client_id, scope}`` -> ``{device_code, user_code,
  verification_uri, expires_in, interval}``;
- ``POST /github/login/oauth/access_token`` with the RFC 8628 device grant. GitHub answers
  every outcome, errors included, with HTTP 200, as JSON only when ``Accept`` asks for it
  and form-encoded otherwise; ``slow_down`` carries the new ``interval``. The GitHub token
  (``ghu_...``) never expires and comes without a refresh token;
- ``GET /github/api/copilot_internal/v2/token`` (api.github.com) with ``Authorization: token
  <github token>`` (``Bearer`` works too) -> ``{token, expires_at (epoch s), refresh_in,
  endpoints: {api}}``. The Copilot token is a ``tid=...;exp=...;proxy-ep=...`` string. A
  revoked or unknown GitHub token gets GitHub's 401 ``Bad credentials``.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

from aiohttp import web

from tests.fakes.oauth.devices import PollRefused
from tests.fakes.oauth.grants import DeviceLogin, Dialect, opaque, open_device, poll_device
from tests.fakes.oauth.state import Route, ServerState
from tests.fakes.oauth.store import Client
from tests.fakes.oauth.wire import (
    FORM,
    JSON,
    JWT_SECRET,
    NO_STORE,
    Call,
    answer,
    presented_token,
    rand,
    seconds,
)

PROVIDER = "github-copilot"
CLIENT_ID = "Iv1.b507a08c87ecfe98"  # the classic (VS Code) Copilot app
PREFIX = "/github"
DEVICE = "/github/login/device/code"
TOKEN = "/github/login/oauth/access_token"
VERIFY = "/github/login/device"
EXCHANGE = "/github/api/copilot_internal/v2/token"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ERROR_URI = (
    "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow"
)
REFRESH_MARGIN_S = 300  # refresh_in: this long before expires_at
# RFC 8628 / RFC 6749 codes, worded as GitHub does.
_GITHUB_ERRORS = {
    "invalid_grant": "incorrect_device_code",
    "invalid_client": "incorrect_client_credentials",
}

DIALECT = Dialect(PROVIDER, expires=False, refresh_tokens=False, access=opaque("ghu_"))


def github_answer(call: Call, body: JSON) -> web.Response:
    """HTTP 200 either way: JSON if the client's ``Accept`` asks for it, else a form."""
    if call.wants_json():
        return answer(body, headers=NO_STORE)
    text = urlencode({key: str(value) for key, value in body.items()})
    return web.Response(text=text, content_type=FORM, headers=NO_STORE)


def _error(call: Call, error: str, description: str, **extra: object) -> web.Response:
    code = _GITHUB_ERRORS.get(error, error)
    return github_answer(
        call, {"error": code, "error_description": description, "error_uri": ERROR_URI, **extra}
    )


def _client(state: ServerState, call: Call) -> Client | None:
    client = state.clients.get(call.text("client_id") or "")
    return client if client is not None and client.provider == PROVIDER else None


def device_code(state: ServerState, call: Call) -> web.Response:
    """A device and user code for ``client_id`` (form or JSON body, as opencode sends)."""
    client = _client(state, call)
    if client is None:
        return _error(call, "invalid_client", "The client_id is not valid.")
    device = open_device(state, client, call.text("scope") or "")
    body = {
        "device_code": device.device_code,
        "user_code": device.user_code,
        "verification_uri": state.url(VERIFY),
        "expires_in": seconds(state.device_lifetime),
        "interval": seconds(device.interval),
    }
    return github_answer(call, body)


def access_token(state: ServerState, call: Call) -> web.Response:
    """The device grant's poll; every answer is HTTP 200."""
    client = _client(state, call)
    if client is None:
        return _error(call, "invalid_client", "The client_id and/or client_secret are incorrect.")
    grant_type = call.text("grant_type")
    if grant_type != DEVICE_GRANT:
        return _error(call, "unsupported_grant_type", f"grant_type must be {DEVICE_GRANT}")
    try:
        issued = poll_device(state, DIALECT, call, client, pkce=False)
    except PollRefused as refused:
        if refused.error != "slow_down":
            return _error(call, refused.error, refused.description)
        device = state.devices.grants[call.text("device_code") or ""]
        return _error(call, "slow_down", refused.description, interval=seconds(device.interval))
    scope = issued.grant.scope
    return github_answer(
        call, {"access_token": issued.access.value, "token_type": "bearer", "scope": scope}
    )


def _copilot_token(state: ServerState, expires_at: int) -> str:
    proxy = state.copilot_proxy_ep
    fields = f"tid={rand(12)};exp={expires_at};sku=copilot_individual;proxy-ep={proxy}"
    signature = hmac.new(JWT_SECRET, fields.encode(), hashlib.sha256).hexdigest()
    return f"{fields};8kp=1:{signature}"


def api_url(state: ServerState) -> str | None:
    """``endpoints.api`` of the exchange: the knob, ``<base>/github/copilot-api`` when it is
    None, no ``endpoints`` at all when it is ``""``."""
    if state.copilot_api_url is None:
        return state.url(PREFIX + "/copilot-api")
    return state.copilot_api_url or None


def exchange(state: ServerState, call: Call) -> web.Response:
    """A short-lived Copilot token for a live GitHub token; 401 Bad credentials otherwise."""
    value = presented_token(call)
    github = state.store.live(value) if value else None
    if github is None or github.kind != "access" or github.grant.provider != PROVIDER:
        body = {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        return answer(body, 401)
    expires_at = int(state.now() + state.copilot_lifetime)
    token = state.store.mint(github.grant, "copilot", _copilot_token(state, expires_at), expires_at)
    state.copilot_exchanges += 1
    lifetime = round(state.copilot_lifetime)
    result: JSON = {
        "token": token.value,
        "expires_at": expires_at,
        "refresh_in": max(0, lifetime - REFRESH_MARGIN_S),
        "sku": "copilot_individual",
        "chat_enabled": True,
    }
    if (api := api_url(state)) is not None:
        result["endpoints"] = {"api": api}
    return answer(result)


LOGIN = DeviceLogin(PROVIDER, PREFIX, CLIENT_ID, DEVICE, TOKEN, VERIFY)


def _config(state: ServerState) -> dict[str, object]:
    # An opt-in login, whose token is traded for Copilot's at the exchange.
    return {"enabled": True, **LOGIN.table(state), "exchange_url": state.url(EXCHANGE)}


VARIANT = LOGIN.variant(
    device_code, access_token, Route("GET", EXCHANGE, exchange, token_endpoint=True), config=_config
)
