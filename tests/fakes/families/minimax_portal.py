"""MiniMax's Coding Plan: Anthropic Messages at ``.../anthropic/v1/messages``, for its login.

The same Messages wire as Anthropic's (:mod:`tests.fakes.families.anthropic_messages` reads,
renders and breaks off streams), but a portal login's access token goes as
``Authorization: Bearer``: a call that carries it, or anything, as ``x-api-key`` (the header
MiniMax's API keys use) is a 401, as is any other token. MiniMax asks for no
``anthropic-version``.
"""

from __future__ import annotations

from collections.abc import Mapping

from daemon.providers.model import ApiFamily
from tests.fakes.families import anthropic_messages as anthropic
from tests.fakes.families.logins import (
    REFUSED_REFRESH,
    access_token,
    bearer,
    oauth_token_file,
    refresh_login,
)
from tests.fakes.families.wire import JSON, Wire

PROVIDER = "minimax-portal"
MOUNT = "/minimax"


def _authorized(headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
    return bearer(headers) == access_token(PROVIDER) and "x-api-key" not in headers


def _creds_file(base_url: str) -> JSON:
    """``~/.minimax/oauth_creds.json`` as the MiniMax CLI writes it."""
    return oauth_token_file(PROVIDER, "expiry_date")


WIRE = Wire(
    family=ApiFamily.ANTHROPIC_MESSAGES,
    provider=PROVIDER,
    mount=MOUNT,
    base_path="/anthropic/v1",
    routes=(("POST", "/anthropic/v1/messages"),),
    authorized=_authorized,
    read=anthropic.WIRE.read,
    json_body=anthropic.WIRE.json_body,
    stream_frames=anthropic.WIRE.stream_frames,
    error_body=anthropic.WIRE.error_body,
    stream_error=anthropic.WIRE.stream_error,
    recordings="anthropic_messages",
    free_form=anthropic.WIRE.free_form,
    unrecorded=anthropic.WIRE.unrecorded,
    extra_routes=(REFUSED_REFRESH,),
    uses_api_key=False,
    sign_in=refresh_login(".minimax/oauth_creds.json", _creds_file, MOUNT),
)
