"""chat.qwen.ai as a website bridge (reference website-bridges.md §3).

A guest opens ``/c/guest``; the site's own SPA mints the Baxia anti-bot headers, creates the
chat and posts ``/api/v2/chat/completions?chat_id=...`` itself, so this module only says where
things are (constants first: they are a snapshot of a site that changes several times a
year), how to read the answer's stream (:class:`QwenParser`) and what an answer that is not a
stream means (:func:`classify`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bridges.site import (
    Challenge,
    Find,
    Problem,
    ProblemKind,
    Sign,
    SiteProblem,
    SiteSpec,
    Stop,
)
from daemon.adapters.sse import SseParser
from daemon.adapters.types import (
    Event,
    Finish,
    ReasoningDelta,
    TextDelta,
    Usage,
    UsageEvent,
    empty_usage,
)

# --- where things are --------------------------------------------------------------------------

DEFAULT_URL = "https://chat.qwen.ai"
START_PATH = "/c/guest"
CONVERSATION_PATH = "/c/{id}"
COMPLETION_URL = r"/api/v2/chat/completions\?chat_id="  # (not .../stop)
CONVERSATION = re.compile(r"/c/([^/?#]+)")
GUEST_CHAT = "guest"  # /c/guest is the new chat, not a conversation

# The prompt box, then what is left of it when the class names are hashed in a new build.
INPUT = (
    "div.message-input-container-area > textarea.message-input-textarea",
    "textarea.message-input-textarea",
    "textarea",
    "[contenteditable=true][role=textbox]",
)
# Only shown once text is typed, and gone in some builds: Enter is the way to send.
SEND = (
    "div.chat-prompt-send-button > button.send-button",
    "button#send-message-button",
    "button[aria-label*=send i]",
)
STOP_BUTTONS = ("button.stop-button[aria-label=Stop]", "button[aria-label*=stop i]")
MODEL_OPENER = "div.mode-select-open, [class*=mode_select_open], [class*=mode-select-open]"
MODEL_OPTION = 'li[data-model-id="{model}"]'
SLIDER_ACTION = (
    "drag the slider of the site's security check (bridges.open shows the page in a window)"
)
WAF_ACTION = "pass the site's verification page (bridges.open shows the page in a window)"
# The WAF's visible slider is what is left once the page's own JS challenge failed: a person's.
CHALLENGES = (Challenge("#WAF_NC_WRAPPER", WAF_ACTION),)
# Baxia's slider shows for stale anti-bot tokens too (at chat creation, say), and a fresh page
# mints new ones: worth one reload before a person is asked.
SLIDER = Problem(
    ProblemKind.CHALLENGE,
    "the site's anti-bot check (Baxia) wants the slider dragged",
    reload_helps=True,
    action=SLIDER_ACTION,
)
RATE_BACK_OFF_MS = 60_000  # the site limits per minute
BUSY_BACK_OFF_MS = 5_000  # an earlier answer of the chat is still running
# What the edge serves instead of the app when it refuses every page (a gateway error page, an
# error envelope shown as text); never inside the app, so never inside an answer either.
EDGE_ERROR = "body > center > h1"
EDGE_ENVELOPE = "body > pre"


def _every_page(find: Find, kind: ProblemKind, what: str) -> Sign:
    back_off = RATE_BACK_OFF_MS if kind is ProblemKind.RATE_LIMITED else None
    problem = Problem(kind, f"the site answers every page with {what}", retry_after_ms=back_off)
    return Sign(find, problem)


SIGNS = (
    Sign("div.baxia-dialog iframe#baxia-dialog-content", SLIDER),
    _every_page(Find(EDGE_ERROR, r"^429\b"), ProblemKind.RATE_LIMITED, "HTTP 429"),
    _every_page(Find(EDGE_ERROR, r"^[45]\d\d\b"), ProblemKind.UNAVAILABLE, "an HTTP error"),
    _every_page(
        Find(EDGE_ENVELOPE, r'"code":\s*"(RateLimited|Too_Many_Requests)"'),
        ProblemKind.RATE_LIMITED,
        "a rate limit",
    ),
    _every_page(Find(EDGE_ENVELOPE, r'"success":\s*false'), ProblemKind.UNAVAILABLE, "an error"),
)
LOGIN_WALLS = (".login-modal",)
POPUPS = (Find(".ant-modal button, [role=dialog] button", text=r"keep session|保持会话"),)
MODELS_SCRIPT = """fetch("/api/models", {credentials: "include"}).then((r) => r.json())
  .then((d) => (d.data || []).filter((m) => m.info && m.info.is_visitor_active)
  .map((m) => m.id))"""

# --- what the site answers ---------------------------------------------------------------------

ANSWER_PHASES = frozenset({"answer", "image_gen", "image"})  # the last one ends with "finished"
THINK_PHASE = "think"  # older builds: reasoning as content
SUMMARY_PHASE = "thinking_summary"  # reasoning in extra.summary_thought.content[]
FINISHED = "finished"
DONE = b"[DONE]"
SSE_FIELDS = (b"data:", b":", b"event:", b"id:", b"retry:")
PUNISH_MARKERS = ("FAIL_SYS_USER_VALIDATE", "RGV587", "_____tmd_____/punish", '"rgv587')
WAF_MARKERS = ("aliyun_waf_aa", "aliyun_waf_bb", "acw_sc__v2", "alicfw", "WAF_NC_WRAPPER")
WAF_JSON_MARKER = '"requestInfo"'
IN_PROGRESS = re.compile(r"in progress", re.IGNORECASE)
HEAD_CHARS = 4096  # of a non-stream answer, what is read to classify it
SUMMARY_JOIN = "\n\n"


# --- the stream --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Text:
    """One phase's text as the stream gives it: deltas, or (a quirk seen on the site) the whole
    text so far in every frame. Which of the two is decided by the second piece: all of the
    first and more means whole texts."""

    seen: str = ""
    whole: bool | None = None

    def fresh(self, content: str) -> str:
        """What ``content`` adds to the text."""
        if not content:
            return ""
        if self.whole is None and self.seen:
            self.whole = len(content) > len(self.seen) and content.startswith(self.seen)
        if self.whole and content.startswith(self.seen):
            added, self.seen = content[len(self.seen) :], content
            return added
        self.seen += content
        return content


@dataclass(slots=True)
class _Summary:
    """The thinking summary: every frame carries all of it so far."""

    seen: str = ""

    def fresh(self, text: str) -> str:
        if text.startswith(self.seen):
            added, self.seen = text[len(self.seen) :], text
            return added
        if self.seen.startswith(text):
            return ""  # a shorter copy of what was said
        self.seen = text  # rewritten: say it again rather than lose it
        return SUMMARY_JOIN + text


class QwenParser:
    """The completion stream: ``response.created``, ``response.info`` keep-alives, then
    ``choices[0].delta`` frames by phase (thinking summary, think, answer) with a growing
    ``usage``; the answer's ``status: "finished"`` frame ends it (``[DONE]`` too, if sent)."""

    def __init__(self) -> None:
        self._sse = SseParser()
        self.done = False
        self._answer = _Text()
        self._think = _Text()
        self._summary = _Summary()
        self._usage: Usage | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        events: list[Event] = []
        for sse in self._sse.feed(chunk):
            if self.done:
                break
            events += self._frame(sse.data.strip())
        return events

    def close(self) -> list[Event]:
        events = self.feed(b"\n\n")  # a last frame without its blank line
        if not self.done:
            raise SiteProblem(
                Problem(ProblemKind.TRUNCATED, "the answer ended before its finished frame")
            )
        return events

    def _frame(self, data: bytes) -> list[Event]:
        if data == DONE:
            return self._end()
        try:
            frame = json.loads(data)
        except ValueError:
            return []  # a broken frame: the site's own page skips it too
        if not isinstance(frame, dict):
            return []
        if isinstance(frame.get("error"), dict):
            raise SiteProblem(_coded(_fields(frame["error"]), 200))
        if frame.get("data_inspection_failed"):
            raise SiteProblem(Problem(ProblemKind.REFUSED, "the site's content check refused it"))
        if isinstance(frame.get("usage"), dict):
            self._usage = _usage(frame["usage"])
        delta = _delta(frame)
        if delta is None or delta.get("role", "assistant") != "assistant":
            return []  # response.created/info, Baxia's side lines, the prompt echoed
        events = self._content(delta)
        if delta.get("status") == FINISHED and delta.get("phase", "answer") in ANSWER_PHASES:
            events += self._end()
        return events

    def _content(self, delta: dict[str, Any]) -> list[Event]:
        phase, content = delta.get("phase", "answer"), str(delta.get("content") or "")
        if phase in ANSWER_PHASES:
            text = self._answer.fresh(content)
            return [TextDelta(text)] if text else []
        if phase == THINK_PHASE:
            text = self._think.fresh(content)
        elif phase == SUMMARY_PHASE:
            text = self._summary.fresh(_summary_text(delta.get("extra")))
        else:
            return []  # search, tools: nothing to say
        return [ReasoningDelta(text)] if text else []

    def _end(self) -> list[Event]:
        if not (self._answer.seen or self._think.seen or self._summary.seen):
            # What a guest gets for a model it may not use (or a silent anti-bot flag).
            raise SiteProblem(
                Problem(ProblemKind.MODEL_REFUSED, "the site answered nothing for this model")
            )
        self.done = True
        usage = [UsageEvent(self._usage)] if self._usage is not None else []
        return [*usage, Finish("stop")]


