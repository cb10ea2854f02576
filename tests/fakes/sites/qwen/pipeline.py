"""The validation steps of ``POST /api/v2/chat/completions`` (reference §5.3, steps 1-6).

Each step looks at one :class:`Ask` and returns ``None`` (pass) or a :class:`Refusal`; the
driver records every step's verdict on the request (``/__mock__/requests``) and applies its
mode (``checks``): ``strict`` refuses, ``warn`` records and goes on, ``off`` does not check
(its scenarios included). A refusal a scenario forced ignores ``warn``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from tests.fakes.sites.common import Recorded, Scenario, StepMode
from tests.fakes.sites.qwen import wire
from tests.fakes.sites.qwen.config import QwenConfig, Step
from tests.fakes.sites.qwen.scenarios import HTTP_CODES, QwenScenario
from tests.fakes.sites.qwen.state import Chat, QwenState

JSON = wire.JSON
REQUIRED_COOKIES = ("acw_tc", "ssxmod_itna")
#: status -> (reason phrase, envelope code)
HTTP_TEXT = {
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "Forbidden"),
    429: ("Too Many Requests", "RateLimited"),
    500: ("Internal Server Error", "Internal_Error"),
    502: ("Bad Gateway", "Bad_Gateway"),
    503: ("Service Temporarily Unavailable", "Service_Unavailable"),
}


@dataclass(slots=True)
class Ask:
    """One completion request under validation, and what the steps learnt about it."""

    request: web.Request
    state: QwenState
    config: QwenConfig
    rec: Recorded
    body: JSON
    chat: Chat | None = None
    empty: bool = False
    rate_limited_sse: bool = False

    @property
    def rid(self) -> str | None:
        """The ``x-request-id`` the page sent (echoed back)."""
        return self.request.headers.get("x-request-id")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a step refused and what the site answers; ``forced`` when a scenario made it."""

    detail: str
    response: web.StreamResponse
    forced: bool = False


def http_refusal(state: QwenState, every_path: bool, rid: str | None) -> Refusal | None:
    """A switched-on ``http_*`` scenario as a plain status (the envelope or a gateway page);
    ``every_path``: only those whose ``params.on`` is "all"."""
    names = [s for s in HTTP_CODES if _applies(state.scenarios.active(s), every_path)]
    armed = state.scenarios.take(*names) if names else None
    if armed is None:
        return None
    status = HTTP_CODES[QwenScenario(armed.name)]
    reason, code = HTTP_TEXT[status]
    headers = {"Retry-After": str(armed.params["retry_after"])} if status in (429, 503) else {}
    if armed.params["body"] == "html":
        return Refusal(armed.name, wire.gateway_page(status, reason, headers), forced=True)
    response = wire.api_json(wire.failure(code, reason), status=status, actual=status, rid=rid)
    response.headers.update(headers)
    return Refusal(armed.name, response, forced=True)


def _applies(found: Scenario | None, every_path: bool) -> bool:
    return found is not None and (not every_path or found.params["on"] == "all")


def waf(ask: Ask) -> Refusal | None:
    """Step 1: the Aliyun JS challenge until the page ran it (always, if persistent)."""
    armed = ask.state.scenarios.active(QwenScenario.WAF_JS_CHALLENGE)
    if armed is None:
        return None
    if not armed.params["persistent"] and ask.state.waf_solved(
        ask.request.cookies.get("acw_sc__v2")
    ):
        return None
    ask.state.scenarios.take(QwenScenario.WAF_JS_CHALLENGE)
    return Refusal("waf_js_challenge", wire.waf_page(ask.state.waf_challenge()), forced=True)


def baxia_refusal(state: QwenState, request: web.Request, forced: str | None) -> Refusal | None:
    """The punish body when the bx tokens are not live (or for the ``forced`` reason)."""
    umid, ua = request.headers.get("bx-umidtoken"), request.headers.get("bx-ua")
    problem = forced or state.tokens_problem(umid, ua)
    if problem is None:
        return None
    punished = state.punish(umid, ua)
    body = wire.punish_body(state.origin, request.path, punished.x5secdata)
    response = wire.api_json(body, actual=200, rid=request.headers.get("x-request-id"))
    return Refusal(problem, response, forced=forced is not None)


def baxia(ask: Ask) -> Refusal | None:
    """Step 2: live Baxia tokens; ``punish`` punishes until this browser solved the slider."""
    scenarios = ask.state.scenarios
    solved = ask.request.cookies.get("x5sec") in ask.state.book.passes
    if scenarios.active(QwenScenario.PUNISH) is not None and not solved:
        scenarios.take(QwenScenario.PUNISH)
        return baxia_refusal(ask.state, ask.request, forced="punish scenario")
    return baxia_refusal(ask.state, ask.request, forced=None)


def headers_problem(request: web.Request) -> str | None:
    """What the ``version``/``source`` headers or the device cookies lack (None: nothing)."""
    if not request.headers.get("version"):
        return "missing version header"
    if request.headers.get("source") != "web":
        return "source header is not web"
    missing = [name for name in REQUIRED_COOKIES if name not in request.cookies]
    return f"missing cookies {missing}" if missing else None


