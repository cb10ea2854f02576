"""The ``/api/...`` routes of the mock chat.qwen.ai (reference §5.3 "API routes").

Requests outside ``/__mock__/`` are recorded by the common middleware (``request[RECORD]``);
the handlers note each validation step's verdict there.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.sites.common import (
    RECORD,
    Outcome,
    Recorded,
    StepMode,
    StreamPlan,
    Verdict,
    send_frames,
)
from tests.fakes.sites.qwen import pipeline, stream, wire
from tests.fakes.sites.qwen.config import Step
from tests.fakes.sites.qwen.scenarios import Malformed, QwenScenario
from tests.fakes.sites.qwen.state import Live, QwenState

JSON = wire.JSON
STATE = web.AppKey("qwen_state", QwenState)


def state_of(request: web.Request) -> QwenState:
    """The mock's state."""
    return request.app[STATE]


def _body(rec: Recorded) -> JSON:
    return rec.body if isinstance(rec.body, dict) else {}


async def models(request: web.Request) -> web.Response:
    """``GET /api/models``: ``{"data":[…]}``, no credentials needed."""
    return wire.api_json({"data": [m.wire() for m in state_of(request).config.models]})


async def models_v2(request: web.Request) -> web.Response:
    """``GET /api/v2/models``: the same list in the ``success`` envelope."""
    data = [m.wire() for m in state_of(request).config.models]
    return wire.api_json(wire.success({"data": data}))


async def auths(request: web.Request) -> web.Response:
    """``GET /api/v1/auths/``: a guest is not authenticated."""
    return wire.api_json({"detail": "Not authenticated"}, status=401, actual=401)


async def configs(request: web.Request) -> web.Response:
    """``GET /api/v2/configs/`` and ``…/setting-config``: public flags."""
    spa = state_of(request).config.spa_version
    return wire.api_json(wire.success({"enable_guest": True, "locale": "en-US", "version": spa}))


async def user_status(request: web.Request) -> web.Response:
    """``POST /api/v2/users/status``: a guest has no account."""
    return wire.api_json(wire.success({"status": "guest"}))


async def chats_new(request: web.Request) -> web.StreamResponse:
    """``POST /api/v2/chats/new``: Baxia tokens, headers, then the guest/normal rules."""
    state, rec = state_of(request), request[RECORD]
    rid = request.headers.get("x-request-id")
    refused = pipeline.baxia_refusal(state, request, forced=None)
    if pipeline.judged(rec, Step.BAXIA, state.mode(Step.BAXIA), refused) and refused:
        return refused.response
    problem = pipeline.headers_problem(request)
    if rec.check(Step.HEADERS, problem is None, state.mode(Step.HEADERS), problem or ""):
        return pipeline.bad_request(rid)
    body = _body(rec)
    mode, chosen = body.get("chat_mode"), body.get("models")
    if mode == "normal" and not request.headers.get("authorization"):
        rec.check(Step.MODE, False, StepMode.STRICT, "normal chat without Authorization")
        refusal = wire.failure("Unauthorized", "Please sign in to chat in normal mode.")
        return wire.api_json(refusal, actual=401, rid=rid)
    model_id = str(chosen[0]) if isinstance(chosen, list) and chosen else ""
    ok = mode == "guest" or mode == "normal"
    ok = ok and state.config.model(model_id) is not None
    if rec.check(Step.MODE, ok, state.mode(Step.MODE), f"chat_mode {mode!r}, models {chosen!r}"):
        return pipeline.bad_request(rid)
    made = state.new_chat(str(uuid.uuid4()), model_id, str(mode))
    return wire.api_json(wire.success({"id": made.id}), rid=rid)


async def completions(request: web.Request) -> web.StreamResponse:
    """``POST /api/v2/chat/completions?chat_id=``: the pipeline, then the stream."""
    state, rec = state_of(request), request[RECORD]
    ask = pipeline.Ask(request, state, state.config, rec, _body(rec))
    refused = pipeline.validate(ask)
    if refused is not None:
        return refused
    return await _stream(ask)


