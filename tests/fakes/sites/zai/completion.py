"""``POST /api/v2/chat/completions``: the validation pipeline of reference §5.2, then the stream.

Each step records its verdict on the request (``/__mock__/requests``) and, when it refuses,
answers the way the real site does: WAF 405 HTML, 401/426/400/404/429 JSON ``{"detail"}``, or an
HTTP 200 SSE error frame (model, captcha). A scenario forces its step's refusal whatever the
step's mode.
"""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web

from tests.fakes.sites.common import RECORD, Recorded, StepMode, StreamPlan, send_frames
from tests.fakes.sites.zai.config import HTTP_SCENARIOS, ROTATED_KEY, Step, ZaiScenario
from tests.fakes.sites.zai.state import Chat, Guest, ZaiState
from tests.fakes.sites.zai.stream import AnswerSpec, completion_frames
from tests.fakes.sites.zai.wire import (
    FINGERPRINT_KEYS,
    REQUIRED_KEYS,
    SESSION_EXPIRED,
    SIGNATURE_FAILED,
    STALE_CLIENT,
    USER_LEVEL,
    captcha_error,
    error_frame,
    signature,
    waf_page,
)

SSE_TYPE = "text/event-stream; charset=utf-8"
GATEWAY_HTML = "<html><head><title>{0}</title></head><body><h1>{0}</h1><hr>ESA</body></html>"
DEVICE_ID = re.compile(r"uid_[A-Za-z0-9]{16}")


@dataclass(slots=True)
class Turn:
    """One completion request as the pipeline sees it."""

    request: web.Request
    rec: Recorded
    body: dict[str, Any]
    guest: Guest | None = None
    chat: Chat | None = None

    @property
    def prompt(self) -> str:
        """The signed prompt (``signature_prompt``, else the last message's text)."""
        signed = self.body.get("signature_prompt")
        if isinstance(signed, str):
            return signed
        messages = self.body.get("messages") or [{}]
        return str(messages[-1].get("content", ""))

    def header(self, name: str) -> str:
        return self.request.headers.get(name, "")

    def param(self, name: str) -> str:
        return self.request.query.get(name, "")


def waf_response(state: ZaiState) -> web.Response:
    """The Aliyun WAF block (§2.8)."""
    state.counters["waf_blocks"] += 1
    return web.Response(status=405, text=waf_page(uuid.uuid4().hex), content_type="text/html")


def detail(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"detail": text}, status=status, headers=headers)


def sse_error(error: dict[str, Any], *, nested: bool = False) -> web.Response:
    return web.Response(body=error_frame(error, nested=nested), headers={"Content-Type": SSE_TYPE})


