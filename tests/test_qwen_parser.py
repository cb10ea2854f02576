"""The Qwen bridge reads chat.qwen.ai's answers (website-bridges.md §3.7, §3.8), fed the bytes
the offline mock of the site really sends (:mod:`tests.fakes.sites.qwen`), in one piece and cut
at every offset, as a browser may hand them over."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bridges.qwen import SPEC, QwenParser, classify, conversation_id
from bridges.site import ProblemKind, SiteProblem
from daemon.adapters.types import Finish, ReasoningDelta, TextDelta, Usage, UsageEvent
from tests.fakes.sites.common import echo_answer, thinking_text
from tests.fakes.sites.qwen.app import MockQwen, running_site
from tests.fakes.sites.qwen.config import QwenConfig
from tests.fakes.sites.qwen.guest import Guest, Reply, frames, visiting

PROMPT = "Reply with exactly: naïve — ✓ in frames"
ANSWER = echo_answer(PROMPT)


@pytest.fixture
async def site() -> AsyncIterator[MockQwen]:
    async with running_site(QwenConfig(frame_delay_ms=0, chunk_chars=9)) as mock:
        yield mock


@pytest.fixture
async def guest(site: MockQwen) -> AsyncIterator[Guest]:
    async with visiting(str(site.base_url)) as visitor:
        yield visitor


@dataclass
class Read:
    """What the parser made of one body."""

    text: str = ""
    reasoning: str = ""
    usage: list[Usage] = field(default_factory=list)
    finish: list[str] = field(default_factory=list)
    deltas: int = field(default=0, compare=False)  # a cut may split a frame's arrival


def read(pieces: Iterable[bytes]) -> Read:
    """Feed ``pieces`` to a fresh parser, then close it if the stream did not end."""
    parser, found = QwenParser(), Read()
    events = [event for piece in pieces for event in parser.feed(piece)]
    if not parser.done:
        events += parser.close()
    for event in events:
        if isinstance(event, TextDelta):
            found.text += event.text
            found.deltas += 1
        elif isinstance(event, ReasoningDelta):
            found.reasoning += event.text
        elif isinstance(event, UsageEvent):
            found.usage.append(event.usage)
        elif isinstance(event, Finish):
            found.finish.append(event.reason)
    return found


def every_cut(body: bytes) -> Iterable[list[bytes]]:
    """``body`` whole, byte by byte, and in two pieces at every offset."""
    yield [body]
    yield [body[i : i + 1] for i in range(len(body))]
    for cut in range(1, len(body)):
        yield [body[:cut], body[cut:]]


def same_everywhere(body: bytes) -> Read:
    """The parser's reading of ``body``, checked to be the same however it is cut."""
    whole = read([body])
    for pieces in every_cut(body):
        assert read(pieces) == whole, f"cut into {[len(p) for p in pieces]}"
    return whole


def last_usage(body: bytes) -> dict[str, Any]:
    found: dict[str, Any] = [f for f in frames(body) if "usage" in f][-1]["usage"]
    return found


async def answer(guest: Guest, prompt: str = PROMPT, **kw: Any) -> Reply:
    model = kw.pop("model", "qwen3.7-plus")
    reply = await guest.complete(await guest.chat_id(model), prompt, model=model, **kw)
    assert reply.status == 200
    return reply


# --- the stream ------------------------------------------------------------------------------


async def test_thinking_and_answer_come_apart_however_the_bytes_are_cut(guest: Guest) -> None:
    reply = await answer(guest)
    assert classify(200, reply.headers["Content-Type"], reply.body[:10]) is None

    found = same_everywhere(reply.body)
    assert found.text == ANSWER
    assert found.reasoning == thinking_text(PROMPT)
    assert found.finish == ["stop"]
    assert found.deltas == len(ANSWER) // 9 + 1  # each answer frame, as it came
    raw = last_usage(reply.body)
    [usage] = found.usage
    assert usage == {
        "inputTokens": raw["input_tokens"],
        "outputTokens": raw["output_tokens"],
        "cacheReadTokens": 0,
        "cacheWriteTokens": 0,
        "reasoningTokens": raw["output_tokens_details"]["reasoning_tokens"],
    }
    assert usage["reasoningTokens"] > 0


async def test_the_finished_frame_ends_the_answer_and_nothing_after_it_counts(
    guest: Guest, site: MockQwen
) -> None:
    site.configure(emit_done_sentinel=True)
    body = (await answer(guest, thinking=False)).body
    parser = QwenParser()
    events = parser.feed(body + b'data: {"choices":[{"delta":{"content":"more"}}]}\n\n')
    assert parser.done
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == ANSWER
    assert parser.feed(b'data: {"choices":[{"delta":{"content":"more"}}]}\n\n') == []


async def test_a_cumulative_stream_is_said_once(guest: Guest, site: MockQwen) -> None:
    site.scenario("cumulative_stream", times=1)
    found = same_everywhere((await answer(guest, thinking=False)).body)
    assert found.text == ANSWER


