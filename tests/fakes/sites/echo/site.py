"""The echo site's :class:`~bridges.site.SiteSpec`: what a site module looks like, at its
smallest (constants first, then the parser and the classifier)."""

from __future__ import annotations

import json
import re

from bridges.site import Challenge, Find, Problem, ProblemKind, SiteProblem, SiteSpec, Stop
from daemon.adapters.sse import SseParser
from daemon.adapters.types import Event, Finish, ReasoningDelta, TextDelta, UsageEvent, empty_usage

COMPLETION_URL = r"/api/chat\?"
INPUT = ("textarea#prompt", "[contenteditable=true][role=textbox]")
SEND = ("button#send",)
STOP = ("button#stop",)
CHALLENGES = (Challenge("#challenge", "tick the box that proves you are human"),)
LOGIN_WALLS = ("#login-wall",)
POPUPS = (Find("#popup button", text="keep session"),)
MODELS_SCRIPT = """fetch("/api/models").then((r) => r.json())
  .then((d) => d.data.filter((m) => m.guest !== false).map((m) => m.id))"""
CONVERSATION = re.compile(r"/c/([^/?#]+)")


class EchoParser:
    """The echo site's SSE: reasoning, text and usage frames, then ``done``."""

    def __init__(self) -> None:
        self._sse = SseParser()
        self.done = False

    def feed(self, chunk: bytes) -> list[Event]:
        events: list[Event] = []
        for sse in self._sse.feed(chunk):
            data = json.loads(sse.data)
            kind = data.get("type")
            if kind == "text":
                events.append(TextDelta(data["text"]))
            elif kind == "reasoning":
                events.append(ReasoningDelta(data["text"]))
            elif kind == "usage":
                usage = empty_usage()
                usage["inputTokens"], usage["outputTokens"] = data["input"], data["output"]
                events.append(UsageEvent(usage))
            elif kind == "done":
                self.done = True
                events.append(Finish("stop"))
            elif kind == "error":
                model = data["code"] == "model"
                why = ProblemKind.MODEL_REFUSED if model else ProblemKind.REFUSED
                raise SiteProblem(Problem(why, data["detail"]))
        return events

    def close(self) -> list[Event]:
        raise SiteProblem(Problem(ProblemKind.TRUNCATED, "the answer ended before its done frame"))


def classify(status: int, content_type: str, head: bytes) -> Problem | None:
    """What a response that is not an answer means."""
    if status == 401:
        return Problem(ProblemKind.SESSION, "the guest session expired", reload_helps=True)
    if status == 429:
        return Problem(ProblemKind.RATE_LIMITED, "the site says slow down", retry_after_ms=30_000)
    if b'"challenge"' in head:
        return Problem(
            ProblemKind.CHALLENGE,
            "the site wants a human check",
            reload_helps=True,
            action="tick the box that proves you are human",
        )
    if status >= 500:
        return Problem(ProblemKind.UNAVAILABLE, f"the site answered HTTP {status}")
    if "event-stream" not in content_type:
        return Problem(ProblemKind.CHANGED, f"expected an event stream, got {content_type!r}")
    return None


def conversation_id(url: str) -> str | None:
    match = CONVERSATION.search(url)
    return match.group(1) if match else None


SPEC = SiteSpec(
    name="echo",
    default_url="http://127.0.0.1:9",  # the tests always set [bridges.echo] url
    start_path="/",
    conversation_path="/c/{id}",
    completion_url=COMPLETION_URL,
    input=INPUT,
    parser=EchoParser,
    classify=classify,
    conversation_id=conversation_id,
    models_script=MODELS_SCRIPT,
    send=SEND,
    challenges=CHALLENGES,
    login_walls=LOGIN_WALLS,
    popups=POPUPS,
    stop=Stop(buttons=STOP),
    model_path="/?model={model}",
)
