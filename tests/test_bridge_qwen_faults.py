"""What the Qwen bridge does when chat.qwen.ai misbehaves, through the real daemon in Chromium.

Every Qwen and "both" row of the failure matrix (website-bridges.md §5.5), as the offline mock
plays it (:mod:`tests.fakes.sites.qwen.scenarios`), maps to one typed error or one recovery,
and the mock's records show how many requests the bridge let the page send: at most one more
where a reload is known to help, never a loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.sites.common import Outcome, Recorded, echo_answer
from tests.fakes.sites.echo.support import bridge_config
from tests.fakes.sites.qwen.guest import frames
from tests.fakes.sites.qwen.state import QwenState
from tests.support.daemon import DaemonProcess, serving_daemon
from tests.support.sites import ThreadedSite, running_qwen
from tests.support.wsrpc import Rpc, websocket

pytestmark = pytest.mark.browser

Qwen = ThreadedSite[QwenState]
COMPLETIONS = "/api/v2/chat/completions"
CHATS = "/api/v2/chats/new"
HELLO = [{"role": "user", "content": "hello there"}]
ANSWER = echo_answer("hello there")
TIMEOUTS = {"page_load_timeout_s": 5, "first_chunk_timeout_s": 5, "chunk_timeout_s": 3}
INPUT = "div.message-input-container-area > textarea.message-input-textarea"


@pytest.fixture(scope="module")
def qwen() -> Iterator[Qwen]:
    with running_qwen() as site:
        yield site


@pytest.fixture(autouse=True)
def fresh_site(qwen: Qwen) -> None:
    qwen.reset()


@pytest.fixture(scope="module")
def daemon(qwen: Qwen) -> Iterator[DaemonProcess]:
    # No spare page: each call loads the page anew, so a page scenario counts at once.
    config = bridge_config({"qwen": qwen.base_url}, bridges={**TIMEOUTS, "spare_page": False})
    with serving_daemon(config=config) as running:
        yield running


async def send(rpc: Rpc, **params: Any) -> dict[str, Any]:
    return await rpc.call("chat.send", {"messages": HELLO, "provider": "qwen-portal", **params})


def completions(qwen: Qwen) -> list[Recorded]:
    return [r for r in qwen.requests(COMPLETIONS) if r.path == COMPLETIONS]


async def site_state(rpc: Rpc) -> dict[str, Any]:
    status = (await rpc.call("bridges.status", {}))["result"]
    return next(site for site in status["sites"] if site["site"] == "qwen")


async def answered(rpc: Rpc, **params: Any) -> dict[str, Any]:
    answer = await send(rpc, **params)
    assert "result" in answer, answer
    result: dict[str, Any] = answer["result"]
    return result


async def failed(rpc: Rpc, code: int, **params: Any) -> dict[str, Any]:
    answer = await send(rpc, **params)
    assert answer.get("error", {}).get("code") == code, answer
    data: dict[str, Any] = answer["error"]["data"]
    assert data["site"] == "qwen"
    return data


# --- the site's checks -----------------------------------------------------------------------


async def test_the_firewalls_js_challenge_is_run_by_the_page_itself(rpc: Rpc, qwen: Qwen) -> None:
    qwen.scenario("waf_js_challenge")
    assert (await answered(rpc))["message"]["content"] == ANSWER
    assert [r.verdicts[0].step for r in qwen.requests("/c/guest")] == ["waf", "page"]
    [turn] = completions(qwen)
    assert turn.outcome("waf") is Outcome.PASS


async def test_a_firewall_challenge_on_the_answer_costs_one_reload_then_asks_a_person(
    rpc: Rpc, qwen: Qwen
) -> None:
    qwen.scenario("waf_js_challenge", {"pages": False})
    data = await failed(rpc, -32050)
    assert "verification" in data["action"]
    assert [r.outcome("waf") for r in completions(qwen)] == [Outcome.FAIL] * 2
    assert (await site_state(rpc))["state"] == "challenge"


async def test_a_persistent_firewall_challenge_is_handed_to_a_person(rpc: Rpc, qwen: Qwen) -> None:
    qwen.scenario("waf_js_challenge", {"persistent": True})
    data = await failed(rpc, -32050)
    assert "bridges.open" in data["action"]
    assert completions(qwen) == []
    assert len(qwen.requests("/c/guest")) == 4  # the page's own three tries, no more


async def test_a_slider_passed_in_time_costs_one_reload(rpc: Rpc, qwen: Qwen) -> None:
    qwen.scenario("punish", times=1)
    assert (await answered(rpc))["message"]["content"] == ANSWER
    assert [r.outcome("baxia") for r in completions(qwen)] == [Outcome.FAIL, Outcome.PASS]


async def test_the_anti_bot_slider_is_handed_to_a_person_and_then_the_site_works(
    rpc: Rpc, qwen: Qwen
) -> None:
    qwen.scenario("punish")
    data = await failed(rpc, -32050)
    assert "slider" in data["action"]
    assert "bridges.open" in data["action"]
    assert len(completions(qwen)) == 2
    state = await site_state(rpc)
    assert (state["state"], state["lastError"]["error"]) == ("challenge", "BridgeChallenge")

    qwen.reset()  # (a person dragged the slider)
    assert (await answered(rpc))["message"]["content"] == ANSWER
    assert (await site_state(rpc))["state"] == "ready"


async def test_stale_anti_bot_tokens_at_chat_creation_cost_one_reload(rpc: Rpc, qwen: Qwen) -> None:
    qwen.configure(bx_ttl_s=0.0)  # every page's tokens are stale by the time it sends
    data = await failed(rpc, -32050)
    assert "slider" in data["action"]
    assert [r.outcome("baxia") for r in qwen.requests(CHATS)] == [Outcome.FAIL] * 2
    assert completions(qwen) == []


async def test_stale_anti_bot_tokens_in_a_conversation_cost_one_reload(
    rpc: Rpc, qwen: Qwen
) -> None:
    first = await answered(rpc)
    qwen.set_clock(offset_ms=3_600_000)  # an hour on: the open chat's tokens expired
    follow = [{"role": "user", "content": "Reply with exactly: still here"}]
    second = await answered(rpc, messages=follow, conversationId=first["conversationId"])

    assert second["message"]["content"] == "still here"
    assert second["conversationId"] == first["conversationId"]
    one, punished, retried = completions(qwen)
    assert (punished.outcome("baxia"), retried.outcome("baxia")) == (Outcome.FAIL, Outcome.PASS)
    assert (
        retried.body["parent_id"]
        == frames(bytes(one.response))[0]["response.created"]["response_id"]
    )


# --- the site's refusals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "times", "code", "sent"),
    [
        ("bad_request_headers", 1, None, 2),
        ("bad_request_headers", None, -32051, 2),
        ("chat_in_progress", 1, None, 2),
        ("chat_in_progress", None, -32023, 2),
        ("rate_limited", None, -32023, 1),
        ("model_refused", None, -32013, 2),
    ],
)
async def test_each_refusal_is_retried_at_most_once(
    rpc: Rpc, qwen: Qwen, scenario: str, times: int | None, code: int | None, sent: int
) -> None:
    qwen.scenario(scenario, times=times)
    if code is None:
        assert (await answered(rpc))["message"]["content"] == ANSWER
    else:
        await failed(rpc, code)
    assert len(completions(qwen)) == sent


async def test_a_chat_still_answering_says_how_long_to_wait(rpc: Rpc, qwen: Qwen) -> None:
    qwen.scenario("chat_in_progress")
    assert (await failed(rpc, -32023))["retryAfterMs"] == 5_000


@pytest.mark.parametrize("sse", [False, True])
async def test_a_rate_limit_is_reported_with_its_back_off(rpc: Rpc, qwen: Qwen, sse: bool) -> None:
    qwen.scenario("rate_limited", {"sse": sse})
    assert (await failed(rpc, -32023))["retryAfterMs"] == 60_000
    assert len(completions(qwen)) == 1


async def test_the_sites_requests_per_minute_are_kept(rpc: Rpc, qwen: Qwen) -> None:
    qwen.configure(rpm_per_ip=1)
    await answered(rpc)
    await failed(rpc, -32023)
    assert len(completions(qwen)) == 2


async def test_a_model_the_site_forbids_falls_back_to_the_next_guest_model(
    rpc: Rpc, qwen: Qwen
) -> None:
    qwen.scenario("model_forbidden", times=1)  # an empty completion
    result = await answered(rpc, model="qwen3.7-plus")
    assert (result["model"], result["message"]["content"]) == ("qwen3.6-plus", ANSWER)
    assert [r.body["model"] for r in completions(qwen)] == ["qwen3.7-plus", "qwen3.6-plus"]


async def test_a_model_not_for_guests_falls_back_to_a_guest_model(rpc: Rpc, qwen: Qwen) -> None:
    result = await answered(rpc, model="qwen3.8-max")
    assert result["model"] == "qwen3.7-plus"
    assert [r.body["model"] for r in completions(qwen)] == ["qwen3.8-max", "qwen3.7-plus"]
    assert completions(qwen)[0].verdicts[-1].detail == "empty"


async def test_models_refused_one_after_another_are_unsupported(rpc: Rpc, qwen: Qwen) -> None:
    qwen.scenario("model_refused")
    assert (await failed(rpc, -32013, model="qwen3.6-plus"))["field"] == "model"
    assert [r.body["model"] for r in completions(qwen)] == ["qwen3.6-plus", "qwen3.7-plus"]


async def test_a_model_the_site_does_not_list_is_unknown(rpc: Rpc, qwen: Qwen) -> None:
    await failed(rpc, -32011, model="qwen9-ultra")
    assert completions(qwen) == []


@pytest.mark.parametrize("body", ["json", "html"])
@pytest.mark.parametrize(
    ("status", "code", "reason", "sent"),
    [
        (401, -32052, "session", 2),
        (403, -32052, "site", 1),
        (429, -32023, None, 1),
        (500, -32052, "site", 1),
        (502, -32052, "site", 1),
        (503, -32052, "site", 1),
    ],
)
async def test_each_http_error_of_the_answer_is_typed(
    rpc: Rpc, qwen: Qwen, body: str, status: int, code: int, reason: str | None, sent: int
) -> None:
    qwen.scenario(f"http_{status}", {"body": body})
    data = await failed(rpc, code)
    if reason is not None:
        assert data["reason"] == reason
    else:
        assert data["retryAfterMs"] == 30_000  # the site's Retry-After
    assert len(completions(qwen)) == sent


@pytest.mark.parametrize("body", ["json", "html"])
@pytest.mark.parametrize(("status", "code"), [(503, -32052), (429, -32023), (403, -32052)])
async def test_a_site_refusing_every_page_is_reported_at_once(
    rpc: Rpc, qwen: Qwen, body: str, status: int, code: int
) -> None:
    qwen.scenario(f"http_{status}", {"body": body, "on": "all"})
    data = await failed(rpc, code)
    assert "every page" in data["detail"]
    assert completions(qwen) == []


# --- the stream ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "invalid_json",
        "crlf",
        "split_utf8",
        "unknown_event",
        "html_content_type",
        "duplicate_done",
        "usage_before_last",
        "user_echo",
    ],
)
async def test_a_malformed_stream_still_gives_the_answer(
    rpc: Rpc, qwen: Qwen, variant: str
) -> None:
    qwen.scenario("malformed_stream", {"variant": variant}, times=1)
    prompt = "Reply with exactly: naïve — ✓ twice: naïve — ✓"
    result = await answered(rpc, messages=[{"role": "user", "content": prompt}])
    assert result["message"]["content"] == "naïve — ✓ twice: naïve — ✓"
    assert len(completions(qwen)) == 1


async def test_a_stream_without_its_end_is_an_error_not_an_answer(rpc: Rpc, qwen: Qwen) -> None:
    qwen.scenario("malformed_stream", {"variant": "missing_terminator"}, times=1)
    await failed(rpc, -32024)
    assert len(completions(qwen)) == 1


async def test_a_cumulative_stream_is_said_once(rpc: Rpc, qwen: Qwen) -> None:
    qwen.configure(chunk_chars=3)
    qwen.scenario("cumulative_stream", times=1)
    call = await rpc.send(
        "chat.send", {"messages": HELLO, "provider": "qwen-portal", "stream": True}
    )
    answer = await rpc.answer(call)
    assert answer["result"]["message"]["content"] == ANSWER
    texts = [d["text"] for d in rpc.deltas[call] if d["type"] == "text"]
    assert "".join(texts) == ANSWER


@pytest.mark.parametrize(("after", "phase"), [(0, "first chunk"), (1, "idle")])
async def test_a_silent_stream_times_out_and_its_request_is_stopped(
    rpc: Rpc, qwen: Qwen, after: int, phase: str
) -> None:
    qwen.scenario("stall", {"after_frames": after}, times=1)
    assert (await failed(rpc, -32025))["phase"] == phase
    await qwen.wait_requests_async(COMPLETIONS, 1 + after)  # (with the page's stop, if sent)
    [turn] = completions(qwen)
    assert turn.end == "disconnected" or turn.verdicts[-1].detail == "stopped"


async def test_a_connection_reset_mid_answer_is_an_error(rpc: Rpc, qwen: Qwen) -> None:
    qwen.scenario("abort", {"after_frames": 2}, times=1)
    await failed(rpc, -32024)
    [turn] = completions(qwen)
    assert turn.end == "aborted"


async def test_chat_cancel_stops_the_answer_on_the_site(daemon: DaemonProcess, qwen: Qwen) -> None:
    qwen.configure(chunk_chars=2, frame_delay_ms=200)
    async with websocket(daemon) as rpc:
        call = await rpc.send(
            "chat.send", {"messages": HELLO, "provider": "qwen-portal", "stream": True}
        )
        await rpc.first_delta(call)
        assert (await rpc.call("chat.cancel", {"requestId": call}))["result"] == {"cancelled": True}
        assert (await rpc.answer(call))["error"]["code"] == -32030
        ended = await qwen.wait_requests_async(COMPLETIONS, 2)
        [stop] = [r for r in ended if r.path.endswith("/stop")]
        [turn] = [r for r in ended if r.path == COMPLETIONS]
        assert stop.body["chat_id"] == turn.param("chat_id")
        assert turn.verdicts[-1].detail == "stopped" or turn.end == "disconnected"
        qwen.configure(chunk_chars=40, frame_delay_ms=5)
        assert (await answered(rpc))["message"]["content"] == ANSWER


# --- the page --------------------------------------------------------------------------------


async def test_a_changed_layout_is_driven_through_its_fallbacks(rpc: Rpc, qwen: Qwen) -> None:
    qwen.scenario("layout_change", times=1)
    result = await answered(rpc, model="qwen3.6-plus")
    assert result["message"]["content"] == ANSWER
    [load] = qwen.requests("/c/guest")
    assert load.verdicts[-1].detail == "layout_change"
    [turn] = completions(qwen)
    assert turn.body["model"] == "qwen3.6-plus"


async def test_a_login_wall_means_guest_use_is_gone(rpc: Rpc, qwen: Qwen) -> None:
    qwen.scenario("login_wall", times=1)
    assert (await failed(rpc, -32052))["reason"] == "login"
    assert completions(qwen) == []


async def test_the_keep_session_popup_is_dismissed_first(rpc: Rpc, qwen: Qwen) -> None:
    qwen.scenario("keep_session_popup", times=1)
    assert (await answered(rpc))["message"]["content"] == ANSWER


async def test_a_slow_page_is_waited_for(rpc: Rpc, qwen: Qwen) -> None:
    qwen.scenario("slow_hydration", {"ms": 1500}, times=1)
    assert (await answered(rpc))["message"]["content"] == ANSWER


async def test_a_page_that_never_shows_its_input_names_what_it_looked_for(
    rpc: Rpc, qwen: Qwen
) -> None:
    qwen.scenario("slow_hydration", {"ms": 60_000}, times=1)
    data = await failed(rpc, -32051)
    assert INPUT in data["element"]
    assert "[contenteditable=true][role=textbox]" in data["element"]
    assert (await site_state(rpc))["state"] == "broken"
    assert completions(qwen) == []