async def test_a_site_that_is_not_incremental_at_all_is_said_once(
    guest: Guest, site: MockQwen
) -> None:
    site.configure(incremental=False, legacy_think_phase=True)
    found = same_everywhere((await answer(guest)).body)
    assert (found.text, found.reasoning) == (ANSWER, thinking_text(PROMPT))


async def test_the_legacy_think_phase_is_reasoning(guest: Guest, site: MockQwen) -> None:
    site.configure(legacy_think_phase=True)
    body = (await answer(guest)).body
    assert b'"phase":"think"' in body
    found = same_everywhere(body)
    assert (found.text, found.reasoning) == (ANSWER, thinking_text(PROMPT))


async def test_keep_alives_say_nothing(guest: Guest, site: MockQwen) -> None:
    site.configure(keep_alive_frames=3)
    body = (await answer(guest, thinking=False)).body
    assert body.count(b"response.info") == 3
    assert same_everywhere(body).text == ANSWER


@pytest.mark.parametrize(
    "variant",
    ["invalid_json", "crlf", "split_utf8", "unknown_event", "duplicate_done", "user_echo"],
)
async def test_a_malformed_stream_still_reads_as_the_answer(
    guest: Guest, site: MockQwen, variant: str
) -> None:
    site.scenario("malformed_stream", {"variant": variant}, times=1)
    found = same_everywhere((await answer(guest)).body)
    assert (found.text, found.reasoning) == (ANSWER, thinking_text(PROMPT))
    assert found.finish == ["stop"]


async def test_usage_sent_early_gives_way_to_the_last(guest: Guest, site: MockQwen) -> None:
    site.scenario("malformed_stream", {"variant": "usage_before_last"}, times=1)
    body = (await answer(guest)).body
    [usage] = same_everywhere(body).usage
    assert usage["outputTokens"] == last_usage(body)["output_tokens"]


async def test_html_labelled_sse_is_still_a_stream(guest: Guest, site: MockQwen) -> None:
    site.scenario("malformed_stream", {"variant": "html_content_type"}, times=1)
    reply = await answer(guest)
    assert reply.headers["Content-Type"].startswith("text/html")
    assert classify(200, reply.headers["Content-Type"], reply.body[:4]) is None
    assert classify(200, reply.headers["Content-Type"], reply.body[:1]) is None
    assert read([reply.body]).text == ANSWER


def problem_of(pieces: Iterable[bytes]) -> SiteProblem:
    with pytest.raises(SiteProblem) as raised:
        read(pieces)
    return raised.value


async def test_a_stream_without_its_finished_frame_is_cut_short(
    guest: Guest, site: MockQwen
) -> None:
    site.scenario("malformed_stream", {"variant": "missing_terminator"}, times=1)
    body = (await answer(guest)).body
    for pieces in every_cut(body):
        assert problem_of(pieces).problem.kind is ProblemKind.TRUNCATED


async def test_a_last_frame_without_its_blank_line_still_counts(guest: Guest) -> None:
    body = (await answer(guest, thinking=False)).body
    assert body.endswith(b"\n\n")
    assert read([body[:-2]]).text == ANSWER


async def test_an_empty_completion_means_the_model_is_not_for_guests(guest: Guest) -> None:
    body = (await answer(guest, model="qwen3.8-max")).body
    for pieces in every_cut(body):
        problem = problem_of(pieces).problem
        assert problem.kind is ProblemKind.MODEL_REFUSED
        assert not problem.reload_helps


async def test_a_rate_limit_inside_the_stream(guest: Guest, site: MockQwen) -> None:
    site.scenario("rate_limited", {"sse": True}, times=1)
    problem = problem_of([(await answer(guest)).body]).problem
    assert problem.kind is ProblemKind.RATE_LIMITED
    assert problem.retry_after_ms == 60_000


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (b'{"error":{"code":"ContextLengthExceeded","details":"too long"}}', ProblemKind.REFUSED),
        (b'{"error":{"code":"unauthorized","details":"who?"}}', ProblemKind.SESSION),
        (b'{"data_inspection_failed":true}', ProblemKind.REFUSED),
    ],
)
def test_errors_inside_the_stream(frame: bytes, kind: ProblemKind) -> None:
    head = b'data: {"response.created":{"chat_id":"c","response_id":"r"}} \n\n'
    assert problem_of([head, b"data: " + frame + b"\n\n"]).problem.kind is kind


def test_a_done_sentinel_alone_ends_an_answer() -> None:
    frame = b'data: {"choices":[{"delta":{"content":"hi","phase":"answer"}}]}\n\n'
    assert read([frame, b"data: [DONE]\n\n"]).finish == ["stop"]


