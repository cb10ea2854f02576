"""The pages and scripts of the Qwen mock: the SPA shell (``/``, ``/c/guest``, ``/c/{id}``),
the SPA bundle under ``/g/qwenweb/qwen-chat-fe/{SPA}/``, the stand-in Baxia SDK and its
slider (the punish URL's page) with the endpoints they call (reference §5.3 "Pages and JS")."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.sites.common import RECORD, Outcome, Verdict
from tests.fakes.sites.qwen import wire
from tests.fakes.sites.qwen.api import state_of
from tests.fakes.sites.qwen.scenarios import PAGE_SCENARIOS, QwenScenario

STATIC = Path(__file__).with_name("static")
SPA_ROOT = "/g/qwenweb/qwen-chat-fe"
BUNDLE = {"js/main.js": "application/javascript", "css/main.css": "text/css"}
TRACK_MIN_POINTS = 5
SOLVED_SHARE = 0.9
NO_STORE = {"Cache-Control": "no-store"}

_SHELL = """<!DOCTYPE html>
<html lang="en-US"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Qwen Chat</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{root}/{spa}/css/main.css">
<script>window.__QWEN_CHAT_BOOT__ = {boot};</script>
<script src="/__mock__/baxia.js"></script>
<script defer src="{root}/{spa}/js/main.js"></script>
</head><body><div id="root"><div class="qwen-loading">Loading…</div></div></body></html>
"""

_SLIDER = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Verification</title>
<link rel="stylesheet" href="/__mock__/baxia/slider.css"></head>
<body><div class="nc-container" id="nocaptcha">
<p class="nc-title">Please slide to verify that you are human</p>
<div class="nc_wrapper" id="nc_1_wrapper"><div class="nc_scale" id="nc_1__scale_text">
<div class="nc_bg" id="nc_1__bg"></div>
<span class="nc-lang-cnt">Slide to the right</span>
<span id="nc_1_n1z" class="nc_iconfont btn_slide">&raquo;</span>
</div></div></div>
<script>window.__X5SECDATA__ = {x5};</script>
<script src="/__mock__/baxia/slider.js"></script>
</body></html>
"""


async def shell(request: web.Request) -> web.StreamResponse:
    """The SPA shell; the page scenarios this load takes go to the SPA in its boot data."""
    state = state_of(request)
    challenge = _waf_on_page(request)
    if challenge is not None:
        return challenge
    fired = {s: state.scenarios.take(s) for s in PAGE_SCENARIOS}
    slow, config = fired[QwenScenario.SLOW_HYDRATION], state.config
    hydrate_ms = slow.params["ms"] if slow else config.delay_s(config.slow_page_ms) * 1000
    chat_id = request.match_info.get("chat_id")
    boot = {
        "route": "landing" if request.path == "/" else "chat",
        "chatId": None if chat_id in (None, "guest") else chat_id,
        "spa": state.config.spa_version,
        "bxV": state.config.bx_v,
        "layout": "hashed" if fired[QwenScenario.LAYOUT_CHANGE] else "default",
        "loginWall": fired[QwenScenario.LOGIN_WALL] is not None,
        "keepSessionPopup": fired[QwenScenario.KEEP_SESSION_POPUP] is not None,
        "hydrateMs": hydrate_ms,
    }
    taken = ",".join(s.value for s, armed in fired.items() if armed is not None)
    request[RECORD].verdicts.append(Verdict("page", Outcome.PASS, taken))
    html = _SHELL.format(root=SPA_ROOT, spa=state.config.spa_version, boot=wire.dumps(boot))
    response = web.Response(text=html, content_type=wire.HTML_TYPE, charset="utf-8")
    _device_cookies(request, response)
    return response


def _waf_on_page(request: web.Request) -> web.Response | None:
    state = state_of(request)
    armed = state.scenarios.active(QwenScenario.WAF_JS_CHALLENGE)
    if armed is None or not armed.params["pages"]:
        return None
    if not armed.params["persistent"] and state.waf_solved(request.cookies.get("acw_sc__v2")):
        return None
    state.scenarios.take(QwenScenario.WAF_JS_CHALLENGE)
    request[RECORD].verdicts.append(Verdict("waf", Outcome.FAIL, "waf_js_challenge"))
    return wire.waf_page(state.waf_challenge())


def _device_cookies(request: web.Request, response: web.Response) -> None:
    """``acw_tc`` (HttpOnly), ``x-ap`` and ``cna``, as the edge and the websdk set them."""
    if "acw_tc" not in request.cookies:
        response.set_cookie(
            "acw_tc", secrets.token_hex(24), path="/", httponly=True, samesite="Lax"
        )
    response.set_cookie("x-ap", "mock-pop", path="/", samesite="Lax")
    if "cna" not in request.cookies:
        response.set_cookie(
            "cna", secrets.token_urlsafe(18), path="/", samesite="Lax", max_age=31536000
        )


