"""The z.ai bridge's stream parser and classifier, fed the bytes the mock chat.z.ai really sent.

Each stream is recorded from the mock's completion pipeline (spoken to from Python the way its
page speaks, tests/test_mock_zai.py's :class:`Wire`), then parsed whole, cut in two at every
offset and byte by byte: the answer, the reasoning, the usage and the terminator come out the
same however the bytes arrive. Error bodies and in-band error frames map to their problems.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from bridges.site import Problem, ProblemKind, SiteProblem
from bridges.zai import SPEC, WAF_BACKOFF_MS, ZaiParser, classify, conversation_id, legacy_split
from daemon.adapters.types import (
    Event,
    Finish,
    ReasoningDelta,
    TextDelta,
    Usage,
    UsageEvent,
)
from tests.fakes.sites.common import count_tokens, echo_answer, thinking_text
from tests.fakes.sites.zai.app import running_site
from tests.fakes.sites.zai.config import ZaiConfig
from tests.test_mock_zai import PROMPT, Wire

PROMPT_TOKENS = count_tokens(PROMPT)
ANSWER = echo_answer(PROMPT)
THINKING = thinking_text(PROMPT)


@dataclass(frozen=True, slots=True)
class Recorded:
    """One completion response as the page's fetch got it."""

    status: int
    content_type: str
    body: bytes


@dataclass
class Parsed:
    """What a parser made of one stream."""

    text: str
    reasoning: str
    usage: list[Usage]
    finishes: list[Finish]
    done: bool
    events: int


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    async with (
        running_site(ZaiConfig(frame_delay_ms=0)) as site,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
    ):
        yield Wire(site, http)


async def record(wire: Wire, model: str = "glm-4.7") -> Recorded:
    status, content_type, raw = await wire.send(await wire.prepare(model=model))
    [completion] = wire.site.requests("/api/v2/chat/completions")[-1:]
    assert bytes(completion.response) == raw  # what the mock recorded is what came
    return Recorded(status, content_type, raw)


def parse(chunks: Iterable[bytes]) -> Parsed:
    parser = ZaiParser()
    events: list[Event] = []
    for chunk in chunks:
        if parser.done:  # (the engine stops reading at the terminator)
            break
        events += parser.feed(chunk)
    if not parser.done:
        events += parser.close()
    return Parsed(
        text="".join(e.text for e in events if isinstance(e, TextDelta)),
        reasoning="".join(e.text for e in events if isinstance(e, ReasoningDelta)),
        usage=[e.usage for e in events if isinstance(e, UsageEvent)],
        finishes=[e for e in events if isinstance(e, Finish)],
        done=parser.done,
        events=len(events),
    )


def cuts(body: bytes) -> Iterator[list[bytes]]:
    """``body`` whole, in two at every offset, and byte by byte."""
    yield [body]
    for offset in range(1, len(body)):
        yield [body[:offset], body[offset:]]
    yield [body[i : i + 1] for i in range(len(body))]


def assert_answer(parsed: Parsed, *, reasoning: str = THINKING) -> None:
    assert parsed.text == ANSWER
    assert parsed.reasoning == reasoning
    assert parsed.finishes == [Finish("stop")]
    assert parsed.done
    [usage] = parsed.usage
    assert usage["inputTokens"] == PROMPT_TOKENS
    assert usage["outputTokens"] == count_tokens(ANSWER) + count_tokens(THINKING)


# --- answers ---------------------------------------------------------------------------------


async def test_a_stream_gives_reasoning_answer_usage_and_stop_however_it_is_cut(
    wire: Wire,
) -> None:
    recorded = await record(wire)
    assert classify(recorded.status, recorded.content_type, recorded.body[:1]) is None
    for chunks in cuts(recorded.body):
        assert_answer(parse(chunks))


async def test_deltas_come_as_their_frames_arrive(wire: Wire) -> None:
    recorded = await record(wire)
    frames = [frame + b"\n\n" for frame in recorded.body.split(b"\n\n") if frame]
    parser = ZaiParser()
    first = parser.feed(frames[0])
    assert first == [ReasoningDelta(THINKING[:40])]
    assert not parser.done
    kinds = [type(e).__name__ for frame in frames[1:] for e in parser.feed(frame)]
    assert kinds[-2:] == ["TextDelta", "Finish"]  # the usage frame came before the last delta
    assert "UsageEvent" in kinds


async def test_the_2025_details_encoding_is_split_into_reasoning_and_answer(wire: Wire) -> None:
    wire.site.configure(thinking_style="legacy_details")
    recorded = await record(wire)
    assert b"edit_index" in recorded.body
    for chunks in cuts(recorded.body):
        assert_answer(parse(chunks))