def test_a_rewritten_summary_is_said_again_not_lost() -> None:
    def summary(*lines: str) -> bytes:
        extra = {"summary_thought": {"content": list(lines)}}
        delta = {"phase": "thinking_summary", "content": "", "extra": extra}
        return b"data: " + json_bytes({"choices": [{"delta": delta}]}) + b"\n\n"

    answer_frame = b'data: {"choices":[{"delta":{"content":"ok","phase":"answer"}}]}\n\n'
    finished = b'data: {"choices":[{"delta":{"status":"finished","phase":"answer"}}]}\n\n'
    pieces = [summary("a"), summary("a", "b"), summary("c"), answer_frame, finished]
    assert read(pieces).reasoning == "a\n\nb\n\nc"


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_repeated_deltas_are_not_taken_for_a_cumulative_text() -> None:
    def piece(text: str) -> bytes:
        delta = {"phase": "answer", "content": text, "status": "typing"}
        return b"data: " + json_bytes({"choices": [{"delta": delta}]}) + b"\n\n"

    finished = b'data: {"choices":[{"delta":{"status":"finished","phase":"answer"}}]}\n\n'
    assert read([piece("ha"), piece("ha"), piece("!"), finished]).text == "haha!"


# --- answers that are not a stream -----------------------------------------------------------


def kind_of(reply: Reply) -> tuple[ProblemKind | None, bool]:
    problem = classify(reply.status, reply.headers.get("Content-Type", ""), reply.body)
    return (problem.kind, problem.reload_helps) if problem else (None, False)


@pytest.mark.parametrize(
    ("scenario", "params", "kind", "reload_helps"),
    [
        ("punish", None, ProblemKind.CHALLENGE, True),
        ("waf_js_challenge", {"pages": False}, ProblemKind.CHALLENGE, True),
        ("bad_request_headers", None, ProblemKind.CHANGED, True),
        ("chat_in_progress", None, ProblemKind.RATE_LIMITED, True),
        ("rate_limited", None, ProblemKind.RATE_LIMITED, False),
        ("model_refused", None, ProblemKind.MODEL_REFUSED, False),
        ("http_401", None, ProblemKind.SESSION, True),
        ("http_401", {"body": "html"}, ProblemKind.SESSION, True),
        ("http_403", None, ProblemKind.UNAVAILABLE, False),
        ("http_403", {"body": "html"}, ProblemKind.UNAVAILABLE, False),
        ("http_429", None, ProblemKind.RATE_LIMITED, False),
        ("http_429", {"body": "html"}, ProblemKind.RATE_LIMITED, False),
        ("http_500", None, ProblemKind.UNAVAILABLE, False),
        ("http_502", {"body": "html"}, ProblemKind.UNAVAILABLE, False),
        ("http_503", None, ProblemKind.UNAVAILABLE, False),
    ],
)
async def test_each_refusal_of_the_site_is_classified(
    guest: Guest,
    site: MockQwen,
    scenario: str,
    params: dict[str, Any] | None,
    kind: ProblemKind,
    reload_helps: bool,
) -> None:
    chat_id = await guest.chat_id()
    site.scenario(scenario, params, times=1)
    assert kind_of(await guest.complete(chat_id, PROMPT)) == (kind, reload_helps)


async def test_stale_baxia_tokens_are_a_challenge_a_reload_may_pass(guest: Guest) -> None:
    chat_id = await guest.chat_id()
    reply = await guest.complete(chat_id, PROMPT, headers=guest.headers(drop=("bx-ua",)))
    assert b"FAIL_SYS_USER_VALIDATE" in reply.body
    problem = classify(reply.status, reply.headers["Content-Type"], reply.body)
    assert problem is not None
    assert problem.action is not None
    assert "slider" in problem.action
    assert "bridges.open" in problem.action


async def test_missing_headers_are_a_changed_site(guest: Guest) -> None:
    chat_id = await guest.chat_id()
    reply = await guest.complete(chat_id, PROMPT, headers=guest.headers(drop=("version",)))
    assert kind_of(reply) == (ProblemKind.CHANGED, True)


async def test_the_retired_path_is_unavailable(guest: Guest) -> None:
    reply = await guest.post("/api/chat/completions", {}, guest.headers())
    assert reply.status == 504
    assert kind_of(reply) == (ProblemKind.UNAVAILABLE, False)


def test_a_page_where_a_stream_belongs_is_a_changed_site() -> None:
    problem = classify(200, "text/html", b"<!DOCTYPE html><html><body>new app</body></html>")
    assert problem is not None
    assert problem.kind is ProblemKind.CHANGED
    assert "text/html" in problem.detail


def test_the_conversation_is_read_from_the_page_address() -> None:
    assert conversation_id("https://chat.qwen.ai/c/5a1b-77?x=1") == "5a1b-77"
    assert conversation_id("https://chat.qwen.ai/c/guest") is None
    assert conversation_id("https://chat.qwen.ai/") is None
    assert SPEC.conversation_path.format(id="5a1b") == "/c/5a1b"
