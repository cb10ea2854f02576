"""chat.z.ai as a website bridge (reference website-bridges.md §2).

The site's own SPA mints the guest session, creates the chat, gets the Aliyun captcha token,
signs ``/api/v2/chat/completions`` and sends it; this module only says where things are
(constants first: a snapshot of a site that changes several times a year), how to read the
answer's stream (:class:`ZaiParser`) and what a response that is not one means
(:func:`classify`). Problems the tap cannot see (a block page instead of the app, an error toast
for a request made before the completion) are :data:`SIGNS` on the page.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bridges.site import Challenge, Find, Problem, ProblemKind, Sign, SiteProblem, SiteSpec, Stop
from daemon.adapters.sse import SseParser
from daemon.adapters.types import Event, Finish, ReasoningDelta, TextDelta, UsageEvent, empty_usage

# --- where things are --------------------------------------------------------------------------

DEFAULT_URL = "https://chat.z.ai"
START_PATH = "/"
CONVERSATION_PATH = "/c/{id}"
MODEL_PATH = "/?model={model}"  # the SPA preselects a model by id or display name
COMPLETION_URL = r"/api/v2/chat/completions(?:\?|$)"  # (the pre-Oct-2025 /api/chat/... is gone)
CONVERSATION = re.compile(r"^/c/([^/]+)$")

# The prompt box: a textarea today, a contenteditable in the next layout, then anything alike.
INPUT = (
    "textarea#chat-input",
    "#chat-input[contenteditable=true]",
    "[contenteditable=true][role=textbox]",
    "textarea",
)
SEND = ('[aria-label="Send Message" i] > button', "button#send-message-button")
STOP_BUTTONS = ("button#stop-response-button", 'button[aria-label="Stop" i]')
CAPTCHA_ACTION = (
    "tick the site's security verification box (bridges.open shows the page in a window)"
)
CHALLENGES = (
    Challenge("#aliyunCaptcha-window-popup.aliyunCaptcha-show", CAPTCHA_ACTION),
    Challenge(Find("[role=dialog]", text="security verification"), CAPTCHA_ACTION),
)
LOGIN_WALLS = ('form[aria-label="Sign in" i]', "input[type=password]")

WAF_BACKOFF_MS = 600_000  # an Aliyun WAF block lasts minutes; asking again only prolongs it
RATE_BACKOFF_MS = 30_000  # a 429 without Retry-After


@dataclass(frozen=True, slots=True)
class Meaning:
    """What one kind of refusal means: its problem, with the site's own words appended."""

    kind: ProblemKind
    says: str
    reload_helps: bool = False
    retry_after_ms: int | None = None
    action: str | None = None

    def __call__(self, detail: str = "") -> Problem:
        text = f"{self.says}: {detail}" if detail else self.says
        return Problem(self.kind, text, self.reload_helps, self.action, self.retry_after_ms)


# The firewall (a stale build also gets its 405: one reload may fix that).
WAF = Meaning(
    ProblemKind.RATE_LIMITED,
    "chat.z.ai's firewall (Aliyun WAF) blocked the request; back off for some minutes",
    reload_helps=True,
    retry_after_ms=WAF_BACKOFF_MS,
)
CAPTCHA = Meaning(  # a fresh page asks the widget for a fresh token
    ProblemKind.CHALLENGE, "chat.z.ai wants its security verification", True, action=CAPTCHA_ACTION
)
MODEL = Meaning(ProblemKind.MODEL_REFUSED, "chat.z.ai refuses this model to a guest")
SESSION = Meaning(ProblemKind.SESSION, "the chat.z.ai guest session is not valid", True)
STALE = Meaning(ProblemKind.SESSION, "the chat.z.ai page is out of date", True)
# The key lives in the site's script: a new build brings a new key, a reload the new build.
SIGNATURE = Meaning(ProblemKind.CHANGED, "chat.z.ai refused the page's request signature", True)
RATE = Meaning(ProblemKind.RATE_LIMITED, "chat.z.ai says slow down", retry_after_ms=RATE_BACKOFF_MS)
SHUT = Meaning(ProblemKind.UNAVAILABLE, "chat.z.ai is not serving this guest")
DOWN = Meaning(ProblemKind.UNAVAILABLE, "chat.z.ai is failing")
REFUSED = Meaning(ProblemKind.REFUSED, "chat.z.ai refused the request")
NO_CHAT = Meaning(ProblemKind.REFUSED, "chat.z.ai has no such conversation")
NOT_A_STREAM = Meaning(ProblemKind.CHANGED, "chat.z.ai answered the completion with no stream")