def _delta(frame: dict[str, Any]) -> dict[str, Any] | None:
    choices = frame.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    delta = choices[0].get("delta")
    return delta if isinstance(delta, dict) else None


def _summary_text(extra: Any) -> str:
    thought = extra.get("summary_thought") if isinstance(extra, dict) else None
    lines = thought.get("content") if isinstance(thought, dict) else None
    return SUMMARY_JOIN.join(str(line) for line in lines) if isinstance(lines, list) else ""


def _number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _usage(raw: dict[str, Any]) -> Usage:
    usage = empty_usage()
    usage["inputTokens"] = _number(raw.get("input_tokens"))
    usage["outputTokens"] = _number(raw.get("output_tokens"))
    output = raw.get("output_tokens_details")
    prompt = raw.get("prompt_tokens_details")
    if isinstance(output, dict):
        usage["reasoningTokens"] = _number(output.get("reasoning_tokens"))
    if isinstance(prompt, dict):
        usage["cacheReadTokens"] = _number(prompt.get("cached_tokens"))
    return usage


# --- answers that are not a stream -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Said:
    """What an error answer says: its code and details (``{"success": false, "data": {...}}``
    or ``{"error": {...}}``)."""

    code: str
    details: str


def _fields(error: dict[str, Any]) -> _Said:
    details = error.get("details") or error.get("detail") or error.get("message") or ""
    return _Said(str(error.get("code") or ""), str(details)[:300])


