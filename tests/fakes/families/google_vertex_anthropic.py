"""Claude on Vertex AI: the Anthropic publisher's ``:rawPredict`` / ``:streamRawPredict``.

``{base}/publishers/anthropic/models/{model}:rawPredict`` takes the Anthropic Messages body
with the model moved to the URL (a ``"model"`` key is refused) and ``"anthropic_version":
"vertex-2023-10-16"`` in the body, and answers the way Anthropic does: reading, rendering and
the in-stream error are the Anthropic wire's (:mod:`tests.fakes.families.anthropic_messages`).
Sign-in is the service-account flow of :mod:`tests.fakes.families.google_vertex` (its own key
file and token endpoint under this wire's mount). Vertex itself refuses a credential in
Google's error shape; the model's own errors keep Anthropic's.
"""

from __future__ import annotations

import dataclasses

from daemon.providers.model import ApiFamily
from tests.fakes.families import anthropic_messages as anthropic
from tests.fakes.families import google_generative_ai as gemini
from tests.fakes.families.google_vertex import (
    PROJECT_BASE,
    PROJECT_ROUTE,
    TOKEN_PATH,
    ServiceAccounts,
)
from tests.fakes.families.script import RequestRejected, Turn
from tests.fakes.families.wire import Request, Wire

ANTHROPIC_VERSION = "vertex-2023-10-16"
METHODS = ("rawPredict", "streamRawPredict")


def _read(request: Request) -> Turn:
    model, _, method = request.path_params["call"].rpartition(":")
    if method not in METHODS:
        raise RequestRejected(f"unknown method {method!r}")
    body = request.body
    if body.get("anthropic_version") != ANTHROPIC_VERSION:
        raise RequestRejected(f"anthropic_version: Input should be '{ANTHROPIC_VERSION}'")
    if "model" in body:
        raise RequestRejected("model: Extra inputs are not permitted")
    if (method == "streamRawPredict") != bool(body.get("stream")):
        raise RequestRejected(f"{method} and stream={body.get('stream')!r} do not go together")
    return anthropic.WIRE.read(dataclasses.replace(request, body={**body, "model": model}))


def _error_body(status: int, message: str) -> bytes:
    if status == 401:  # Vertex's own sign-in refusal, before the model sees the call
        return gemini.WIRE.error_body(status, message)
    return anthropic.WIRE.error_body(status, message)


MOUNT = "/vertex-anthropic"
ACCOUNTS = ServiceAccounts(MOUNT)

WIRE = Wire(
    family=ApiFamily.GOOGLE_VERTEX,
    provider="google-vertex-anthropic",
    mount=MOUNT,
    base_path=PROJECT_BASE,
    routes=(("POST", f"{PROJECT_ROUTE}/publishers/anthropic/models/{{call}}"),),
    authorized=ACCOUNTS.authorized,
    read=_read,
    json_body=anthropic.WIRE.json_body,
    stream_frames=anthropic.WIRE.stream_frames,
    error_body=_error_body,
    stream_error=anthropic.WIRE.stream_error,
    recordings="anthropic_messages",
    free_form=anthropic.WIRE.free_form,
    # Google's error shape for the 401 (error.message is in Anthropic's recordings too).
    unrecorded=anthropic.WIRE.unrecorded | {"error.code", "error.status"},
    extra_routes=(("POST", TOKEN_PATH, ACCOUNTS.token),),
    setup=ACCOUNTS.setup,
    teardown=ACCOUNTS.teardown,
    uses_api_key=False,
)