# What the page shows for refusals the tap does not see: the firewall's block page (its trace
# id sits in a hidden textarea#renderData), the toast the SPA shows when one of its requests got
# that page instead of JSON, the toast of a chat creation refused for an expired session, and
# an error with no prompt box (the app did not start: no guest session).
SIGNS = (
    Sign("body:has(#renderData)", dataclasses.replace(WAF(), reload_helps=False)),
    Sign(Find(".toast-error", text=r"not valid JSON|Unexpected token|SyntaxError"), WAF()),
    Sign(Find(".toast-error", text=r"session has expired|token is invalid"), SESSION()),
    Sign("body:not(:has(#chat-input)) .toast-error", SHUT("it refused a guest session")),
)
# Ready once the SPA holds a guest token and, on a conversation's page, shows its history; a
# conversation this guest does not have is said so (the SPA would quietly start a new chat).
READY_SCRIPT = """(() => {
  const toasts = [...document.querySelectorAll(".toast-error")];
  if (toasts.some((t) => /chat not found/i.test(t.innerText))) {
    return "chat.z.ai has no such conversation for this guest (the session that held it may "
      + "have expired): start a new one";
  }
  if (!localStorage.getItem("token")) return false;
  if (!/^\\/c\\//.test(location.pathname)) return true;
  return document.querySelector('[data-message-role="assistant"]') !== null;
})()"""
MODELS_SCRIPT = """fetch("/api/models").then((r) => r.json())
  .then((d) => (d.data || []).map((m) => m.id))"""

# --- what the site answers ---------------------------------------------------------------------

COMPLETION = "chat:completion"  # every other frame type (title, tags, heartbeat, ...) is noise
DONE_SENTINEL = b"[DONE]"  # may or may not follow the done frame: never a terminator
DETAILS_OPEN = re.compile(r"<details[^>]*>\n?")
SUMMARY = re.compile(r"<summary>.*?</summary>\n?", re.DOTALL)
DETAILS_CLOSE = "</details>"
QUOTED = re.compile(r"(^|\n)> ?")  # the legacy encoding's "> " before each reasoning line
DETAIL_LIMIT = 200
TITLE = re.compile(rb"<title>([^<]{1,100})</title>", re.IGNORECASE)
WAF_MARKS = (b"renderData", b"errors.aliyun.com", b"_waf_")


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 1] + "…"


# In-band error codes (an HTTP 200 stream's error frame).
ERROR_CODES: Mapping[str, Meaning] = {
    "FRONTEND_CAPTCHA_REQUIRED": CAPTCHA,
    "VERIFICATION_REQUIRED": CAPTCHA,
    "MODEL_NOT_FOUND": MODEL,
    "INVALID_TOKEN": SESSION,
    "401": SESSION,
    "426": STALE,
    "429": RATE,
    "IllegalUserTag": SHUT,
}
# What the site's words say, whatever the code or status.
ERROR_TEXTS: tuple[tuple[re.Pattern[str], Meaning], ...] = (
    (re.compile(r"user level", re.IGNORECASE), MODEL),
    (re.compile(r"concurren|too many requests|并发", re.IGNORECASE), RATE),
    (re.compile(r"signature|签名", re.IGNORECASE), SIGNATURE),
    (re.compile(r"客户端|new version|client check", re.IGNORECASE), STALE),
)
STATUSES: Mapping[int, Meaning] = {401: SESSION, 403: SHUT, 404: NO_CHAT, 426: STALE, 429: RATE}


def _by_text(detail: str) -> Meaning | None:
    return next((make for pattern, make in ERROR_TEXTS if pattern.search(detail)), None)


def error_problem(error: Mapping[str, Any]) -> Problem:
    """The problem an in-band error frame's ``error`` object stands for."""
    code = str(error.get("code") or "")
    kind = str(error.get("captcha_error_type") or "")
    detail = _clip(str(error.get("detail") or error.get("message") or code or "an error"))
    if kind:
        detail = f"{detail} ({kind})"
    return (ERROR_CODES.get(code) or _by_text(detail) or REFUSED)(detail)


