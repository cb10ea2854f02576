"""Code Assist (``{base}:generateContent``, ``:streamGenerateContent?alt=sse``), base
``.../v1internal``: what a Gemini CLI login calls.

The body wraps Gemini's own request: ``{model, project, user_prompt_id, request}``; each answer
(the whole one, and every SSE chunk) wraps Gemini's ``GenerateContentResponse`` as
``{"response": ...}``. Reading the inner request and rendering the inner answer are the Gemini
wire's (:mod:`tests.fakes.families.google_generative_ai`), errors too (Google's shape).

It takes the login's access token as a bearer token, never an API key, and serves only the
project its account was given: the one ``:loadCodeAssist`` names (the login discovers it after
an import, since the CLI's token file does not hold it). Any other project is Google's 403
``PERMISSION_DENIED``. ``DISCOVERIES`` counts the ``loadCodeAssist`` calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web

from daemon.providers.model import ApiFamily
from tests.fakes.families import google_generative_ai as gemini
from tests.fakes.families.logins import (
    REFUSED_REFRESH,
    access_token,
    bearer,
    oauth_token_file,
    token_url,
)
from tests.fakes.families.script import FAULT_MESSAGES, RequestRejected, Script, Turn
from tests.fakes.families.wire import JSON, Request, SignIn, Wire, dumps

PROVIDER = "google-gemini-cli"
MOUNT = "/code-assist"
BASE = "/v1internal"
PROJECT = "contract-code-assist-project"  # the account's, as loadCodeAssist names it
CONFIG_PROJECT = "contract-config-project"  # [providers.google-gemini-cli] project: not ours
ACCESS = access_token(PROVIDER)
DISCOVERIES: list[str] = []  # one entry per loadCodeAssist call (its project answer)


def _authorized(headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
    return bearer(headers) == ACCESS and "x-goog-api-key" not in headers


def _read(request: Request) -> Turn:
    body = request.body
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestRejected("Invalid JSON payload: model is required.")
    project = body.get("project")
    if project != PROJECT:
        raise RequestRejected(f"Permission denied on resource project {project}.", 403)
    if not isinstance(body.get("user_prompt_id"), str):
        raise RequestRejected("Invalid JSON payload: user_prompt_id is required.")
    inner = body.get("request")
    if not isinstance(inner, dict) or "model" in inner:
        raise RequestRejected("Invalid JSON payload: request must be a GenerateContentRequest.")
    call = f"{model}:{request.path_params['method']}"
    return gemini.WIRE.read(Request({"call": call}, request.query, request.headers, inner))


def _wrapped(payload: bytes) -> bytes:
    return dumps({"response": json.loads(payload)})


def _json_body(script: Script, turn: Turn) -> bytes:
    return _wrapped(gemini.WIRE.json_body(script, turn))


def _stream_frames(script: Script, turn: Turn) -> list[bytes]:
    frames = []
    for frame in gemini.WIRE.stream_frames(script, turn):
        data, separator = frame.removeprefix(b"data: ").split(b"\r\n", 1)
        frames.append(b"data: " + _wrapped(data) + b"\r\n" + separator)
    return frames


async def load_code_assist(request: web.Request) -> web.Response:
    """POST ``:loadCodeAssist``: the signed-in account's tier and Code Assist project."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    if not _authorized(headers, request.query, ""):
        return _refusal(401, FAULT_MESSAGES[401])
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        return _refusal(400, "Invalid JSON payload: metadata is required.")
    DISCOVERIES.append(PROJECT)
    tier = {"id": "standard-tier", "name": "Gemini Code Assist Standard"}
    return web.json_response(
        {"currentTier": tier, "allowedTiers": [tier], "cloudaicompanionProject": PROJECT}
    )


def _refusal(status: int, message: str) -> web.Response:
    return web.Response(
        status=status, body=gemini.WIRE.error_body(status, message), content_type="application/json"
    )


def _creds_file(base_url: str) -> JSON:
    """``~/.gemini/oauth_creds.json`` as the Gemini CLI writes it."""
    scope = "https://www.googleapis.com/auth/cloud-platform openid"
    return {**oauth_token_file(PROVIDER, "expiry_date"), "scope": scope}


WIRE = Wire(
    family=ApiFamily.GOOGLE_GEMINI_CLI,
    provider=PROVIDER,
    mount=MOUNT,
    base_path=BASE,
    routes=(("POST", BASE + ":{method:generateContent|streamGenerateContent}"),),
    authorized=_authorized,
    read=_read,
    json_body=_json_body,
    stream_frames=_stream_frames,
    error_body=gemini.WIRE.error_body,
    recordings="gemini",
    envelope="response",
    free_form=gemini.WIRE.free_form,
    unrecorded=gemini.WIRE.unrecorded,
    options={"project": CONFIG_PROJECT},
    extra_routes=(
        ("POST", BASE + ":loadCodeAssist", load_code_assist),
        REFUSED_REFRESH,
    ),
    uses_api_key=False,
    sign_in=SignIn(
        file=".gemini/oauth_creds.json",
        content=_creds_file,
        oauth=lambda base_url: {
            "enabled": True,
            "token_url": token_url(base_url, MOUNT),
            "exchange_url": f"{base_url}{MOUNT}{BASE}",
        },
    ),
)
