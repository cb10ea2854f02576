"""GitHub Copilot: the token exchange and the Chat Completions API it opens.

``GET /copilot_internal/v2/token`` (api.github.com's) takes the long-lived GitHub token a
Copilot login holds (``Authorization: token <gh>``, or ``Bearer``) and mints a short-lived
Copilot token: ``{token, expires_at (epoch s), refresh_in, endpoints: {api}}``; the API base is
``endpoints.api``. An unknown GitHub token is GitHub's 401 ``Bad credentials``.

``POST {api}/chat/completions`` speaks OpenAI's Chat Completions
(:mod:`tests.fakes.families.openai_completions` reads and renders it) and takes only an
unexpired Copilot token this exchange minted (401 otherwise). It insists on the editor identity
Copilot's IDE auth wants, refusing a call without ``Editor-Version`` in the service's own bare
text ("bad request: missing Editor-Version header for IDE auth"; the wording for the other two
headers follows it), and refuses images unless ``Copilot-Vision-Request: true`` comes with
them, in its JSON error ("missing required Copilot-Vision-Request header for vision requests").
``GET {api}/models`` lists models the OpenAI way.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from daemon.providers.model import ApiFamily
from tests.fakes.families import openai_completions as openai
from tests.fakes.families.logins import bearer
from tests.fakes.families.script import RequestRejected, Turn
from tests.fakes.families.wire import JSON, Request, SignIn, Wire

PROVIDER = "github-copilot"
MOUNT = "/copilot"
API = "/api"  # endpoints.api of the minted tokens, under the mount
EXCHANGE = "/copilot_internal/v2/token"
GITHUB_APP = "Iv1.b507a08c87ecfe98"
GITHUB_TOKEN = "ghu_contractGitHubToken0000"  # noqa: S105 - a made-up test token
EDITOR_HEADERS = ("Editor-Version", "Editor-Plugin-Version", "Copilot-Integration-Id")
VISION = "missing required Copilot-Vision-Request header for vision requests"
LIFETIME_S = 1800  # Copilot tokens live about half an hour


class CopilotTokens:
    """The exchange: the Copilot tokens it minted, until when each is good, and a count."""

    def __init__(self, lifetime_s: int = LIFETIME_S) -> None:
        self.lifetime_s = lifetime_s
        self.minted: list[str] = []  # in order; the last is the newest
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()  # tests read from their own thread

    def valid(self, token: str) -> bool:
        with self._lock:
            return self._expiry.get(token, 0.0) > time.time()

    def authorized(self, headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
        """Only an unexpired token this exchange minted."""
        return self.valid(bearer(headers))

    async def exchange(self, request: web.Request) -> web.Response:
        """GET the Copilot token for the GitHub token in ``Authorization``."""
        scheme, _, github = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or github != GITHUB_TOKEN:
            refusal = {
                "message": "Bad credentials",
                "documentation_url": "https://docs.github.com/rest",
            }
            return web.json_response(refusal, status=401)
        expires_at = int(time.time()) + self.lifetime_s
        token = (
            f"tid={secrets.token_hex(16)};exp={expires_at};sku=monthly_subscriber;"
            f"proxy-ep=proxy.individual.githubcopilot.com;8kp=1:{secrets.token_hex(32)}"
        )
        with self._lock:
            self._expiry[token] = expires_at
            self.minted.append(token)
        api = f"{request.scheme}://{request.host}{MOUNT}{API}"
        answer: dict[str, Any] = {
            "token": token,
            "expires_at": expires_at,
            "refresh_in": max(0, self.lifetime_s - 300),
            "endpoints": {"api": api},
        }
        return web.json_response(answer)


def _has_images(body: JSON) -> bool:
    return any(
        part.get("type") == "image_url"
        for message in body["messages"]
        if isinstance(message.get("content"), list)
        for part in message["content"]
    )


def _read(request: Request) -> Turn:
    for name in EDITOR_HEADERS:
        if not request.headers.get(name.lower()):
            raise RequestRejected(f"bad request: missing {name} header for IDE auth", plain=True)
    if _has_images(request.body) and request.headers.get("copilot-vision-request") != "true":
        raise RequestRejected(VISION)
    return openai.WIRE.read(request)


def _apps_file(base_url: str) -> JSON:
    """``~/.config/github-copilot/apps.json`` as Copilot's editor plugins write it."""
    entry = {"user": "contract-user", "oauth_token": GITHUB_TOKEN, "githubAppId": GITHUB_APP}
    return {f"github.com:{GITHUB_APP}": entry}


def wire(tokens: CopilotTokens) -> Wire:
    """Copilot's wire with ``tokens`` as its exchange."""
    return Wire(
        family=ApiFamily.GITHUB_COPILOT,
        provider=PROVIDER,
        mount=MOUNT,
        base_path=API,
        routes=(("POST", f"{API}/chat/completions"),),
        authorized=tokens.authorized,
        read=_read,
        json_body=openai.WIRE.json_body,
        stream_frames=openai.WIRE.stream_frames,
        error_body=openai.WIRE.error_body,
        recordings="openai_chat",
        models_body=openai.WIRE.models_body,
        models_route=f"{API}/models",
        unrecorded=openai.WIRE.unrecorded,
        extra_routes=(("GET", EXCHANGE, tokens.exchange),),
        uses_api_key=False,
        sign_in=SignIn(
            file=".config/github-copilot/apps.json",
            content=_apps_file,
            oauth=lambda base_url: {"enabled": True, "exchange_url": base_url + MOUNT + EXCHANGE},
            names_base=True,
            refreshes=False,
        ),
    )


TOKENS = CopilotTokens()
WIRE = wire(TOKENS)