def _body_detail(head: bytes) -> str:
    """The site's own words in an error body: JSON ``detail``/``message``, or an HTML title."""
    try:
        body = json.loads(head)
    except ValueError:
        title = TITLE.search(head)
        return title.group(1).decode(errors="replace").strip() if title else ""
    if isinstance(body, dict):
        error = body.get("error")
        found = body.get("detail") or body.get("message") or error
        if isinstance(found, dict):
            found = found.get("detail") or found.get("message") or found.get("code")
        return _clip(str(found)) if found else ""
    return ""


def classify(status: int, content_type: str, head: bytes) -> Problem | None:
    """What a completion response that is not an answer means (``head``: its first chunk).

    A body that reads as SSE is parsed whatever its content type (the page itself does not
    look at it); a 405 or an HTML page with the WAF's marks is the firewall.
    """
    start = head.lstrip()[:1]
    if status == 405 or (start == b"<" and any(mark in head for mark in WAF_MARKS)):
        return WAF(f"HTTP {status}")
    if 200 <= status < 300:
        if start == b"<":
            return NOT_A_STREAM(f"a web page ({content_type})")
        if start == b"{":
            return _json_instead(head)
        return None
    detail = _body_detail(head) or f"HTTP {status}"
    meaning = _by_text(detail) or STATUSES.get(status) or (DOWN if status >= 500 else REFUSED)
    return meaning(detail if detail.startswith("HTTP") else f"{detail} (HTTP {status})")


def _json_instead(head: bytes) -> Problem:
    try:
        body = json.loads(head)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return error_problem(error)
    return NOT_A_STREAM(f"JSON ({_body_detail(head) or 'no detail'})")


def conversation_id(url: str) -> str | None:
    """The chat id of a ``/c/<id>`` page."""
    match = CONVERSATION.match(urlsplit(url).path)
    return match.group(1) if match else None


def _count(value: Any, *path: str) -> int:
    """The whole number at ``path`` in ``value`` (0 when it is not one: a frame's numbers are
    the site's to get wrong, not a reason to fail an answer)."""
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _usage(raw: dict[str, Any]) -> UsageEvent:
    usage = empty_usage()
    usage["inputTokens"] = _count(raw, "prompt_tokens")
    usage["outputTokens"] = _count(raw, "completion_tokens")
    usage["cacheReadTokens"] = _count(raw, "prompt_tokens_details", "cached_tokens")
    usage["reasoningTokens"] = _count(raw, "completion_tokens_details", "reasoning_tokens")
    return UsageEvent(usage)


def _grown(before: str, after: str) -> str:
    """What ``after`` adds to ``before``. An edit that rewrote text already sent cannot be
    taken back, so only what lies past it goes out."""
    return after[len(before) :]


def legacy_split(raw: str) -> tuple[str, str]:
    """(reasoning, answer) of the 2025 encoding's accumulated text: reasoning inside
    ``<details type="reasoning">``, each line quoted with ``> ``, the answer after
    ``</details>``. What more text could still change (a tag half come, trailing blanks before
    the close) is held back."""
    close = raw.find(DETAILS_CLOSE)
    head = raw if close < 0 else raw[:close]
    inner = _inside_details(head)
    reasoning = ""
    if inner is not None:
        if close < 0:
            inner = _without_partial(inner, DETAILS_CLOSE)
        reasoning = QUOTED.sub(r"\1", inner).strip()
    answer = "" if close < 0 else raw[close + len(DETAILS_CLOSE) :].removeprefix("\n")
    return reasoning, answer


def _inside_details(head: str) -> str | None:
    """The reasoning part after the opening tag and the summary; None until both came."""
    opening = DETAILS_OPEN.match(head)
    if opening is None:
        return None
    rest = head[opening.end() :]
    if rest.startswith("<summary"):
        summary = SUMMARY.match(rest)
        return None if summary is None else rest[summary.end() :]
    return None if rest and "<summary>".startswith(rest) else rest


