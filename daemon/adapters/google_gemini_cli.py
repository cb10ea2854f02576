"""The ``google-gemini-cli`` family: Gemini through Code Assist (``{base}:generateContent``).

The Gemini CLI login's token calls ``https://cloudcode-pa.googleapis.com/v1internal``, which
wraps Gemini's own request as ``{model, project, user_prompt_id, request}`` and each answer
chunk as ``{response: <GenerateContentResponse>}``. The project is the one the login
discovered (``loadCodeAssist``) or ``project`` in ``[providers.google-gemini-cli]``. Body and
chunk parsing are the google-generative-ai family's own.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from daemon.adapters import common, google_generative_ai
from daemon.adapters.types import ChatCall, Event, HttpRequest, Target
from daemon.errors import RequestInvalid, Unsupported, UpstreamProtocol

map_error = google_generative_ai.map_error


def build_request(target: Target, call: ChatCall) -> HttpRequest:
    """The HTTP request for ``call``: Gemini's body inside Code Assist's envelope."""
    project = target.options.get("project")
    if not project:
        provider = target.provider.id
        raise RequestInvalid(
            f"Code Assist needs a project: log in again (switchboard login {provider}) "
            f"or set project in [providers.{provider}]",
            field="provider",
        )
    body: dict[str, Any] = {
        "model": target.model,
        "project": project,
        "user_prompt_id": secrets.token_hex(8),
        "request": google_generative_ai.request_body(call),
    }
    if call.stream:
        url, accept = f"{target.base_url}:streamGenerateContent?alt=sse", "text/event-stream"
    else:
        url, accept = f"{target.base_url}:generateContent", "application/json"
    headers = common.headers(target, accept=accept)
    return HttpRequest("POST", url, headers, orjson.dumps(body))


def _inner(chunk: Mapping[str, Any]) -> Mapping[str, Any]:
    if "error" in chunk:
        return chunk
    response = chunk.get("response")
    if not isinstance(response, dict):
        raise UpstreamProtocol("the Code Assist answer has no response object")
    return response


class StreamParser(google_generative_ai.StreamParser):
    """Gemini's parser, fed the ``response`` inside each Code Assist chunk."""

    def feed(self, payload: bytes) -> list[Event]:
        return self.feed_object(_inner(common.json_object(payload)))


def parse_body(payload: bytes) -> list[Event]:
    """Events of a whole answer (one wrapped response)."""
    inner = _inner(common.json_object(payload))
    return google_generative_ai.parse_body(orjson.dumps(inner))


stream = common.streamer(build_request, parse_body, StreamParser, map_error)


async def models(
    session: aiohttp.ClientSession, target: Target, connect_timeout: float
) -> list[str]:
    """Code Assist has no model list (the row says so; routing never asks)."""
    raise Unsupported("Code Assist has no model list")
