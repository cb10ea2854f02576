"""The mock chat.qwen.ai's server keeps the reference (website-bridges.md §3, §5.3-§5.5).

Driven over plain HTTP the way its SPA does (:mod:`tests.fakes.sites.qwen.guest`): the byte
format of the stream, each validation step and each completion scenario. The SPA itself, in
real Chromium, is test_mock_qwen_spa.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from yarl import URL

from tests.fakes.sites.common import Outcome, thinking_text
from tests.fakes.sites.qwen.app import MockQwen, env_config, running_site
from tests.fakes.sites.qwen.config import QwenConfig
from tests.fakes.sites.qwen.guest import (
    Guest,
    answer_text,
    events,
    frames,
    visiting,
)
from tests.fakes.sites.qwen.state import waf_answer
from tests.support.sites import running_qwen

COMPLETIONS = "/api/v2/chat/completions"
PROMPT = "Reply with exactly: hello from the mock"


@pytest.fixture
async def site() -> AsyncIterator[MockQwen]:
    async with running_site(QwenConfig(frame_delay_ms=0)) as mock:
        yield mock


@pytest.fixture
async def guest(site: MockQwen) -> AsyncIterator[Guest]:
    async with visiting(str(site.base_url)) as visitor:
        yield visitor


def deltas(body: bytes) -> list[dict[str, Any]]:
    return [f["choices"][0]["delta"] for f in frames(body) if f.get("choices")]


# -- the stream ------------------------------------------------------------------------------


async def test_a_guest_turn_streams_the_echo_answer_in_the_sites_frames(guest: Guest) -> None:
    chat_id = await guest.chat_id()
    reply = await guest.complete(chat_id, PROMPT)

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert reply.headers["x-actual-status-code"] == "200"
    assert reply.headers["GA-AP"] == "mock-region"
    first, *_ = reply.body.split(b"\n\n")
    assert first.startswith(b'data: {"response.created":')
    assert first.endswith(b"} ")
    created = frames(reply.body)[0]["response.created"]
    assert created["chat_id"] == chat_id
    assert created["response_index"] == "0"
    thinking = [d for d in deltas(reply.body) if d["phase"] == "thinking_summary"]
    assert all(d["content"] == "" for d in thinking)
    assert thinking[-1]["extra"]["summary_thought"]["content"] == [thinking_text(PROMPT)]
    typing = [
        f
        for f in frames(reply.body)
        if f.get("usage") and f["choices"][0]["delta"]["phase"] == "answer"
    ]
    outputs = [f["usage"]["output_tokens"] for f in typing]
    assert outputs == sorted(outputs)
    assert all(f["choices"][0]["delta"]["status"] == "typing" for f in typing)
    assert answer_text(reply.body) == "hello from the mock"
    assert deltas(reply.body)[-1] == {
        "content": "",
        "role": "assistant",
        "status": "finished",
        "phase": "answer",
    }
    assert b"[DONE]" not in reply.body


async def test_the_next_turn_names_the_previous_answer_as_its_parent(
    guest: Guest, site: MockQwen
) -> None:
    chat_id = await guest.chat_id()
    first = frames((await guest.complete(chat_id, "one")).body)[0]["response.created"][
        "response_id"
    ]

    second = await guest.complete(chat_id, "two", parent_id=first)
    stranger = await guest.complete(chat_id, "three", parent_id="not-an-answer")

    assert answer_text(second.body) == "ECHO: two"
    assert stranger.json()["data"]["code"] == "Bad_Request"
    assert site.requests(COMPLETIONS)[-1].outcome("chat") is Outcome.FAIL


@pytest.mark.parametrize(
    ("knobs", "check"),
    [
        (
            {"incremental": False},
            lambda d: (
                [x["content"] for x in d if x["phase"] == "answer"][-2] == "ECHO: " + "x" * 60
            ),
        ),
        (
            {"legacy_think_phase": True},
            lambda d: (
                "".join(x["content"] for x in d if x["phase"] == "think") == thinking_text("x" * 60)
            ),
        ),
        ({"emit_done_sentinel": True}, None),
        ({"keep_alive_frames": 2}, None),
    ],
)
async def test_stream_shape_knobs(
    site: MockQwen, guest: Guest, knobs: dict[str, Any], check: Any
) -> None:
    site.configure(**knobs, chunk_chars=7)
    reply = await guest.complete(await guest.chat_id(), "x" * 60)

    if check is not None:
        assert check(deltas(reply.body))
    if knobs.get("emit_done_sentinel"):
        assert events(reply.body)[-1] == "[DONE]"
    if knobs.get("keep_alive_frames"):
        kept = [f for f in frames(reply.body) if "response.info" in f]
        assert [f["response.info"]["action"] for f in kept] == ["keep_alive", "keep_alive"]


async def test_fast_mode_sends_no_thinking(guest: Guest) -> None:
    reply = await guest.complete(await guest.chat_id(), "hi", thinking=False)
    assert [d["phase"] for d in deltas(reply.body)] == ["answer", "answer"]


# -- validation ------------------------------------------------------------------------------


async def test_unregistered_or_missing_bx_tokens_get_the_punish_body(site: MockQwen) -> None:
    async with visiting(str(site.base_url), register=False) as stranger:
        refused = await stranger.new_chat()
        bare = await stranger.post("/api/v2/chats/new", {}, stranger.headers(drop=("bx-ua",)))

    for reply in (refused, bare):
        body = reply.json()
        assert body["ret"][0] == "FAIL_SYS_USER_VALIDATE"
        assert "RGV587" in body["ret"][1]
        assert "/_____tmd_____/punish?x5secdata=" in body["data"]["url"]
        assert reply.headers["x-actual-status-code"] == "200"
    assert [r.outcome("baxia") for r in site.requests("/api/v2/chats/new")] == [Outcome.FAIL] * 2


async def test_tokens_expire_after_their_ttl(site: MockQwen, guest: Guest) -> None:
    chat_id = await guest.chat_id()
    site.set_clock(offset_ms=601_000)
    reply = await guest.complete(chat_id, "late")
    assert reply.json()["ret"][0] == "FAIL_SYS_USER_VALIDATE"
    assert site.requests(COMPLETIONS)[0].verdicts[2].detail == "expired bx tokens"


@pytest.mark.parametrize("dropped", ["version", "source"])
async def test_missing_headers_are_a_bad_request(
    site: MockQwen, guest: Guest, dropped: str
) -> None:
    chat_id = await guest.chat_id()
    reply = await guest.complete(
        chat_id, "hi", headers=guest.headers(streaming=True, drop=(dropped,))
    )
    assert reply.status == 200
    assert reply.headers["x-actual-status-code"] == "400"
    assert reply.json()["data"] == {
        "code": "Bad_Request",
        "details": "Internal error, please try again later.",
    }
    assert site.requests(COMPLETIONS)[0].outcome("headers") is Outcome.FAIL


async def test_a_step_in_warn_mode_records_the_failure_and_answers(
    site: MockQwen, guest: Guest
) -> None:
    site.configure(checks={"headers": "warn"})
    reply = await guest.complete(
        await guest.chat_id(), "hi", headers=guest.headers(streaming=True, drop=("version",))
    )
    assert answer_text(reply.body) == "ECHO: hi"
    assert site.requests(COMPLETIONS)[0].outcome("headers") is Outcome.WARN


async def test_normal_mode_needs_a_login(guest: Guest) -> None:
    reply = await guest.new_chat(mode="normal")
    assert reply.json()["data"]["code"] == "Unauthorized"


async def test_one_stream_at_a_time(site: MockQwen, guest: Guest) -> None:
    """A second turn of a streaming chat is "in progress"; a stream of another chat from the
    same address is punished (Baxia flags concurrency); stop ends the first with finished."""
    site.configure(chunk_chars=4)
    site.scenario("stall", {"after_frames": 1}, times=1)
    chat_id, other = await guest.chat_id(), await guest.chat_id()
    async with guest.streaming(chat_id, "slow") as stalled:
        created = json.loads((await stalled.content.readuntil(b"\n\n"))[6:])["response.created"]
        busy = await guest.complete(chat_id, "again")
        concurrent = await guest.complete(other, "elsewhere")
        stop = {"chat_id": chat_id, "response_id": created["response_id"]}
        stopped = await guest.post(f"{COMPLETIONS}/stop", stop, guest.headers())
        rest = await stalled.read()

    assert busy.json()["data"]["details"] == "The chat is in progress!"
    assert concurrent.json()["ret"][0] == "FAIL_SYS_USER_VALIDATE"
    assert stopped.json()["data"] == {"status": True}
    assert [d["status"] for d in deltas(rest)] == ["typing", "finished"]
    assert site.requests(COMPLETIONS)[0].verdicts[-1].detail == "stopped"


# -- completion scenarios --------------------------------------------------------------------


async def test_envelope_scenarios(site: MockQwen, guest: Guest) -> None:
    chat_id = await guest.chat_id()
    expected = {
        "bad_request_headers": ("Bad_Request", "400"),
        "chat_in_progress": ("Bad_Request", "400"),
        "rate_limited": ("RateLimited", "429"),
        "model_refused": ("Forbidden", "403"),
    }
    for name, (code, actual) in expected.items():
        site.scenario(name, times=1)
        reply = await guest.complete(chat_id, "hi")
        assert (reply.json()["data"]["code"], reply.headers["x-actual-status-code"]) == (
            code,
            actual,
        ), name
    assert answer_text((await guest.complete(chat_id, "hi")).body) == "ECHO: hi"


async def test_rate_limits(site: MockQwen, guest: Guest) -> None:
    chat_id = await guest.chat_id()
    site.scenario("rate_limited", {"sse": True}, times=1)
    in_stream = await guest.complete(chat_id, "hi")
    site.configure(rpm_per_ip=1)
    over = await guest.complete(chat_id, "hi")

    assert frames(in_stream.body)[-1] == {
        "error": {"code": "Too_Many_Requests", "details": "Too many requests, please try later."}
    }
    assert over.json()["data"]["code"] == "RateLimited"


@pytest.mark.parametrize("how", ["scenario", "model"])
async def test_forbidden_models_give_an_empty_completion(
    site: MockQwen, guest: Guest, how: str
) -> None:
    model = "qwen3.8-max" if how == "model" else "qwen3.7-plus"
    if how == "scenario":
        site.scenario("model_forbidden", times=1)
    reply = await guest.complete(await guest.chat_id(model), "hi", model=model)
    assert list(frames(reply.body)[0]) == ["response.created"]
    assert deltas(reply.body) == [
        {"content": "", "role": "assistant", "status": "finished", "phase": "answer"}
    ]


@pytest.mark.parametrize("status", [401, 403, 429, 500, 502, 503])
async def test_http_scenarios(site: MockQwen, guest: Guest, status: int) -> None:
    chat_id = await guest.chat_id()
    site.scenario(f"http_{status}", {"body": "html" if status >= 502 else "json"}, times=1)
    reply = await guest.complete(chat_id, "hi")
    assert reply.status == status
    assert ("<html>" in reply.text) == (status >= 502)
    assert ("Retry-After" in reply.headers) == (status in (429, 503))


async def test_http_scenario_on_every_path(site: MockQwen, guest: Guest) -> None:
    site.scenario("http_503", {"on": "all"})
    async with guest.session.get(f"{site.base_url}/c/guest") as page:
        assert page.status == 503
    async with guest.session.get(f"{site.base_url}/__mock__/state") as control:
        assert control.status == 200


async def test_malformed_streams(site: MockQwen, guest: Guest) -> None:
    chat_id = await guest.chat_id()

    async def bent(variant: str) -> Any:
        site.scenario("malformed_stream", {"variant": variant}, times=1)
        return await guest.complete(chat_id, "naïve — ✓", thinking=False)

    assert b'data: {"choices":[{"delta":{"content":"trunc\n\n' in (await bent("invalid_json")).body
    assert b"} \r\n\r\n" in (await bent("crlf")).body
    assert answer_text((await bent("split_utf8")).body) == "ECHO: naïve — ✓"
    assert b'"sig":"from bx"' in (await bent("unknown_event")).body
    assert (await bent("html_content_type")).headers["Content-Type"].startswith("text/html")
    assert deltas((await bent("missing_terminator")).body)[-1]["status"] == "typing"
    assert events((await bent("duplicate_done")).body)[-2:] == ["[DONE]", "[DONE]"]
    assert frames((await bent("usage_before_last")).body)[-3]["choices"] == []
    assert deltas((await bent("user_echo")).body)[0] == {"role": "user", "content": "naïve — ✓"}
    assert [r.status for r in site.requests(COMPLETIONS)] == [200] * 9


async def test_cumulative_stream(site: MockQwen, guest: Guest) -> None:
    site.configure(chunk_chars=3)
    site.scenario("cumulative_stream", times=1)
    reply = await guest.complete(await guest.chat_id(), "abcdefg", thinking=False)
    contents = [d["content"] for d in deltas(reply.body)][:-1]
    assert contents == ["ECH", "ECHO: ", "ECHO: abc", "ECHO: abcdef", "ECHO: abcdefg"]


async def test_abort_resets_the_connection(site: MockQwen, guest: Guest) -> None:
    site.scenario("abort", {"after_frames": 2}, times=1)
    with pytest.raises(aiohttp.ClientError):
        await guest.complete(await guest.chat_id(), "hi")
    [rec] = await site.wait_requests(COMPLETIONS)
    assert rec.end == "aborted"


async def test_waf_challenge_passes_once_its_cookie_is_set(site: MockQwen, guest: Guest) -> None:
    chat_id = await guest.chat_id()
    site.scenario("waf_js_challenge", {"pages": False})
    challenge = await guest.complete(chat_id, "hi")
    arg1 = challenge.text.split("var arg1 = '")[1].split("'")[0]
    guest.session.cookie_jar.update_cookies(
        {"acw_sc__v2": waf_answer(arg1)}, URL(str(site.base_url))
    )
    passed = await guest.complete(chat_id, "hi")

    assert '<meta name="aliyun_waf_aa"' in challenge.text
    assert 'onload="check()"' in challenge.text
    assert answer_text(passed.body) == "ECHO: hi"
    assert [r.outcome("waf") for r in site.requests(COMPLETIONS)] == [Outcome.FAIL, Outcome.PASS]


async def test_fixed_routes(site: MockQwen, guest: Guest) -> None:
    async with guest.session.get(f"{site.base_url}/api/v2/models") as listed:
        ids = [
            (m["id"], m["info"]["is_visitor_active"]) for m in (await listed.json())["data"]["data"]
        ]
    legacy = await guest.post("/api/chat/completions", {}, guest.headers())
    async with guest.session.get(
        f"{site.base_url}/g/qwenweb/qwen-chat-fe/0.2.91/js/main.js"
    ) as stale:
        assert stale.status == 404
    async with guest.session.get(f"{site.base_url}/api/v1/auths/") as auths:
        assert auths.status == 401

    assert ids == [("qwen3.7-plus", True), ("qwen3.6-plus", True), ("qwen3.8-max", False)]
    assert legacy.status == 504
    assert "text/html" in legacy.headers["Content-Type"]


async def test_scenario_params_are_checked(site: MockQwen, guest: Guest) -> None:
    scenario = f"{site.base_url}/__mock__/scenario"
    for bad in (
        {"name": "nope"},
        {"name": "stall", "params": {"afterframes": 1}},
        {"name": "malformed_stream", "params": {"variant": "x"}},
    ):
        async with guest.session.post(scenario, json=bad) as refused:
            assert refused.status == 400, bad
    async with guest.session.post(scenario, json={"name": "punish", "times": 2}) as armed:
        assert armed.status == 200
    async with guest.session.get(f"{site.base_url}/__mock__/state") as state:
        assert (await state.json())["scenarios"][0]["name"] == "punish"


async def test_a_synthetic_drag_does_not_solve_the_slider(site: MockQwen, guest: Guest) -> None:
    site.scenario("punish")
    x5 = (
        (await guest.complete(await guest.chat_id(), "hi"))
        .json()["data"]["url"]
        .split("x5secdata=")[1]
        .split("&")[0]
    )
    track = [{"x": x, "t": x, "trusted": False} for x in range(0, 300, 30)]
    refused = await guest.post(
        "/__mock__/baxia/unpunish", {"x5secdata": x5, "width": 260, "track": track}, {}
    )
    assert refused.status == 400
    assert refused.json()["reason"] == "synthetic (untrusted) events"


def test_knobs_come_from_the_environment() -> None:
    config = env_config({"MOCK_QWEN_INCREMENTAL": "false", "MOCK_QWEN_FRAME_DELAY_MS": "0"})
    assert (config.incremental, config.frame_delay_ms, config.spa_version) == (False, 0, "0.3.11")


async def test_the_threaded_site_serves_from_its_own_loop() -> None:
    with running_qwen(frame_delay_ms=0) as qwen:
        qwen.scenario("cumulative_stream", times=1)
        async with visiting(qwen.base_url) as guest:
            reply = await guest.complete(await guest.chat_id(), "hi", thinking=False)
        [turn] = await qwen.wait_requests_async(COMPLETIONS)
        assert qwen.snapshot()["scenarios"] == []
    assert [d["content"] for d in deltas(reply.body)] == ["ECHO: hi", ""]
    assert turn.outcome("baxia") is Outcome.PASS


async def test_a_client_gone_during_a_stall_frees_the_chat(site: MockQwen, guest: Guest) -> None:
    site.scenario("stall", {"after_frames": 1}, times=1)
    chat_id = await guest.chat_id()
    async with guest.streaming(chat_id, "slow") as stalled:
        await stalled.content.readuntil(b"\n\n")
        stalled.close()  # the idle timeout of a bridge: the browser drops the connection

    [gone] = await site.wait_requests(COMPLETIONS)
    again = await guest.complete(chat_id, "again", parent_id=created_id(gone.response))
    assert gone.end == "disconnected"
    assert answer_text(again.body) == "ECHO: again"


def created_id(body: bytes | bytearray) -> str:
    return str(frames(bytes(body))[0]["response.created"]["response_id"])
