"""Azure OpenAI: Chat Completions at ``/openai/deployments/{deployment}/chat/completions``.

The chunks and bodies are OpenAI's (``openai_completions``), with what Azure adds as in the
recorded Azure stream (``wire/openai_chat/azure-model-router.1.chunks.txt``): a first chunk
with no choices and the prompt's ``prompt_filter_results``, and ``content_filter_results`` on
each choice. The fake checks what Azure insists on: the ``api-key`` header (no bearer token),
an ``api-version`` query, the deployment in the path matching the body's model, and
``max_completion_tokens`` rather than ``max_tokens``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from daemon.providers.model import ApiFamily
from tests.fakes.cassettes import key_paths
from tests.fakes.families import openai_completions as openai
from tests.fakes.families.script import RequestRejected, Script, Turn
from tests.fakes.families.wire import JSON, Request, Wire, dumps, sse

API_VERSION = "2024-10-21"
_SAFE = {"filtered": False, "severity": "safe"}
FILTERS: JSON = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
PROMPT_FILTERS: JSON = {
    "prompt_index": 0,
    "content_filter_results": {**FILTERS, "jailbreak": {"filtered": False, "detected": False}},
}


def _authorized(headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
    return headers.get("api-key") == key and "authorization" not in headers


def _read(request: Request) -> Turn:
    if request.query.get("api-version") != API_VERSION:
        raise RequestRejected("Missing or unsupported api-version query parameter.")
    if "max_tokens" in request.body:
        raise RequestRejected("Unsupported parameter: 'max_tokens'; use 'max_completion_tokens'.")
    turn = openai.WIRE.read(request)
    if request.path_params["deployment"] != turn.model:
        raise RequestRejected("The deployment in the path and the model in the body differ.")
    return turn


def _with_filters(chunk: JSON) -> JSON:
    for choice in chunk.get("choices") or ():
        choice["content_filter_results"] = FILTERS
    return chunk


def _json_body(script: Script, turn: Turn) -> bytes:
    body = _with_filters(json.loads(openai.WIRE.json_body(script, turn)))
    body["prompt_filter_results"] = [PROMPT_FILTERS]
    return dumps(body)


def _stream_frames(script: Script, turn: Turn) -> list[bytes]:
    first: JSON = {"choices": [], "created": 0, "id": "", "model": "", "object": ""}
    frames = [sse({**first, "prompt_filter_results": [PROMPT_FILTERS]})]
    for frame in openai.WIRE.stream_frames(script, turn):
        payload = frame.removeprefix(b"data: ").strip()
        if payload == b"[DONE]":
            frames.append(frame)
        else:
            frames.append(sse(_with_filters(json.loads(payload))))
    return frames


WIRE = Wire(
    family=ApiFamily.AZURE_OPENAI,
    provider="azure-openai",
    mount="/azure",
    base_path="/openai",
    routes=(("POST", "/openai/deployments/{deployment}/chat/completions"),),
    authorized=_authorized,
    read=_read,
    json_body=_json_body,
    stream_frames=_stream_frames,
    error_body=openai.WIRE.error_body,
    recordings="openai_chat",
    options={"api_version": API_VERSION},
    # Azure documents the filter results on a whole completion too; the recordings hold only
    # its stream.
    unrecorded=openai.WIRE.unrecorded
    | key_paths({"prompt_filter_results": [PROMPT_FILTERS]})
    | key_paths({"choices": [{"content_filter_results": FILTERS}]}),
)
