"""The ``openai-codex-responses`` family: the Responses API at the ChatGPT backend.

A ChatGPT (Plus/Pro) login's access token goes to ``{base}/responses`` (base
``https://chatgpt.com/backend-api/codex``) as a bearer token, with ``chatgpt-account-id``
naming the account the token belongs to (from the login's claims, else the token's own JWT
claims) and a ``session_id``; the row carries the static headers every Codex client sends
(``originator``, ``OpenAI-Beta``). The backend answers only as a stream, keeps nothing
(``store: false``), wants ``instructions`` present and refuses ``max_output_tokens``;
reasoning comes back encrypted so it can be passed on. It refuses in FastAPI's
``{"detail": ...}`` shape, which :func:`map_error` reads. Parsing is the Responses family's own.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import aiohttp
import orjson

from daemon.adapters import common, openai_responses
from daemon.adapters.types import ChatCall, Event, HttpRequest, Target
from daemon.auth.oauth_http import jwt_claims
from daemon.errors import NeedsLogin, Unsupported, UpstreamError

ACCOUNT_CLAIM = "chatgpt_account_id"  # Login.claims key the openai-codex login records
AUTH_CLAIM = "https://api.openai.com/auth"  # where a ChatGPT token's JWT names the account


def account_of(target: Target) -> str | None:
    """The ChatGPT account the call's token belongs to: the login's, else the token's own."""
    account = target.options.get(ACCOUNT_CLAIM)
    if account:
        return account
    auth = jwt_claims(target.key).get(AUTH_CLAIM)
    found = auth.get(ACCOUNT_CLAIM) if isinstance(auth, dict) else None
    return found if isinstance(found, str) and found else None


def build_request(target: Target, call: ChatCall) -> HttpRequest:
    """The HTTP request for ``call``: always streamed, as the backend requires."""
    account = account_of(target)
    if account is None:
        provider = target.provider.id
        raise NeedsLogin(
            f"{provider}: the ChatGPT backend takes only a ChatGPT login's token, and this "
            "credential names no ChatGPT account",
            provider=provider,
            command=f"switchboard login {provider}",
        )
    body = openai_responses.request_body(target, dataclasses.replace(call, stream=True))
    body["include"] = ["reasoning.encrypted_content"]
    body.setdefault("instructions", "")  # the backend refuses a call without the field
    body.pop("max_output_tokens", None)  # and one that sets it
    headers = common.headers(target, accept="text/event-stream")
    headers |= {"chatgpt-account-id": account, "session_id": str(uuid.uuid4())}
    return HttpRequest("POST", f"{target.base_url}/responses", headers, orjson.dumps(body))


def _detail_words(detail: Any) -> Mapping[str, Any]:
    # "detail" is a sentence ("Store must be set to false") or an OpenAI-style error object.
    if isinstance(detail, dict):
        return detail
    return {"message": str(detail)}


def map_error(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """The typed error for an error answer, in the backend's ``detail`` shape or OpenAI's."""
    try:
        parsed: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return common.error_from_status(status, headers, body)
    if isinstance(parsed, dict) and "detail" in parsed and "error" not in parsed:
        parsed = {"error": _detail_words(parsed["detail"])}
    return common.error_from_body(parsed, status=status, headers=headers)


parse_body = openai_responses.parse_body


_relay = common.streamer(build_request, parse_body, openai_responses.StreamParser, map_error)


def stream(
    session: aiohttp.ClientSession, target: Target, call: ChatCall, connect_timeout: float
) -> AsyncGenerator[list[Event], None]:
    """Send ``call`` and yield its events; a caller that wanted one answer gets it assembled."""
    return _relay(session, target, dataclasses.replace(call, stream=True), connect_timeout)


async def models(
    session: aiohttp.ClientSession, target: Target, connect_timeout: float
) -> list[str]:
    """The backend has no public model list (the row says so; routing never asks)."""
    raise Unsupported("the Codex backend has no model list")