class Completions:
    """The handler and its steps, over the site's state."""

    def __init__(self, state: ZaiState) -> None:
        self.state = state
        self.steps: tuple[Callable[[Turn], web.Response | None], ...] = (
            self.forced_status,
            self.waf,
            self.auth,
            self.query,
            self.signature,
            self.chat,
            self.history,
            self.model,
            self.captcha,
            self.rate,
        )

    def _take(self, *names: ZaiScenario) -> str | None:
        scenario = self.state.scenarios.take(*names)
        return None if scenario is None else scenario.name

    def _check(
        self, turn: Turn, step: Step, ok: bool, detail_text: str, forced: bool = False
    ) -> bool:
        mode = StepMode.STRICT if forced else self.state.mode(step)
        return turn.rec.check(step, ok and not forced, mode, detail_text)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        rec = request[RECORD]
        body = rec.body if isinstance(rec.body, dict) else {}
        turn = Turn(request, rec, body)
        for step in self.steps:
            refusal = step(turn)
            if refusal is not None:
                return refusal
        return await self.stream(turn)

    def forced_status(self, turn: Turn) -> web.Response | None:
        scenario = self.state.scenarios.take(*HTTP_SCENARIOS)
        if scenario is None:
            return None
        status = HTTP_SCENARIOS[ZaiScenario(scenario.name)]
        turn.rec.check(Step.SCENARIO, False, StepMode.STRICT, scenario.name)
        phrase = HTTPStatus(status).phrase
        if scenario.param("html", status in (502, 503)):
            page = GATEWAY_HTML.format(f"{status} {phrase}")
            return web.Response(status=status, text=page, content_type="text/html")
        return detail(status, str(scenario.param("detail", phrase)))

    def waf(self, turn: Turn) -> web.Response | None:
        config = self.state.config
        forced = self._take(ZaiScenario.WAF_BLOCK) is not None
        build = turn.header("X-FE-Version")
        fresh = build == config.fe_version or not config.waf_on_stale_fe
        why = (
            "waf_block scenario" if forced else f"X-FE-Version {build!r} is not {config.fe_version}"
        )
        if not self._check(turn, Step.WAF, fresh, why, forced):
            return None
        if not forced and config.stale_fe_mode == "426":
            return detail(426, STALE_CLIENT)
        return waf_response(self.state)

    def auth(self, turn: Turn) -> web.Response | None:
        bearer = turn.header("Authorization").removeprefix("Bearer ").strip()
        turn.guest = self.state.guest(bearer or turn.param("token"))
        if self._check(turn, Step.AUTH, turn.guest is not None, "unknown or expired token"):
            return detail(401, SESSION_EXPIRED)
        return None

    def query(self, turn: Turn) -> web.Response | None:
        config, query = self.state.config, turn.request.query
        required = FINGERPRINT_KEYS if config.strict_fingerprint else REQUIRED_KEYS
        problems = [f"missing {k}" for k in required if k not in query]
        if turn.guest is not None and turn.param("user_id") != turn.guest.id:
            problems.append("user_id is not the token's id")
        if turn.param("signature_timestamp") != turn.param("timestamp"):
            problems.append("signature_timestamp differs from timestamp")
        if config.require_device_id and not DEVICE_ID.fullmatch(turn.header("X-Device-Id")):
            problems.append(f"X-Device-Id {turn.header('X-Device-Id')!r} is not uid_<16>")
        if self._check(turn, Step.QUERY, not problems, "; ".join(problems)):
            return detail(426, STALE_CLIENT)
        return None

    def signature(self, turn: Turn) -> web.Response | None:
        config = self.state.config
        forced = self._take(ZaiScenario.SIGNATURE_MISMATCH) is not None
        sent = turn.header("X-Signature")
        if not sent:
            refused = self._check(turn, Step.SIGNATURE, False, "no X-Signature")
            return detail(426, STALE_CLIENT) if refused else None
        ts = turn.param("timestamp")
        skew = abs(self.state.clock.now_ms() - int(ts)) if ts.isdigit() else None
        key = ROTATED_KEY if forced else config.signature_key
        prompts = (
            {turn.prompt, turn.prompt.strip()} if config.sig_accept_stripped else {turn.prompt}
        )
        ids = (turn.param("requestId"), ts, turn.param("user_id"))
        good = any(hmac.compare_digest(signature(*ids, p, key), sent) for p in prompts)
        in_window = skew is not None and skew <= config.sig_window_s * 1000
        why = "signature mismatch" if not good else f"timestamp {skew} ms from server time"
        if self._check(turn, Step.SIGNATURE, good and in_window, why, forced):
            return detail(400, SIGNATURE_FAILED)
        return None

    def chat(self, turn: Turn) -> web.Response | None:
        chat = self.state.book.chats.get(str(turn.body.get("chat_id")))
        mine = chat is not None and (turn.guest is None or chat.user_id == turn.guest.id)
        if self._check(turn, Step.CHAT, mine, f"no chat {turn.body.get('chat_id')!r} of this user"):
            return detail(404, "Chat not found")
        turn.chat = chat if mine else None
        return None

    def history(self, turn: Turn) -> web.Response | None:
        if turn.chat is None:
            return None
        expected = turn.chat.last_assistant()
        parent = turn.body.get("current_user_message_parent_id")
        problems = [] if parent == expected else [f"parent {parent!r}, expected {expected!r}"]
        for key in ("id", "current_user_message_id"):
            node = turn.chat.messages.get(str(turn.body.get(key)))
            if not turn.body.get(key) or (node is not None and node.get("role") == "assistant"):
                problems.append(f"{key} is missing or names an existing answer")
        if self._check(turn, Step.HISTORY, not problems, "; ".join(problems)):
            return detail(400, "Invalid message parent")
        return None

    def model(self, turn: Turn) -> web.Response | None:
        forced = self._take(ZaiScenario.MODEL_FORBIDDEN) is not None
        model = self.state.config.model(str(turn.body.get("model")))
        why = "model_forbidden scenario" if forced else f"model {turn.body.get('model')!r}"
        if not self._check(turn, Step.MODEL, model is not None and model.guest, why, forced):
            return None
        if model is None and not forced:
            return sse_error({"code": "MODEL_NOT_FOUND", "detail": "Model not found"})
        return sse_error({"code": 403, "detail": USER_LEVEL})

    def captcha(self, turn: Turn) -> web.Response | None:
        if not self.state.config.enable_captcha:
            turn.rec.check(Step.CAPTCHA, True, StepMode.OFF)
            return None
        forced = self._take(ZaiScenario.CAPTCHA_MISSING, ZaiScenario.CAPTCHA_INVALID)
        param = turn.body.get("captcha_verify_param")
        if forced is not None:
            kind = "missing_param" if forced == ZaiScenario.CAPTCHA_MISSING else "verify_failed"
            why = f"{forced} scenario"
        elif not isinstance(param, str) or not param:
            kind, why = "missing_param", "no captcha_verify_param"
        elif self.state.mode(Step.CAPTCHA) is StepMode.OFF:
            kind, why = "", ""
        else:
            origin = f"{turn.request.scheme}://{turn.request.host}"
            why = self.state.spend_captcha(param, origin) or ""
            kind = "verify_failed" if why else ""
        if self._check(turn, Step.CAPTCHA, not kind, why, forced is not None):
            return sse_error(captcha_error(kind), nested=True)
        return None

    def rate(self, turn: Turn) -> web.Response | None:
        config, address = self.state.config, turn.request.remote or ""
        per_minute, in_window = self.state.note_completion(address)
        user = turn.guest.id if turn.guest is not None else ""
        if config.ip_block_after is not None and in_window > config.ip_block_after:
            self.state.block(address)
            if self._check(turn, Step.RATE, False, f"{in_window} completions: address blocked"):
                return waf_response(self.state)
        forced = self.state.scenarios.take(ZaiScenario.RATE_LIMITED)
        busy = self.state.book.inflight[user] >= config.max_inflight_per_user
        flood = config.rpm_per_ip is not None and per_minute > config.rpm_per_ip
        why = "rate_limited scenario" if forced else "concurrent stream" if busy else "rpm"
        if not self._check(turn, Step.RATE, not (busy or flood), why, forced is not None):
            return None
        headers = {}
        if forced is not None and forced.param("retry_after_s", None) is not None:
            headers["Retry-After"] = str(forced.param("retry_after_s", 0))
        text = "Too many concurrent requests" if busy and forced is None else "Too Many Requests"
        return detail(429, text, headers)

    def _remember(self, turn: Turn, answer_model: str) -> None:
        if turn.chat is None:
            return
        now, user_id = int(self.state.clock.now()), str(turn.body.get("current_user_message_id"))
        messages = turn.body.get("messages") or [{}]
        user = {
            "id": user_id,
            "parentId": turn.body.get("current_user_message_parent_id"),
            "childrenIds": [],
            "role": "user",
            "content": str(messages[-1].get("content", turn.prompt)),
            "timestamp": now,
            "models": [answer_model],
        }
        assistant = {
            "id": str(turn.body.get("id")),
            "parentId": user_id,
            "childrenIds": [],
            "role": "assistant",
            "content": "",
            "model": answer_model,
            "timestamp": now,
            "done": True,
        }
        turn.chat.add_turn(user, assistant)

    async def stream(self, turn: Turn) -> web.StreamResponse:
        state, config = self.state, self.state.config
        take = state.scenarios.take
        bent, stall, abort = (take(ZaiScenario.MALFORMED_STREAM), take(ZaiScenario.STALL),
                              take(ZaiScenario.ABORT))  # fmt: skip
        variant = None if bent is None else str(bent.param("variant", "missing_terminator"))
        features = turn.body.get("features") or {}
        spec = AnswerSpec(
            prompt=turn.prompt,
            thinking=bool(features.get("enable_thinking", False)),
            chunk_chars=config.chunk_chars,
            thinking_style=config.thinking_style,
            noise=config.noise_events,
            tool_calls=config.deep_search or bool(features.get("web_search")),
            done_sentinel=config.emit_done_sentinel,
            variant=variant,
        )
        overrides: dict[str, Any] = {"split_utf8": variant == "split_utf8"}
        if stall is not None:
            overrides.update(stall_after=stall.param("after_frames", 2))
            overrides.update(stall_s=stall.param("ms", 3_600_000) / 1000)
        if abort is not None:
            overrides.update(abort_after=abort.param("after_frames", 2))
        if variant == "split_utf8":
            overrides.update(split=True)
        content_type = "text/html; charset=utf-8" if variant == "html_content_type" else SSE_TYPE
        chat_id = turn.chat.id if turn.chat is not None else str(turn.body.get("chat_id"))
        response = web.StreamResponse(
            headers={
                "Content-Type": content_type,
                "Cache-Control": "no-cache",
                "X-Trace-ID": uuid.uuid4().hex,
                "X-Chat-Id": chat_id,
                "Access-Control-Expose-Headers": "X-Chat-Id, X-Trace-ID",
            }
        )
        response.enable_chunked_encoding()
        self._remember(turn, str(turn.body.get("model")))
        user = turn.guest.id if turn.guest is not None else ""
        state.book.inflight[user] += 1
        try:
            await response.prepare(turn.request)
            plan = StreamPlan.of(config, **overrides)
            if await send_frames(
                turn.request, response, completion_frames(spec), plan, state.interrupt
            ):
                await response.write_eof()
        except ConnectionError:
            turn.rec.end = "disconnected"
        finally:
            state.book.inflight[user] -= 1
        return response