def _bad_request(said: _Said, status: int) -> Problem:
    if IN_PROGRESS.search(said.details):
        detail = f"the site is still answering in this chat ({said.details})"
        return Problem(
            ProblemKind.RATE_LIMITED, detail, reload_helps=True, retry_after_ms=BUSY_BACK_OFF_MS
        )
    detail = f"the site refused the page's request as malformed ({said.details})"
    return Problem(ProblemKind.CHANGED, detail, reload_helps=True)


def _rate_limited(said: _Said, status: int) -> Problem:
    detail = f"the site says slow down ({said.details or said.code})"
    return Problem(ProblemKind.RATE_LIMITED, detail, retry_after_ms=RATE_BACK_OFF_MS)


def _forbidden(said: _Said, status: int) -> Problem:
    if status != 200:  # the edge refusing us, not the model refusing a guest
        return _by_status(status, said.details)
    detail = f"the site does not offer this model to a guest ({said.details})"
    return Problem(ProblemKind.MODEL_REFUSED, detail)


def _unauthorized(said: _Said, status: int) -> Problem:
    detail = f"the site no longer takes this guest session ({said.details or said.code})"
    return Problem(ProblemKind.SESSION, detail, reload_helps=True)


def _too_long(said: _Said, status: int) -> Problem:
    return Problem(ProblemKind.REFUSED, f"the conversation is too long ({said.details})")


