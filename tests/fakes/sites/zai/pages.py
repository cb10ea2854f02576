"""The mock chat.z.ai's pages and scripts (reference §5.2 "Pages and JS"): the app shell on
``/`` and ``/c/{id}``, the SPA's modules under ``/frontend/{build}/assets/``, the sign-in page
behind the login wall, the stand-in Aliyun captcha script and its token issuer, the legacy
completion path, and the edge that blocks whole addresses."""

from __future__ import annotations

import html
import re
import uuid
from string import Template
from typing import Any

from aiohttp import web

from tests.fakes.sites.common import CONTROL_PREFIX, RECORD, Handler, StepMode
from tests.fakes.sites.zai.completion import waf_response
from tests.fakes.sites.zai.config import Step, ZaiScenario
from tests.fakes.sites.zai.state import ZaiState
from tests.fakes.sites.zai.wire import STATIC

BUILD = re.compile(r"prod-fe-\d+\.\d+\.\d+")
ASSETS = {
    "app.js": "text/javascript",
    "session.js": "text/javascript",
    "completion.js": "text/javascript",
    "view.js": "text/javascript",
    "sign.js": "text/javascript",
    "app.css": "text/css",
}


class Pages:
    """The handlers, over the site's state."""

    def __init__(self, state: ZaiState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.shell),
            web.get("/c/{chat_id}", self.shell),
            web.get("/auth", self.sign_in),
            web.get("/frontend/{build}/assets/{name}", self.asset),
            web.get("/__mock__/aliyun-captcha.js", self.captcha_script),
            web.post("/__mock__/captcha/issue", self.captcha_issue),
            web.post("/api/chat/completions", self.legacy_completions),
        ]

    async def shell(self, request: web.Request) -> web.Response:
        """The app shell; ``login_wall`` sends it to ``/auth``, ``layout_change`` marks the
        build whose DOM differs."""
        scenarios = self.state.scenarios
        if scenarios.take(ZaiScenario.LOGIN_WALL) is not None:
            raise web.HTTPFound("/auth")
        layout = "next" if scenarios.take(ZaiScenario.LAYOUT_CHANGE) is not None else "default"
        page = Template((STATIC / "shell.html").read_text()).substitute(
            title=html.escape(self.state.config.title),
            build=self.state.config.fe_version,
            layout=layout,
        )
        return web.Response(text=page, content_type="text/html")

    async def sign_in(self, request: web.Request) -> web.Response:
        return web.Response(text=(STATIC / "auth.html").read_text(), content_type="text/html")

    async def asset(self, request: web.Request) -> web.Response:
        """The SPA's modules for any well-formed build (an old page keeps loading its own)."""
        name = request.match_info["name"]
        if not BUILD.fullmatch(request.match_info["build"]) or name not in ASSETS:
            raise web.HTTPNotFound()
        return web.Response(text=(STATIC / name).read_text(), content_type=ASSETS[name])

    async def captcha_script(self, request: web.Request) -> web.Response:
        text = (STATIC / "aliyun-captcha.js").read_text()
        return web.Response(text=text, content_type="text/javascript")

    async def captcha_issue(self, request: web.Request) -> web.Response:
        """What the stand-in widget asks for: a token, or (``captcha_challenge``) a popup to
        show first; a solved popup answers ``{"challenge", "solved": true}``."""
        body: dict[str, Any] = await request.json()
        scene, origin = str(body.get("sceneId")), str(body.get("origin"))
        challenges = self.state.book.challenges
        if body.get("solved"):
            if body.get("challenge") not in challenges:
                return web.json_response({"error": "no such challenge"}, status=400)
            challenges.discard(body["challenge"])
            self.state.counters["captcha_solved"] += 1
        elif self.state.scenarios.take(ZaiScenario.CAPTCHA_CHALLENGE) is not None:
            challenge = uuid.uuid4().hex
            challenges.add(challenge)
            self.state.counters["captcha_challenges"] += 1
            return web.json_response({"challenge": challenge})
        self.state.counters["captcha_issued"] += 1
        return web.json_response({"param": self.state.issue_captcha(scene, origin)})

    async def legacy_completions(self, request: web.Request) -> web.Response:
        """The pre-Oct-2025 path: blocked, as the real edge does now."""
        request[RECORD].check(Step.WAF, False, StepMode.STRICT, "legacy completion path")
        return waf_response(self.state)


def edge_middleware(state: ZaiState) -> Any:
    """The site's edge: a blocked address (``ip_block`` scenario, or ``ip_block_after``
    tripped) gets the WAF page for everything, pages too unless they are spared."""

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        page = not request.path.startswith("/api/")
        blocked = state.ip_blocked(request.remote or "") and (
            state.config.ip_block_pages or not page
        )
        scenario = state.scenarios.active(ZaiScenario.IP_BLOCK)
        if not blocked and scenario is not None and (scenario.param("pages", True) or not page):
            blocked = state.scenarios.take(ZaiScenario.IP_BLOCK) is not None
        if blocked:
            request[RECORD].check(Step.WAF, False, StepMode.STRICT, "address blocked")
            return waf_response(state)
        return await handler(request)

    return edge