async def test_noise_tools_and_the_sentinel_are_skipped(wire: Wire) -> None:
    wire.site.configure(noise_events=True, deep_search=True, emit_done_sentinel=True)
    recorded = await record(wire)
    assert b'"role":"user"' in recorded.body
    assert b"tool_response" in recorded.body
    for chunks in cuts(recorded.body):
        assert_answer(parse(chunks))


@pytest.mark.parametrize(
    "variant",
    [
        "invalid_json",
        "crlf",
        "split_utf8",
        "unknown_events",
        "html_content_type",
        "duplicate_done",
        "usage_before_last",
        "user_echo",
    ],
)
async def test_a_bent_stream_still_gives_the_whole_answer(wire: Wire, variant: str) -> None:
    wire.site.scenario("malformed_stream", {"variant": variant})
    recorded = await record(wire)
    assert recorded.status == 200
    assert classify(recorded.status, recorded.content_type, recorded.body[:1]) is None
    for chunks in cuts(recorded.body):
        assert_answer(parse(chunks))


async def test_a_stream_without_its_done_frame_is_truncated_not_an_answer(wire: Wire) -> None:
    wire.site.scenario("malformed_stream", {"variant": "missing_terminator"})
    recorded = await record(wire)
    parser = ZaiParser()
    events = parser.feed(recorded.body)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == ANSWER
    assert not parser.done
    with pytest.raises(SiteProblem) as raised:
        parser.close()
    assert raised.value.problem.kind is ProblemKind.TRUNCATED


def test_an_edit_rewrites_the_answer_from_its_index() -> None:
    parser = ZaiParser()
    frames: list[dict[str, Any]] = [
        {"phase": "answer", "delta_content": "Hello wor"},
        {"phase": "answer", "edit_index": 6, "edit_content": "world, again"},
        {"phase": "answer", "delta_content": "!"},
        {"phase": "done", "done": True},
    ]
    events = [e for f in frames for e in parser.feed(frame(f))]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello world, again!"
    assert parser.done


def test_the_details_encoding_holds_back_what_may_still_change() -> None:
    opening = '<details type="reasoning" done="false">\n<summary>Thinking…</summary>\n'
    assert legacy_split('<details type="reas') == ("", "")
    assert legacy_split(opening + "> first line\n> sec") == ("first line\nsec", "")
    assert legacy_split(opening + "> first line\n") == ("first line", "")
    assert legacy_split(opening + "> first line</det") == ("first line", "")
    assert legacy_split(opening + "> first line\n</details>\nThe answer") == (
        "first line",
        "The answer",
    )