CODES: Mapping[str, Callable[[_Said, int], Problem]] = {
    "bad_request": _bad_request,
    "ratelimited": _rate_limited,
    "too_many_requests": _rate_limited,
    "forbidden": _forbidden,
    "unauthorized": _unauthorized,
    "contextlengthexceeded": _too_long,
}


def _coded(said: _Said, status: int) -> Problem:
    """The problem an error code stands for; an unknown code is a refusal."""
    rule = CODES.get(said.code.lower())
    if rule is not None:
        return rule(said, status)
    if status >= 400:
        return _by_status(status, said.details)
    return Problem(ProblemKind.REFUSED, f"the site refused it: {said.code} {said.details}".strip())


def _by_status(status: int, said: str = "") -> Problem:
    detail = f"the site answered HTTP {status}" + (f" ({said})" if said else "")
    if status == 401:
        return Problem(ProblemKind.SESSION, detail, reload_helps=True)
    if status == 429:
        return Problem(ProblemKind.RATE_LIMITED, detail, retry_after_ms=RATE_BACK_OFF_MS)
    if status == 403 or status >= 500:
        return Problem(ProblemKind.UNAVAILABLE, detail)
    return Problem(ProblemKind.REFUSED, detail)


def _envelope(text: str, status: int) -> Problem | None:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("error"), dict):
        return _coded(_fields(body["error"]), status)
    data = body.get("data")
    if body.get("success") is False and isinstance(data, dict):
        return _coded(_fields(data), status)
    if status >= 400:
        return _by_status(status, str(body.get("detail") or "")[:300])
    return None


def _is_stream(content_type: str, body: bytes) -> bool:
    if body.startswith((b"{", b"[", b"<")):
        return False
    if "event-stream" in content_type or body.startswith(SSE_FIELDS):
        return True
    return bool(body) and any(name.startswith(body) for name in SSE_FIELDS)  # (cut short)


def classify(status: int, content_type: str, head: bytes) -> Problem | None:
    """What a completion response that is not an answer stream means (None: it is one).
    Whatever the content type says, a body that reads as SSE is a stream."""
    body = head.lstrip()
    if status < 400 and _is_stream(content_type, body):
        return None
    text = body[:HEAD_CHARS].decode("utf-8", "replace")
    if any(marker in text for marker in PUNISH_MARKERS):
        return SLIDER
    if any(marker in text for marker in WAF_MARKERS) or WAF_JSON_MARKER in text:
        # The JS challenge a page load runs by itself; one that persists wants a person.
        detail = "the site's firewall (Aliyun WAF) answered with a challenge"
        return Problem(ProblemKind.CHALLENGE, detail, reload_helps=True, action=WAF_ACTION)
    problem = _envelope(text, status)
    if problem is not None:
        return problem
    if status >= 400:
        return _by_status(status)
    kind = content_type.split(";")[0].strip() or "nothing"
    return Problem(ProblemKind.CHANGED, f"expected an event stream, the site answered {kind}")


def conversation_id(url: str) -> str | None:
    """The chat a page shows (/c/<id>); None on the new-chat page."""
    match = CONVERSATION.search(url)
    return match.group(1) if match and match.group(1) != GUEST_CHAT else None


SPEC = SiteSpec(
    name="qwen",
    default_url=DEFAULT_URL,
    start_path=START_PATH,
    conversation_path=CONVERSATION_PATH,
    completion_url=COMPLETION_URL,
    input=INPUT,
    parser=QwenParser,
    classify=classify,
    conversation_id=conversation_id,
    models_script=MODELS_SCRIPT,
    send=SEND,
    challenges=CHALLENGES,
    login_walls=LOGIN_WALLS,
    signs=SIGNS,
    popups=POPUPS,
    stop=Stop(buttons=STOP_BUTTONS),
    model_picker=(MODEL_OPENER, MODEL_OPTION),
)