async def _stream(ask: pipeline.Ask) -> web.StreamResponse:
    request, state = ask.request, ask.state
    chat_id = request.query.get("chat_id", "")
    take = state.scenarios.take
    bent = take(QwenScenario.MALFORMED_STREAM)
    variant = Malformed(bent.params["variant"]) if bent else None
    turn = _turn(ask, chat_id, variant, take(QwenScenario.CUMULATIVE_STREAM) is not None)
    plan = _plan(ask, variant)
    live = Live(chat_id, turn.response_id, request.remote or "?")
    state.book.live[chat_id] = live
    if ask.chat is not None:
        ask.chat.responses.append(turn.response_id)
    html = state.config.content_type_html or variant is Malformed.HTML_CONTENT_TYPE
    response = web.StreamResponse(
        headers={
            "Content-Type": wire.HTML_TYPE if html else wire.SSE_TYPE,
            "Cache-Control": "no-cache",
            "Access-Control-Allow-Origin": request.headers.get("origin", "*"),
        }
    )
    wire.api_headers(response, actual=200, rid=ask.rid)
    response.enable_chunked_encoding()
    frames = stream.Stoppable(stream.plan(turn), live)
    try:
        await response.prepare(request)
        if await send_frames(request, response, frames, plan, live.stop):
            await response.write_eof()
        ask.rec.verdicts.append(Verdict("stream", Outcome.PASS, _ending(turn, frames)))
    except ConnectionError:
        ask.rec.end = "disconnected"
    finally:
        if state.book.live.get(chat_id) is live:
            del state.book.live[chat_id]
    return response


def _ending(turn: stream.Turn, frames: stream.Stoppable) -> str:
    if frames.stopped:
        return "stopped"
    if turn.rate_limited:
        return "rate_limited"
    return "empty" if turn.empty else "answered"


def _turn(
    ask: pipeline.Ask, chat_id: str, variant: Malformed | None, cumulative: bool
) -> stream.Turn:
    config, body = ask.config, ask.body
    message: JSON = body["messages"][-1] if body.get("messages") else {}
    features: JSON = message.get("feature_config") or {}
    return stream.Turn(
        chat_id=chat_id,
        parent_id=str(message.get("fid") or uuid.uuid4()),
        response_id=str(uuid.uuid4()),
        prompt=str(message.get("content", "")),
        timestamp=int(time.time()),
        thinking=bool(features.get("thinking_enabled")),
        empty=ask.empty,
        cumulative=cumulative or not config.incremental,
        legacy_think=config.legacy_think_phase,
        keep_alives=config.keep_alive_frames,
        chunk_chars=config.chunk_chars,
        done_sentinel=config.emit_done_sentinel,
        variant=variant,
        rate_limited=ask.rate_limited_sse,
    )


def _plan(ask: pipeline.Ask, variant: Malformed | None) -> StreamPlan:
    take = ask.state.scenarios.take
    stall, abort = take(QwenScenario.STALL), take(QwenScenario.ABORT)
    overrides: dict[str, Any] = {}
    if variant is Malformed.SPLIT_UTF8:
        overrides.update(split=True, split_utf8=True)
    if stall is not None:
        overrides.update(
            stall_after=stall.params["after_frames"], stall_s=stall.params["ms"] / 1000
        )
    if abort is not None:
        overrides.update(abort_after=abort.params["after_frames"])
    return StreamPlan.of(ask.config, **overrides)


async def stop(request: web.Request) -> web.Response:
    """``POST /api/v2/chat/completions/stop {chat_id, response_id}``: ends that stream with
    a finished frame; ``data.status`` says whether one was running."""
    state, rec = state_of(request), request[RECORD]
    body = _body(rec)
    live = state.book.live.get(str(body.get("chat_id", "")))
    wanted = body.get("response_id")
    found = live is not None and wanted in (None, live.response_id)
    if live is not None and found:
        live.stop.set()
    rec.check("stop", found, StepMode.WARN, "no such stream in flight")
    return wire.api_json(wire.success({"status": found}), rid=request.headers.get("x-request-id"))


async def legacy(request: web.Request) -> web.Response:
    """``POST /api/chat/completions``: the retired v1 path answers a 504 gateway page."""
    return wire.gateway_page(504, "Gateway Time-out")


def routes() -> list[web.RouteDef]:
    """The API routes."""
    return [
        web.get("/api/models", models),
        web.get("/api/v2/models", models_v2),
        web.get("/api/v1/auths/", auths),
        web.get("/api/v2/configs/", configs),
        web.get("/api/v2/configs/setting-config", configs),
        web.post("/api/v2/users/status", user_status),
        web.post("/api/v2/chats/new", chats_new),
        web.post("/api/v2/chat/completions", completions),
        web.post("/api/v2/chat/completions/stop", stop),
        web.post("/api/chat/completions", legacy),
    ]