def _without_partial(text: str, tag: str) -> str:
    """``text`` without a trailing beginning of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return text[:-size]
    return text


class ZaiParser:
    """chat.z.ai's SSE (§2.7): ``chat:completion`` frames whose ``phase`` says what
    ``delta_content`` is (thinking, answer; tool calls and their results are the site's own
    business), usage in the ``other`` phase, and the ``done`` frame as the only terminator."""

    def __init__(self) -> None:
        self._sse = SseParser()
        self.done = False
        self._phase = ""
        self._legacy: str | None = None  # the accumulated text, in the 2025 encoding
        self._reasoning = ""  # sent so far
        self._answer = ""

    def feed(self, chunk: bytes) -> list[Event]:
        events: list[Event] = []
        for sse in self._sse.feed(chunk):
            if self.done:
                break
            events += self._frame(sse.data)
        return events

    def close(self) -> list[Event]:
        if self.done:
            return []
        raise SiteProblem(
            Problem(ProblemKind.TRUNCATED, "the chat.z.ai stream ended before its done frame")
        )

    def _frame(self, raw: bytes) -> list[Event]:
        if raw.strip() == DONE_SENTINEL:
            return []
        try:
            frame = json.loads(raw)
        except ValueError:
            return []  # a broken frame: the page skips it too
        if not isinstance(frame, dict) or frame.get("type") != COMPLETION:
            return []
        data = frame.get("data")
        if not isinstance(data, dict):
            return []
        nested = data.get("data")
        error = data.get("error") or (nested.get("error") if isinstance(nested, dict) else None)
        if isinstance(error, dict):
            raise SiteProblem(error_problem(error))
        if data.get("role") == "user":
            return []  # the site's echo of the prompt
        self._phase = str(data.get("phase") or self._phase)
        events = PHASES.get(self._phase, ZaiParser._ignored)(self, data)
        if isinstance(data.get("usage"), dict):
            events.append(_usage(data["usage"]))
        if self._phase == "done" or data.get("done") is True:
            self.done = True
            events.append(Finish("stop"))
        return events

    def _ignored(self, data: dict[str, Any]) -> list[Event]:
        return []

    def _thinking(self, data: dict[str, Any]) -> list[Event]:
        delta = str(data.get("delta_content") or "")
        if self._legacy is None and not self._reasoning and delta.startswith("<details"):
            self._legacy = ""
        if self._legacy is None:
            self._reasoning += delta
            return [ReasoningDelta(delta)] if delta else []
        return self._legacy_update(self._legacy + delta)

    def _text(self, data: dict[str, Any]) -> list[Event]:
        delta = str(data.get("delta_content") or "")
        edit = data.get("edit_content")
        if self._legacy is not None:
            raw = self._legacy + delta
            if isinstance(edit, str):
                raw = self._legacy[: _count(data, "edit_index")] + edit
            return self._legacy_update(raw)
        answer = self._answer + delta
        if isinstance(edit, str):
            answer = self._answer[: _count(data, "edit_index")] + edit
        grown, self._answer = _grown(self._answer, answer), answer
        return [TextDelta(grown)] if grown else []

    def _legacy_update(self, raw: str) -> list[Event]:
        self._legacy = raw
        reasoning, answer = legacy_split(raw)
        events: list[Event] = []
        if more := _grown(self._reasoning, reasoning):
            events.append(ReasoningDelta(more))
        if more := _grown(self._answer, answer):
            events.append(TextDelta(more))
        self._reasoning = max(self._reasoning, reasoning, key=len)
        self._answer = max(self._answer, answer, key=len)
        return events


PHASES: Mapping[str, Callable[[ZaiParser, dict[str, Any]], list[Event]]] = {
    "thinking": ZaiParser._thinking,
    "answer": ZaiParser._text,
    "tool_call": ZaiParser._ignored,  # the site's own search: it ran there, not for the caller
    "tool_response": ZaiParser._ignored,
    "other": ZaiParser._ignored,  # (usage is read from any frame)
    "done": ZaiParser._ignored,
}

SPEC = SiteSpec(
    name="zai",
    default_url=DEFAULT_URL,
    start_path=START_PATH,
    conversation_path=CONVERSATION_PATH,
    completion_url=COMPLETION_URL,
    input=INPUT,
    parser=ZaiParser,
    classify=classify,
    conversation_id=conversation_id,
    models_script=MODELS_SCRIPT,
    send=SEND,
    ready_script=READY_SCRIPT,
    challenges=CHALLENGES,
    login_walls=LOGIN_WALLS,
    signs=SIGNS,
    stop=Stop(buttons=STOP_BUTTONS),
    model_path=MODEL_PATH,
)