def bad_request(rid: str | None, details: str = wire.INTERNAL) -> web.Response:
    """The ``Bad_Request`` envelope (HTTP 200, ``x-actual-status-code: 400``)."""
    return wire.api_json(wire.failure("Bad_Request", details), actual=400, rid=rid)


def headers(ask: Ask) -> Refusal | None:
    """Step 3: the ``version`` and ``source`` headers and the device cookies."""
    if ask.state.scenarios.take(QwenScenario.BAD_REQUEST_HEADERS):
        return Refusal("bad_request_headers", bad_request(ask.rid), forced=True)
    problem = headers_problem(ask.request)
    return Refusal(problem, bad_request(ask.rid)) if problem else None


def chat(ask: Ask) -> Refusal | None:
    """Step 4: the chat exists in this mode, the parent is one of its answers, and no other
    answer of it is streaming."""
    chat_id = ask.request.query.get("chat_id", "")
    found = ask.state.book.chats.get(chat_id)
    ask.chat = found
    problem = _chat_problem(ask.body, chat_id, found)
    if problem:
        return Refusal(problem, bad_request(ask.rid, problem))
    if ask.state.scenarios.take(QwenScenario.CHAT_IN_PROGRESS):
        return Refusal("chat_in_progress", bad_request(ask.rid, wire.IN_PROGRESS), forced=True)
    if chat_id in ask.state.book.live:
        return Refusal("an answer is streaming", bad_request(ask.rid, wire.IN_PROGRESS))
    return None


def _chat_problem(body: JSON, chat_id: str, found: Chat | None) -> str | None:
    if found is None:
        return "Chat not found"
    if body.get("chat_id") != chat_id:
        return "chat_id in the body differs from the query"
    if body.get("chat_mode") != found.mode:
        return f"chat_mode {body.get('chat_mode')!r} differs from the chat's {found.mode!r}"
    parent = body.get("parent_id")
    if parent is not None and parent not in found.responses:
        return f"parent_id {parent!r} is not an answer of this chat"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return "messages missing"
    return None


def model(ask: Ask) -> Refusal | None:
    """Step 5: a guest asking a non-visitor model gets an empty completion; ``model_refused``
    says Forbidden instead."""
    if ask.state.scenarios.take(QwenScenario.MODEL_REFUSED):
        body = wire.failure("Forbidden", "The model is not available for guests.")
        return Refusal("model_refused", wire.api_json(body, actual=403, rid=ask.rid), forced=True)
    entry = ask.config.model(str(ask.body.get("model", "")))
    if entry is None:
        return Refusal("unknown model", bad_request(ask.rid, "Model not found"))
    guest = ask.body.get("chat_mode") == "guest"
    forbidden = ask.state.scenarios.take(QwenScenario.MODEL_FORBIDDEN) is not None
    ask.empty = forbidden or (guest and not entry.visitor)
    return None


def rate(ask: Ask) -> Refusal | None:
    """Step 6: requests per minute per address, and concurrent streams (Baxia flags those)."""
    address = ask.request.remote or "?"
    count = ask.state.hit(address)
    armed = ask.state.scenarios.take(QwenScenario.RATE_LIMITED)
    limit = ask.config.rpm_per_ip
    if armed is not None and armed.params["sse"]:
        ask.rate_limited_sse = True
        return None
    if armed is not None or (limit is not None and count > limit):
        body = wire.failure("RateLimited", "You have sent too many requests, please try later.")
        response = wire.api_json(body, actual=429, rid=ask.rid)
        return Refusal("rate limited", response, forced=armed is not None)
    streaming = any(x.address == address for x in ask.state.book.live.values())
    if streaming and ask.config.punish_concurrent:
        return baxia_refusal(ask.state, ask.request, forced="concurrent streams")
    return None


STEPS: dict[Step, Callable[[Ask], Refusal | None]] = {
    Step.WAF: waf,
    Step.BAXIA: baxia,
    Step.HEADERS: headers,
    Step.CHAT: chat,
    Step.MODEL: model,
    Step.RATE: rate,
}


def judged(rec: Recorded, step: str, mode: StepMode, refusal: Refusal | None) -> bool:
    """Record ``step``'s verdict; True when the request is refused there."""
    effective = StepMode.STRICT if refusal is not None and refusal.forced else mode
    return rec.check(step, refusal is None, effective, refusal.detail if refusal else "")


def validate(ask: Ask) -> web.StreamResponse | None:
    """Run the steps in order; the refusal to answer with, or None to stream."""
    edge = http_refusal(ask.state, every_path=False, rid=ask.rid)
    if judged(ask.rec, Step.SCENARIO, StepMode.STRICT, edge) and edge is not None:
        return edge.response
    for step, check in STEPS.items():
        mode = ask.state.mode(step)
        refusal = None if mode is StepMode.OFF else check(ask)
        if judged(ask.rec, step, mode, refusal) and refusal is not None:
            return refusal.response
    return None