def frame(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps({"type": "chat:completion", "data": data}).encode() + b"\n\n"


# --- errors in the stream --------------------------------------------------------------------


def stream_problem(body: bytes) -> Problem:
    """The problem the stream raises, the same whole, cut after one byte, and cut in half."""
    problems = []
    for chunks in ([body], [body[:1], body[1:]], [body[: len(body) // 2], body[len(body) // 2 :]]):
        with pytest.raises(SiteProblem) as raised:
            parse(chunks)
        problems.append(raised.value.problem)
    assert problems[1:] == problems[:-1]
    return problems[0]


@pytest.mark.parametrize(
    ("scenario", "detail"),
    [("captcha_missing", "missing_param"), ("captcha_invalid", "verify_failed")],
)
async def test_a_captcha_error_frame_is_a_challenge_a_reload_may_pass(
    wire: Wire, scenario: str, detail: str
) -> None:
    wire.site.scenario(scenario)
    recorded = await record(wire)
    assert recorded.status == 200
    assert b'"data":{"data":' in recorded.body
    problem = stream_problem(recorded.body)
    assert problem.kind is ProblemKind.CHALLENGE
    assert problem.reload_helps
    assert detail in problem.detail
    assert problem.action
    assert "security verification" in problem.action


@pytest.mark.parametrize("how", ["model_forbidden", "login_only_model", "unknown_model"])
async def test_a_model_a_guest_may_not_use_is_refused_as_such(wire: Wire, how: str) -> None:
    if how == "model_forbidden":
        wire.site.scenario("model_forbidden")
    model = {"login_only_model": "glm-5.2", "unknown_model": "no-such-model"}.get(how, "glm-4.7")
    recorded = await record(wire, model=model)
    problem = stream_problem(recorded.body)
    assert problem.kind is ProblemKind.MODEL_REFUSED
    assert not problem.reload_helps


@pytest.mark.parametrize(
    ("error", "kind", "reload_helps"),
    [
        ({"code": "VERIFICATION_REQUIRED", "detail": "Verify"}, ProblemKind.CHALLENGE, True),
        ({"code": "INVALID_TOKEN", "detail": "bad token"}, ProblemKind.SESSION, True),
        ({"code": 426, "detail": "您的客户端校验失败"}, ProblemKind.SESSION, True),
        ({"code": "IllegalUserTag", "detail": "no"}, ProblemKind.UNAVAILABLE, False),
        ({"code": 500, "detail": "并发限制"}, ProblemKind.RATE_LIMITED, False),
        ({"code": "CONTENT_FILTER", "detail": "sensitive"}, ProblemKind.REFUSED, False),
    ],
)
@pytest.mark.parametrize("nesting", ["data.error", "data.data.error"])
def test_an_in_band_error_code_maps_to_its_problem(
    error: dict[str, Any], kind: ProblemKind, reload_helps: bool, nesting: str
) -> None:
    data = {"error": error, "done": True}
    body = frame(data if nesting == "data.error" else {"data": data, "done": True})
    problem = stream_problem(body)
    assert (problem.kind, problem.reload_helps) == (kind, reload_helps)
    assert str(error["detail"]) in problem.detail


def test_an_error_after_the_answer_began_is_raised_where_it_comes() -> None:
    parser = ZaiParser()
    assert parser.feed(frame({"phase": "answer", "delta_content": "Hel"})) == [TextDelta("Hel")]
    error = {"error": {"code": 429, "detail": "Too Many Requests"}, "done": True}
    with pytest.raises(SiteProblem) as raised:
        parser.feed(frame(error))
    assert raised.value.problem.kind is ProblemKind.RATE_LIMITED


# --- responses that are not a stream ---------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "params", "status", "kind", "reload_helps"),
    [
        ("waf_block", {}, 405, ProblemKind.RATE_LIMITED, True),
        ("stale_fe_version", {"mode": "426"}, 426, ProblemKind.SESSION, True),
        ("signature_mismatch", {}, 400, ProblemKind.CHANGED, True),
        ("expired_guest_token", {}, 401, ProblemKind.SESSION, True),
        ("rate_limited", {}, 429, ProblemKind.RATE_LIMITED, False),
        ("http_401", {}, 401, ProblemKind.SESSION, True),
        ("http_403", {}, 403, ProblemKind.UNAVAILABLE, False),
        ("http_429", {}, 429, ProblemKind.RATE_LIMITED, False),
        ("http_500", {}, 500, ProblemKind.UNAVAILABLE, False),
        ("http_502", {}, 502, ProblemKind.UNAVAILABLE, False),
        ("http_503", {}, 503, ProblemKind.UNAVAILABLE, False),
    ],
)
async def test_an_error_response_is_classified(
    wire: Wire,
    scenario: str,
    params: dict[str, Any],
    status: int,
    kind: ProblemKind,
    reload_helps: bool,
) -> None:
    call = await wire.prepare()
    wire.site.scenario(scenario, params)
    recorded = Recorded(*await wire.send(call))
    assert recorded.status == status
    problem = classify(recorded.status, recorded.content_type, recorded.body)
    assert problem is not None
    assert (problem.kind, problem.reload_helps) == (kind, reload_helps)
    assert PROMPT not in problem.detail


async def test_the_waf_page_backs_off_for_minutes(wire: Wire) -> None:
    wire.site.scenario("waf_block")
    recorded = Recorded(*await wire.send(await wire.prepare()))
    assert recorded.content_type.startswith("text/html")
    problem = classify(recorded.status, recorded.content_type, recorded.body)
    assert problem is not None
    assert problem.retry_after_ms == WAF_BACKOFF_MS
    assert "firewall" in problem.detail


async def test_the_sites_own_words_are_the_detail(wire: Wire) -> None:
    call = await wire.prepare()
    wire.site.scenario("http_502", times=1)
    recorded = Recorded(*await wire.send(call))
    problem = classify(recorded.status, recorded.content_type, recorded.body)
    assert problem is not None
    assert "502 Bad Gateway" in problem.detail
    wire.site.scenario("rate_limited")
    recorded = Recorded(*await wire.send(await wire.prepare()))
    problem = classify(recorded.status, recorded.content_type, recorded.body)
    assert problem is not None
    assert "Too Many Requests" in problem.detail


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"<!doctype html><html><body>Welcome</body></html>", ProblemKind.CHANGED),
        (b'{"error":{"code":"MODEL_NOT_FOUND","detail":"Model not found"}}', None),
        (b'{"status":"queued"}', ProblemKind.CHANGED),
    ],
)
def test_a_200_that_is_not_a_stream_is_not_parsed(head: bytes, kind: ProblemKind | None) -> None:
    problem = classify(200, "application/json", head)
    assert problem is not None
    assert problem.kind is (kind or ProblemKind.MODEL_REFUSED)


# --- where things are ------------------------------------------------------------------------


def test_the_conversation_is_the_chat_id_in_the_path() -> None:
    assert conversation_id("http://127.0.0.1:8/c/0b5e-41?x=1") == "0b5e-41"
    assert conversation_id("https://chat.z.ai/") is None
    assert conversation_id("https://chat.z.ai/c/") is None
    assert SPEC.conversation_path.format(id="abc") == "/c/abc"
