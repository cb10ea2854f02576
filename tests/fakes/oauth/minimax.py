"""``minimax-portal`` under ``/minimax``: MiniMax's "user_code" login (reference 3.6).

Not RFC 8628, though built like it: the client asks for a user code with a PKCE challenge
and a ``state`` the server echoes, then polls the token URL with grant type
``urn:ietf:params:oauth:grant-type:user_code``, the ``user_code`` (not a device code) and the
PKCE verifier. Poll answers are HTTP 200 with a ``status`` field: ``success`` (tokens),
``error`` (denied, expired, verifier mismatch) or anything else, here ``pending``. There is no
``slow_down``. ``expired_in`` is an absolute deadline in epoch milliseconds on both answers,
and ``interval`` is in milliseconds. A malformed request (bad client, parameters) is a
non-2xx answer carrying ``base_resp.status_msg``. Refresh answers ``status: success`` with
new tokens; a dead refresh token is ``status: error`` like a failed poll (the reference has no
sample of that answer: this follows the dialect's poll).

Both generations of endpoints are mounted: ``/oauth2/device/code`` + ``/oauth2/token``
(account.minimax.io, the ones :func:`_config` names) and ``/oauth/code`` + ``/oauth/token``
(the older api.minimax.io ones).
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes.oauth.devices import PollRefused
from tests.fakes.oauth.grants import (
    DeviceLogin,
    Dialect,
    Issued,
    open_device,
    redeem_device,
    refresh_grant,
)
from tests.fakes.oauth.state import Route, ServerState
from tests.fakes.oauth.store import Client, Refused
from tests.fakes.oauth.wire import JSON, Call, answer, pkce_problem, tokens_answer

PROVIDER = "minimax-portal"
CLIENT_ID = "78257093-7e40-4613-99e0-527b14b39113"
PREFIX = "/minimax"
DEVICE = "/minimax/oauth2/device/code"
TOKEN = "/minimax/oauth2/token"
OLD_DEVICE = "/minimax/oauth/code"
OLD_TOKEN = "/minimax/oauth/token"
VERIFY = "/minimax/oauth2/device"
USER_CODE_GRANT = "urn:ietf:params:oauth:grant-type:user_code"
SCOPES = frozenset({"group_id", "profile", "model.completion"})
# MiniMax's base_resp status codes: 1004 authentication failed, 2013 invalid parameters.
AUTH_FAILED = 1004
INVALID_PARAMS = 2013

DIALECT = Dialect(PROVIDER)


def _ms(epoch_s: float) -> int:
    return int(epoch_s * 1000)


def _failed(code: int, message: str, status: int = 400) -> web.Response:
    """A non-2xx answer the MiniMax way: ``base_resp`` carries the reason."""
    return answer({"base_resp": {"status_code": code, "status_msg": message}}, status)


def _status_error(message: str) -> web.Response:
    """HTTP 200, ``status: error``: the login is over (denied, expired, refused)."""
    body = {"status": "error", "base_resp": {"status_code": AUTH_FAILED, "status_msg": message}}
    return answer(body)


def resource_url(state: ServerState) -> str | None:
    """The ``resource_url`` of token answers: the knob, ``<base>/minimax/anthropic`` when it
    is None, left out when it is ``""``."""
    if state.minimax_resource_url is None:
        return state.url(PREFIX + "/anthropic")
    return state.minimax_resource_url or None


def _client(state: ServerState, call: Call) -> Client | web.Response:
    if call.kind != "form":
        return _failed(INVALID_PARAMS, "the body must be application/x-www-form-urlencoded")
    client = state.clients.get(call.text("client_id") or "")
    if client is None or client.provider != PROVIDER:
        return _failed(AUTH_FAILED, "invalid client_id", 401)
    return client


def _code_problem(call: Call) -> str | None:
    if call.text("response_type") != "code":
        return "response_type must be code"
    scope = call.text("scope")
    if scope is None or not set(scope.split()) <= SCOPES:
        return f"scope must be among {' '.join(sorted(SCOPES))}"
    if call.text("state") is None:
        return "state is required"
    return pkce_problem(call.text("code_challenge"), call.text("code_challenge_method"))


def device_code(state: ServerState, call: Call) -> web.Response:
    """``{response_type=code, client_id, scope, code_challenge, S256, state}`` ->
    ``{user_code, verification_uri, expired_in (epoch ms), interval (ms), state}``."""
    client = _client(state, call)
    if isinstance(client, web.Response):
        return client
    problem = _code_problem(call)
    if problem is not None:
        return _failed(INVALID_PARAMS, problem)
    scope = call.text("scope") or ""
    device = open_device(
        state, client, scope, challenge=call.text("code_challenge"), state=call.text("state")
    )
    body = {
        "user_code": device.user_code,
        "verification_uri": f"{state.url(VERIFY)}?user_code={device.user_code}",
        "expired_in": _ms(device.expires_at),
        "interval": _ms(device.interval),
        "state": device.state,
    }
    return answer(body)


def _success(state: ServerState, issued: Issued) -> web.Response:
    assert issued.access.expires_at is not None, "MiniMax access tokens expire"
    body: JSON = {
        "status": "success",
        "access_token": issued.access.value,
        "token_type": "Bearer",
        "expired_in": _ms(issued.access.expires_at),
    }
    if issued.refresh is not None:
        body["refresh_token"] = issued.refresh.value
    if (resource := resource_url(state)) is not None:
        body["resource_url"] = resource
    return tokens_answer(body)


def _poll(state: ServerState, call: Call, client: Client) -> web.Response:
    user_code, verifier = call.text("user_code"), call.text("code_verifier")
    if user_code is None or verifier is None:
        return _failed(INVALID_PARAMS, "user_code and code_verifier are required")
    device = state.devices.by_user_code(user_code)
    if device is None or device.provider != PROVIDER:
        return _failed(INVALID_PARAMS, "invalid user_code")
    try:
        state.devices.poll(device.device_code, client.client_id, paced=False)
        return _success(state, redeem_device(state, DIALECT, device, verifier))
    except PollRefused as refused:
        if refused.error == "authorization_pending":
            return answer({"status": "pending"})
        return _status_error(refused.description)


def token(state: ServerState, call: Call) -> web.Response:
    """The user_code poll and the refresh grant."""
    client = _client(state, call)
    if isinstance(client, web.Response):
        return client
    grant_type = call.text("grant_type")
    if grant_type == USER_CODE_GRANT:
        return _poll(state, call, client)
    if grant_type == "refresh_token":
        try:
            return _success(state, refresh_grant(state, DIALECT, call, client))
        except Refused as refused:
            if refused.reason == "missing":
                return _failed(INVALID_PARAMS, refused.description)
            return _status_error(refused.description)
    return _failed(INVALID_PARAMS, f"grant_type {grant_type!r} is not supported")


VARIANT = DeviceLogin(PROVIDER, PREFIX, CLIENT_ID, DEVICE, TOKEN, VERIFY).variant(
    device_code,
    token,
    Route("POST", OLD_DEVICE, device_code),
    Route("POST", OLD_TOKEN, token, token_endpoint=True),
)
