"""Kimi Code (``POST .../coding/v1/chat/completions``): OpenAI Chat Completions for coding agents.

Bodies and streams are OpenAI's (:mod:`tests.fakes.families.openai_completions`). Kimi Code
serves recognised coding agents only and tells them apart by their identity headers: a call
whose ``User-Agent`` is not kimi-cli's (``KimiCLI/<version>``), or that lacks kimi-cli's
``X-Msh-Platform: kimi_cli`` and ``X-Msh-Version``, is refused with the service's own 403
(``access_terminated_error``, "Kimi For Coding is currently only available for Coding Agents
such as Kimi CLI, ..."), whatever its token. Which of kimi-cli's seven identity headers the
service checks is not public; these three are the ones every working third-party client sends.
The login's access token goes as a bearer token (401 otherwise). Errors are Moonshot's
``{"error": {"message", "type"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from daemon.providers.model import ApiFamily
from tests.fakes.families import openai_completions as openai
from tests.fakes.families.logins import (
    REFUSED_REFRESH,
    access_token,
    bearer,
    oauth_token_file,
    refresh_login,
)
from tests.fakes.families.script import RequestRejected, Turn
from tests.fakes.families.wire import JSON, Request, Wire, dumps

PROVIDER = "kimi-coding"
MOUNT = "/kimi"
AGENTS_ONLY = (
    "Kimi For Coding is currently only available for Coding Agents such as Kimi CLI, "
    "Claude Code, Roo Code, Kilo Code, etc."
)
_KINDS = {
    400: "invalid_request_error",
    401: "invalid_authentication_error",
    403: "access_terminated_error",
    429: "rate_limit_reached_error",
}


def _authorized(headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
    return bearer(headers) == access_token(PROVIDER)


def _read(request: Request) -> Turn:
    headers = request.headers
    agent = headers.get("user-agent", "").startswith("KimiCLI/")
    platform = headers.get("x-msh-platform") == "kimi_cli" and headers.get("x-msh-version")
    if not (agent and platform):
        raise RequestRejected(AGENTS_ONLY, 403)
    return openai.WIRE.read(request)


def _error_body(status: int, message: str) -> bytes:
    return dumps({"error": {"message": message, "type": _KINDS.get(status, "server_error")}})


def _credentials_file(base_url: str) -> JSON:
    """``~/.kimi/credentials/kimi-code.json`` as ``kimi login`` writes it (expiry in seconds)."""
    token = oauth_token_file(PROVIDER, "expires_at", unit_ms=False)
    return {**token, "scope": "kimi-code", "expires_in": 3600}


WIRE = Wire(
    family=ApiFamily.OPENAI_COMPLETIONS,
    provider=PROVIDER,
    mount=MOUNT,
    base_path="/coding/v1",
    routes=(("POST", "/coding/v1/chat/completions"),),
    authorized=_authorized,
    read=_read,
    json_body=openai.WIRE.json_body,
    stream_frames=openai.WIRE.stream_frames,
    error_body=_error_body,
    recordings="openai_chat",
    models_body=openai.WIRE.models_body,
    models_route="/coding/v1/models",
    unrecorded=openai.WIRE.unrecorded,
    extra_routes=(REFUSED_REFRESH,),
    uses_api_key=False,
    sign_in=refresh_login(".kimi/credentials/kimi-code.json", _credentials_file, MOUNT),
)
