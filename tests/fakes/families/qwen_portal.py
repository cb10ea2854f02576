"""Qwen Code's portal: OpenAI Chat Completions at the base its login names.

A Qwen OAuth login answers (and ``~/.qwen/oauth_creds.json`` keeps) a ``resource_url``; the API
base is that URL (``https://`` added to a bare host) plus ``/v1``, not a fixed host. The contract
gives the daemon no base URL for this provider at all, so a call reaches this fake only through
the login's ``resource_url``. The portal takes the login's access token as a bearer token only
together with ``X-DashScope-AuthType: qwen-oauth``; without it the token would be read as a
DashScope API key, which it is not (401). Bodies, streams and errors are OpenAI's
(:mod:`tests.fakes.families.openai_completions`). The portal has no model list.
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
from tests.fakes.families.wire import JSON, Wire

PROVIDER = "qwen-portal"
MOUNT = "/qwen"


def _authorized(headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
    oauth = headers.get("x-dashscope-authtype") == "qwen-oauth"
    return oauth and bearer(headers) == access_token(PROVIDER)


def _creds_file(base_url: str) -> JSON:
    """``~/.qwen/oauth_creds.json`` as Qwen Code writes it, naming this fake as the resource."""
    return {**oauth_token_file(PROVIDER, "expiry_date"), "resource_url": base_url + MOUNT}


WIRE = Wire(
    family=ApiFamily.OPENAI_COMPLETIONS,
    provider=PROVIDER,
    mount=MOUNT,
    base_path="/v1",
    routes=(("POST", "/v1/chat/completions"),),
    authorized=_authorized,
    read=openai.WIRE.read,
    json_body=openai.WIRE.json_body,
    stream_frames=openai.WIRE.stream_frames,
    error_body=openai.WIRE.error_body,
    recordings="openai_chat",
    unrecorded=openai.WIRE.unrecorded,
    extra_routes=(REFUSED_REFRESH,),
    uses_api_key=False,
    sign_in=refresh_login(".qwen/oauth_creds.json", _creds_file, MOUNT, names_base=True),
)