async def bundle(request: web.Request) -> web.StreamResponse:
    """The SPA's files, only under the current ``spa_version`` (a stale build is a 404)."""
    if request.match_info["spa"] != state_of(request).config.spa_version:
        raise web.HTTPNotFound()
    name = request.match_info["name"]
    kind = BUNDLE.get(name)
    if kind is None:
        raise web.HTTPNotFound()
    return _file(name.split("/")[-1], kind)


def _file(name: str, kind: str) -> web.Response:
    text = (STATIC / name).read_text(encoding="utf-8")
    return web.Response(text=text, content_type=kind, charset="utf-8", headers=NO_STORE)


async def baxia_js(request: web.Request) -> web.Response:
    """The stand-in Baxia SDK."""
    return _file("baxia.js", "application/javascript")


async def slider_js(request: web.Request) -> web.Response:
    """The slider's script (inside the punish iframe)."""
    return _file("slider.js", "application/javascript")


async def slider_css(request: web.Request) -> web.Response:
    """The slider's look (the track must have a width for a drag to mean anything)."""
    return _file("slider.css", "text/css")


async def punish_page(request: web.Request) -> web.Response:
    """The punish URL (``…/_____tmd_____/punish?x5secdata=…``): the slider page."""
    x5 = request.query.get("x5secdata", "")
    return web.Response(
        text=_SLIDER.format(x5=wire.dumps(x5)), content_type=wire.HTML_TYPE, charset="utf-8"
    )


async def baxia_issue(request: web.Request) -> web.Response:
    """``POST /__mock__/baxia/issue {umid, ua:[…]}``: register a page's tokens (with a TTL)."""
    body = await _json(request)
    umid, ua = body.get("umid"), body.get("ua")
    tokens = (
        [t for t in ua if isinstance(t, str) and t.startswith("234!")]
        if isinstance(ua, list)
        else []
    )
    if not (isinstance(umid, str) and umid.startswith("T2gA") and tokens and tokens == ua):
        reason = "umid T2gA… and ua [234!…] wanted"
        return web.json_response({"success": False, "reason": reason}, status=400)
    ttl = state_of(request).register(umid, tokens)
    return web.json_response({"success": True, "ttl_s": ttl})


async def baxia_unpunish(request: web.Request) -> web.Response:
    """``POST /__mock__/baxia/unpunish``: a slider drag; accepted only if a real mouse made
    it (trusted events only, enough of them) and it reached 90 % of the track. The answer's
    ``x5sec`` cookie lets this browser past the ``punish`` scenario, and the punished tokens
    are registered afresh."""
    state = state_of(request)
    body = await _json(request)
    problem = _drag_problem(body)
    granted = state.unpunish(str(body.get("x5secdata", ""))) if problem is None else None
    if granted is None:
        state.counters["slider_refused"] += 1
        reason = problem or "unknown or already solved x5secdata"
        return web.json_response({"success": False, "reason": reason}, status=400)
    response = web.json_response({"success": True})
    response.set_cookie("x5sec", granted, path="/", samesite="Lax")
    return response


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _drag_problem(body: dict[str, Any]) -> str | None:
    track, width = body.get("track"), body.get("width")
    if not isinstance(track, list) or len(track) < TRACK_MIN_POINTS:
        return "too few points in the drag"
    if not isinstance(width, int | float) or width <= 0:
        return "no track width"
    try:
        xs = [float(p["x"]) for p in track]
        trusted = all(p["trusted"] is True for p in track)
    except (KeyError, TypeError, ValueError):
        return "malformed track"
    if not trusted:
        return "synthetic (untrusted) events"
    if max(xs) < SOLVED_SHARE * width:
        return "drag too short"
    return None


def routes() -> list[web.RouteDef]:
    """The pages, the bundle and the Baxia routes."""
    return [
        web.get("/", shell),
        web.get("/c/{chat_id}", shell),
        web.get(SPA_ROOT + "/{spa}/{name:(js|css)/main\\.(js|css)}", bundle),
        web.get("/__mock__/baxia.js", baxia_js),
        web.get("/__mock__/baxia/slider.js", slider_js),
        web.get("/__mock__/baxia/slider.css", slider_css),
        web.post("/__mock__/baxia/issue", baxia_issue),
        web.post("/__mock__/baxia/unpunish", baxia_unpunish),
        web.get("/{lead:/?}api/v2/{base:.+}" + wire.PUNISH_MARK, punish_page),
    ]
