"""The ``openai-codex-responses`` family: the Responses API at the ChatGPT backend.

A ChatGPT (Plus/Pro) login's access token goes to ``{base}/responses`` (base
``https://chatgpt.com/backend-api/codex``) with the headers every Codex client sends:
``chatgpt-account-id`` (from the login's token claims), ``originator``,
``OpenAI-Beta: responses=experimental`` and a ``session_id``. The backend answers only as a
stream and keeps nothing (``store: false``); reasoning comes back encrypted so it can be
passed on in the next turn. Parsing is the Responses family's own.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncGenerator

import aiohttp
import orjson

from daemon.adapters import common, openai_responses
from daemon.adapters.types import ChatCall, Event, HttpRequest, Target
from daemon.errors import CredentialsMissing, Unsupported

ORIGINATOR = "switchboard"
ACCOUNT_CLAIM = "chatgpt_account_id"  # Login.claims key the openai-codex login records


def build_request(target: Target, call: ChatCall) -> HttpRequest:
    """The HTTP request for ``call``: always streamed, as the backend requires."""
    account = target.options.get(ACCOUNT_CLAIM)
    if not account:
        raise CredentialsMissing(
            "the Codex backend needs a ChatGPT login: switchboard login openai-codex",
            provider=target.provider.id,
            envKeys=[],
        )
    body = openai_responses.request_body(target, dataclasses.replace(call, stream=True))
    body["include"] = ["reasoning.encrypted_content"]
    body.setdefault("instructions", "")  # the backend refuses a call without the field
    body.pop("max_output_tokens", None)  # and one that sets it
    headers = common.headers(target, accept="text/event-stream")
    headers |= {
        "chatgpt-account-id": account,
        "originator": ORIGINATOR,
        "OpenAI-Beta": "responses=experimental",
        "session_id": str(uuid.uuid4()),
    }
    return HttpRequest("POST", f"{target.base_url}/responses", headers, orjson.dumps(body))


map_error = common.error_from_status
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
