"""The description of one family's fake: where it listens and how it speaks (data as data).

Each ``tests/fakes/families/<family>.py`` module builds one :class:`Wire` from pure functions;
:mod:`tests.fakes.families.server` serves them all, and the contract suite drives each through
the daemon. A wire module is checked against its family's recordings by
``tests/test_family_fakes.py``: every key path the fake sends must appear in a real answer.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from daemon.providers.model import ApiFamily
from tests.fakes.families.script import Script, Turn

JSON = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def half_json(frame: bytes) -> bytes:
    """An SSE frame whose ``data`` JSON stops halfway (the event still ends properly)."""
    data = frame.rstrip(b"\r\n")
    return data[: len(data) // 2 + 3] + b"\n\n"


@dataclass(frozen=True)
class Request:
    """What a wire module reads a request from."""

    path_params: Mapping[str, str]  # aiohttp's match_info, e.g. {"model": "..."}
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: Any  # parsed JSON


@dataclass(frozen=True)
class SignIn:
    """How the contract daemon signs in to a login-bound family: it imports the credential file
    the provider's official CLI writes (``auth.oauth.import`` reads it under ``$HOME``), with the
    login's own endpoints (refresh, Copilot's token exchange, Code Assist's project discovery)
    pointed at the fake by ``[oauth.<provider>]``."""

    file: str  # the credential file's path under $HOME
    content: Callable[[str], JSON]  # the file's JSON for the fake at this base URL
    oauth: Callable[[str], Mapping[str, str | bool]]  # [oauth.<provider>] for that base URL
    # True: the login names the API base (qwen's resource_url, Copilot's endpoints.api);
    # daemon_config(bases_from_logins=True) then gives the provider no base URL of its own.
    names_base: bool = False
    # True: the login renews with a refresh grant, which the fake's token endpoint refuses (it
    # issued no refresh token), so a 401 from the API leaves only a new login. False: renewal
    # mints a new API token from a long-lived one (Copilot), which the fake grants.
    refreshes: bool = True


@dataclass(frozen=True)
class Wire:
    """One family's fake: routes, credential check, request reading and answer rendering."""

    family: ApiFamily
    provider: str  # the catalog id the contract suite sends to this fake
    mount: str  # this family's URL prefix on the fake server, e.g. "/anthropic"
    base_path: str  # the rest of the provider's base URL after the mount, e.g. "/v1"
    routes: tuple[tuple[str, str], ...]  # (method, aiohttp path under the mount)
    authorized: Callable[[Mapping[str, str], Mapping[str, str], str], bool]  # headers, query, key
    read: Callable[[Request], Turn]
    json_body: Callable[[Script, Turn], bytes]
    stream_frames: Callable[[Script, Turn], list[bytes]]
    error_body: Callable[[int, str], bytes]
    stream_content_type: str = "text/event-stream"
    # The family's in-stream error event; None: it has none, the fake breaks the connection.
    stream_error: Callable[[str], bytes] | None = None
    model: str = "fake-model"  # the model the contract asks for (some families key on its name)
    image_urls: bool = True  # the family takes images by URL (Bedrock wants the bytes)
    recordings: str = ""  # the folder in ../shared/fixtures/wire holding real answers
    options: Mapping[str, str] = field(default_factory=dict)  # more [providers.<id>] settings
    # GET models, when the family has it: the page the query asks for. Families that page
    # their listing serve one id a page, so the contract sees the daemon follow the pages.
    models_body: Callable[[list[str], Mapping[str, str]], bytes] | None = None
    models_route: str | None = None
    # A frame made unreadable (the ``malformed`` fault): by default its JSON cut in half.
    corrupt: Callable[[bytes], bytes] = half_json
    # A binary stream's decoder into JSON payloads (Bedrock's event stream); None: SSE.
    decode_frames: Callable[[bytes], list[Any]] | None = None
    # Key paths the fake sends that no recording of the family happens to show; each one is
    # explained where the wire module sets it.
    unrecorded: frozenset[str] = frozenset()
    # Key paths whose value is the model's data (tool arguments), not the wire's shape.
    free_form: tuple[str, ...] = ()
    # More routes under the mount than the family's calls, e.g. a token endpoint:
    # (method, aiohttp path under the mount, handler).
    extra_routes: tuple[tuple[str, str, Handler], ...] = ()
    # Settings known only once the fake listens (a key file naming the fake's URL), added to
    # ``options``: called with the fake's base URL, the same answer for the same URL. The fake
    # calls it when it starts and ``teardown`` (which removes what it made) when it stops.
    setup: Callable[[str], Mapping[str, str]] | None = None
    teardown: Callable[[str], None] | None = None
    # False: the provider signs in another way; the daemon config then gives it no api_key.
    uses_api_key: bool = True
    # Login-bound families: the login the contract imports (uses_api_key is False for them).
    sign_in: SignIn | None = None
    # A credential of the family's own kind that the fake refuses (a ChatGPT token must carry
    # its account id to be sent at all).
    wrong_key: str = "sk-contract-wrong-key-9999"
    # The key under which the family wraps the recorded family's payloads (Code Assist puts
    # Gemini's answer under "response"); None: the payloads are the recorded family's own.
    envelope: str | None = None
    # The family's own token-counting call, when it has one: its route under the mount (served
    # before ``routes``, which may match it too) and its answer to a request (RequestRejected
    # for one the provider refuses). No recording shows these answers: their shape is the
    # provider's API reference, as each wire module says.
    count_route: str | None = None
    count_tokens: Callable[[Request], bytes] | None = None

    def options_at(self, base_url: str) -> Mapping[str, str]:
        """``options`` with what ``setup`` gives for the fake at ``base_url``."""
        return {**self.options, **(self.setup(base_url) if self.setup else {})}

    def shape(self, paths: frozenset[str]) -> frozenset[str]:
        """``paths`` without what lies inside free-form values."""
        return frozenset(p for p in paths if not any(p.startswith(f"{f}.") for f in self.free_form))


def sse(payload: JSON, event: str | None = None) -> bytes:
    """One SSE frame, ``event:`` line first when the family names its events."""
    data = b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
    return f"event: {event}\n".encode() + data if event else data


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def bearer_is(headers: Mapping[str, str], key: str) -> bool:
    return headers.get("authorization") == f"Bearer {key}"
