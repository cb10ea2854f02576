"""The ChatGPT backend's Codex API (``POST {base}/responses``, base ``.../backend-api/codex``).

What a ChatGPT (``openai-codex``) login calls: the Responses wire
(:mod:`tests.fakes.families.openai_responses` reads the input and renders the events) behind
the backend's own rules. It takes only a ChatGPT access token (a JWT whose
``https://api.openai.com/auth`` claim names the account) as ``Authorization: Bearer``, with
``chatgpt-account-id`` naming that same account; anything else is a 401. It insists on the
headers every Codex client sends (``originator``, ``session_id``), answers only as an event
stream, keeps nothing, and wants ``instructions``; it refuses in FastAPI's ``{"detail": ...}``
shape, in the words issue threads quote from it ("Stream must be set to true", "Store must be
set to false", "Instructions are required"). A spent login is a 401 whose ``detail`` is an
object with a ``code`` (``token_expired``); a plan's exhausted quota a 429
``usage_limit_reached`` error (codex-rs reads both). No recording of this backend exists: those
keys are listed in ``unrecorded`` below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.providers.model import ApiFamily
from tests.fakes.families import openai_responses as responses
from tests.fakes.families.logins import (
    FAR_FUTURE_S,
    REFUSED_REFRESH,
    access_token,
    bearer,
    refresh_login,
    refresh_token,
    unsigned_jwt,
)
from tests.fakes.families.script import RequestRejected, Turn
from tests.fakes.families.wire import JSON, Request, Wire, dumps

PROVIDER = "openai-codex"
MOUNT = "/codex"
ACCOUNT = "contract-chatgpt-account-0000"
AUTH_CLAIM = "https://api.openai.com/auth"
# A ChatGPT access token as the login hands it out: the account id rides in its claims.
ACCESS = unsigned_jwt(
    {
        "exp": FAR_FUTURE_S,
        "sub": access_token(PROVIDER),
        AUTH_CLAIM: {"chatgpt_account_id": ACCOUNT, "chatgpt_plan_type": "plus"},
    }
)
# Shaped like a real one (the daemon sends it, account header and all); no login issued it.
WRONG = unsigned_jwt(
    {"exp": FAR_FUTURE_S, AUTH_CLAIM: {"chatgpt_account_id": "contract-someone-else"}}
)
HEADERS = ("originator", "session_id")


def _authorized(headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
    return bearer(headers) == ACCESS and headers.get("chatgpt-account-id") == ACCOUNT


def _read(request: Request) -> Turn:
    body = request.body
    if body.get("stream") is not True:
        raise RequestRejected("Stream must be set to true")
    if body.get("store") is not False:
        raise RequestRejected("Store must be set to false")
    if not isinstance(body.get("instructions"), str):
        raise RequestRejected("Instructions are required")
    if "max_output_tokens" in body:
        raise RequestRejected("Unsupported parameter: max_output_tokens")
    missing = [name for name in HEADERS if not request.headers.get(name)]
    if missing:
        raise RequestRejected(f"Missing required header: {missing[0]}")
    return responses.WIRE.read(request)


def _error_body(status: int, message: str) -> bytes:
    if status == 401:
        detail = {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": "token_expired",
        }
        return dumps({"detail": detail})
    if status == 429:
        limit = {"type": "usage_limit_reached", "message": message, "resets_in_seconds": 0}
        return dumps({"error": limit})
    return dumps({"detail": message})


def _auth_file(base_url: str) -> JSON:
    """``~/.codex/auth.json`` as ``codex login`` writes it."""
    id_token = unsigned_jwt({"email": "contract@example.test", AUTH_CLAIM: {}})
    tokens: dict[str, Any] = {
        "id_token": id_token,
        "access_token": ACCESS,
        "refresh_token": refresh_token(PROVIDER),
        "account_id": ACCOUNT,
    }
    return {
        "auth_mode": "chatgpt",
        "OPENAI_API_KEY": None,
        "tokens": tokens,
        "last_refresh": "2026-12-01T10:00:00Z",
    }


WIRE = Wire(
    family=ApiFamily.OPENAI_CODEX_RESPONSES,
    provider=PROVIDER,
    mount=MOUNT,
    base_path="/backend-api/codex",
    routes=(("POST", "/backend-api/codex/responses"),),
    authorized=_authorized,
    read=_read,
    json_body=responses.WIRE.json_body,  # never served: a call must stream
    stream_frames=responses.WIRE.stream_frames,
    error_body=_error_body,
    stream_content_type=responses.WIRE.stream_content_type,
    stream_error=responses.WIRE.stream_error,
    recordings="openai_responses",
    unrecorded=responses.WIRE.unrecorded
    | {
        "detail",
        "detail.message",
        "detail.type",
        "detail.param",
        "detail.code",
        "error.resets_in_seconds",
    },
    extra_routes=(REFUSED_REFRESH,),
    uses_api_key=False,
    sign_in=refresh_login(".codex/auth.json", _auth_file, MOUNT),
    wrong_key=WRONG,
)
