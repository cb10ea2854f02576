"""The chat.z.ai bridge through the real daemon, in real Chromium, against the offline mock site.

The ``zai`` provider has no key in a test daemon and ``[bridges.zai] url`` points at the mock
(tests/fakes/sites/zai), so ``chat.send`` goes through the mock's own page: its SPA mints the
guest, creates the chat, gets the captcha token, signs and sends the completion; the bridge
types, presses Enter and reads the tapped stream. Every row of the failure matrix
(website-bridges.md §5.5) for z.ai maps to one typed error or one recovery here, with the
requests the page made counted on the mock. Two daemons: one as a user runs it (a spare page
loads between calls), one with short timeouts and no spare page, so that a scenario of the
page applies to the very next call.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import result_validator
from tests.fakes.sites.common import Outcome, Recorded, echo_answer, thinking_text
from tests.fakes.sites.echo.support import bridge_config, browser_processes, ended
from tests.fakes.sites.zai.state import ZaiState
from tests.support.daemon import DaemonProcess, running_daemon, serving_daemon
from tests.support.sites import ThreadedSite, running_zai
from tests.support.transports import collect, connected
from tests.support.wsrpc import Rpc, unix_http, websocket

pytestmark = pytest.mark.browser

Zai = ThreadedSite[ZaiState]
TextTest = Callable[[Any], str]
COMPLETIONS = "/api/v2/chat/completions"
CHATS = "/api/v1/chats/new"
SETTINGS = "/api/v1/users/user/settings/update"  # the last request of a page's start
PROMPT = "Reply with exactly: the quick brown fox jumps over the lazy dog"
ANSWER = echo_answer(PROMPT)
HELLO = [{"role": "user", "content": PROMPT}]
GUEST_MODELS = ["x-preview-l", "glm-5.2", "glm-4.7"]  # as the mock's /api/models lists them
# zai answers through the bridge; were a call to take its API path, nothing listens there.
ZAI = """
[daemon]
log_level = "info"
drain_timeout_s = 1

[providers.zai]
base_url = "http://127.0.0.1:9/v1"

[reliability]
retries = 0
"""
FAULT_TIMEOUTS = {"page_load_timeout_s": 5, "first_chunk_timeout_s": 5, "chunk_timeout_s": 2}
BAD_LOG_LINES = ("Task was destroyed", "Unclosed", "exception was never retrieved", "Traceback")


@pytest.fixture(scope="module")
def zai() -> Iterator[Zai]:
    with running_zai(chunk_chars=8, frame_delay_ms=20) as site:
        yield site


@pytest.fixture(autouse=True)
def fresh_site(zai: Zai) -> Iterator[None]:
    yield
    restore(zai)


def restore(zai: Zai) -> None:
    """The site's knobs as they started and no scenario left; its guests stay (a reset would
    forget them, and the daemon's pages would meet an expired session)."""

    async def restored() -> None:
        state = zai.fake.state
        state.scenarios.clear()
        state.config = state.initial

    zai.call(restored())


@pytest.fixture(scope="module")
def daemon(zai: Zai) -> Iterator[DaemonProcess]:
    config = bridge_config({"zai": zai.base_url}, extra=ZAI)
    with serving_daemon(config=config, env={"DISPLAY": "", "WAYLAND_DISPLAY": ""}) as running:
        yield running


async def send(rpc: Rpc, **params: Any) -> dict[str, Any]:
    return await rpc.call("chat.send", {"messages": HELLO, "provider": "zai", **params})


def completions(zai: Zai) -> list[Recorded]:
    return zai.requests(COMPLETIONS)


def statuses(records: list[Recorded]) -> list[int | None]:
    return [r.status for r in records]


async def page_started(zai: Zai, before: int) -> None:
    """Wait until a page (the spare the daemon loads after a call) finished its start."""
    await zai.wait_requests_async(SETTINGS, before + 1, timeout=15)


# --- answers -------------------------------------------------------------------------------------


async def test_a_guest_answer_streams_reasoning_then_text_before_the_result(
    rpc: Rpc, zai: Zai
) -> None:
    before = len(completions(zai))
    call = await rpc.send("chat.send", {"messages": HELLO, "provider": "zai", "stream": True})
    first = await rpc.first_delta(call)  # (asserts the answer has not come yet)
    answer = await rpc.answer(call)

    result = answer["result"]
    result_validator("chat.send")(result)
    deltas = rpc.deltas[call]
    assert first["type"] == "reasoning"
    assert "".join(d["text"] for d in deltas if d["type"] == "reasoning") == thinking_text(PROMPT)
    texts = [d["text"] for d in deltas if d["type"] == "text"]
    assert len(texts) > 3
    assert "".join(texts) == result["message"]["content"] == ANSWER
    assert result["message"]["reasoning"] == thinking_text(PROMPT)
    assert result["provider"] == "zai"
    assert result["finishReason"] == "stop"
    assert result["usage"]["inputTokens"] > 0
    assert [(a["via"], a["outcome"]) for a in result["route"]] == [("bridge", "ok")]
    [completion] = completions(zai)[before:]
    assert result["conversationId"] == completion.body["chat_id"]
    assert all(v.outcome is Outcome.PASS for v in completion.verdicts)  # signed, captcha'd


@pytest.mark.parametrize("transport", ["websocket", "stdio"])
async def test_deltas_come_before_the_answer_on_every_streaming_transport(
    daemon: DaemonProcess, transport: str
) -> None:
    params = {"messages": HELLO, "provider": "zai", "stream": True}
    body = {"jsonrpc": "2.0", "id": "z-1", "method": "chat.send", "params": params}
    async with connected(transport, daemon) as session:
        notes, answer = await collect(session, body)
    deltas = [note["params"] for note in notes if note["method"] == "chat.delta"]
    assert [d["type"] for d in deltas][:1] == ["reasoning"]
    text = "".join(d["text"] for d in deltas if d["type"] == "text")
    assert text == answer["result"]["message"]["content"] == ANSWER


def pause_mid_answer(zai: Zai) -> None:
    """The next answer stops for a while after its first two text frames (frames of
    ``chunk_chars``): what a client got by then came before the end."""
    thinking_frames = -(-len(thinking_text(PROMPT)) // 8)
    zai.scenario("stall", {"after_frames": thinking_frames + 2, "ms": 1500}, times=1)


async def read_sse(response: aiohttp.ClientResponse, zai: Zai, has_text: TextTest) -> list[Any]:
    """The response's SSE events; asserts the first carrying text came while the site's
    stream was still open."""
    events: list[Any] = []
    async for line in response.content:
        if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
            continue
        event = orjson.loads(line[6:])
        if has_text(event) and not any(has_text(e) for e in events):
            assert completions(zai)[-1].end == "open", "the first text came after the end"
        events.append(event)
    return events


def openai_text(chunk: Any) -> str:
    return "".join(c["delta"].get("content") or "" for c in chunk["choices"])


def anthropic_text(event: Any) -> str:
    delta = event.get("delta", {}) if event["type"] == "content_block_delta" else {}
    return str(delta.get("text", "")) if delta.get("type") == "text_delta" else ""


async def test_the_openai_endpoint_streams_from_the_bridge_by_its_web_prefix(
    daemon: DaemonProcess, zai: Zai
) -> None:
    pause_mid_answer(zai)
    body = {"model": "zai-web/x-preview-l", "messages": HELLO, "stream": True}
    async with unix_http(daemon) as http:
        async with http.post("http://sb/v1/chat/completions", json=body) as response:
            assert response.status == 200
            chunks = await read_sse(response, zai, openai_text)
        async with http.get("http://sb/v1/models") as response:
            listed = [m["id"] for m in (await response.json())["data"]]
    pieces = [openai_text(c) for c in chunks]
    assert len([p for p in pieces if p]) > 3
    assert "".join(pieces) == ANSWER
    assert completions(zai)[-1].body["model"] == "x-preview-l"
    assert "zai-web/glm-4.7" in listed


async def test_the_anthropic_endpoint_streams_from_the_bridge(
    daemon: DaemonProcess, zai: Zai
) -> None:
    pause_mid_answer(zai)
    body = {"model": "zai-web/glm-4.7", "max_tokens": 100, "messages": HELLO, "stream": True}
    async with unix_http(daemon) as http, http.post("http://sb/v1/messages", json=body) as r:
        assert r.status == 200
        events = await read_sse(r, zai, anthropic_text)
    texts = [anthropic_text(e) for e in events]
    assert len([t for t in texts if t]) > 3
    assert "".join(texts) == ANSWER
    assert events[-1]["type"] == "message_stop"
    assert completions(zai)[-1].body["model"] == "glm-4.7"


async def test_a_conversation_id_continues_the_same_chat(rpc: Rpc, zai: Zai) -> None:
    first = (await send(rpc))["result"]
    chats = len(zai.requests(CHATS))
    follow = [{"role": "user", "content": "Reply with exactly: and again"}]
    second = (await send(rpc, messages=follow, conversationId=first["conversationId"]))["result"]
    third = (await send(rpc, messages=follow, conversationId=first["conversationId"]))["result"]

    assert second["message"]["content"] == third["message"]["content"] == "and again"
    assert second["conversationId"] == third["conversationId"] == first["conversationId"]
    assert len(zai.requests(CHATS)) == chats, "no new chat was made"
    one, two, three = completions(zai)[-3:]
    assert {r.body["chat_id"] for r in (one, two, three)} == {first["conversationId"]}
    assert two.body["current_user_message_parent_id"] == one.body["id"]
    assert three.body["current_user_message_parent_id"] == two.body["id"]
    assert all(r.outcome("history") is Outcome.PASS for r in (one, two, three))


async def test_a_conversation_reopened_in_a_new_page_continues_too(rpc: Rpc, zai: Zai) -> None:
    first = (await send(rpc))["result"]
    await send(rpc)  # another chat takes the page that showed the first
    follow = [{"role": "user", "content": "Reply with exactly: back again"}]
    again = (await send(rpc, messages=follow, conversationId=first["conversationId"]))["result"]
    assert again["message"]["content"] == "back again"
    assert again["conversationId"] == first["conversationId"]
    assert completions(zai)[-1].outcome("history") is Outcome.PASS


async def test_models_list_reads_the_guest_models_from_the_site(rpc: Rpc) -> None:
    answer = await rpc.call("models.list", {"provider": "zai"})
    assert answer["result"] == {
        "provider": "zai",
        "source": "bridge",
        "models": [{"id": model} for model in GUEST_MODELS],
    }


async def test_a_model_is_chosen_on_the_page(rpc: Rpc, zai: Zai) -> None:
    result = (await send(rpc, model="x-preview-l"))["result"]
    assert result["model"] == "x-preview-l"
    assert completions(zai)[-1].body["model"] == "x-preview-l"


async def test_route_auto_takes_the_bridge_only_without_a_credential(rpc: Rpc, zai: Zai) -> None:
    before = len(completions(zai))
    keyed = await send(rpc, model="glm-4.7", apiKey="sk-test-key-0000")
    assert [a["via"] for a in keyed["error"]["data"]["route"]] == ["api"]  # refused: port 9
    assert len(completions(zai)) == before
    api = await send(rpc, route="api")
    assert api["error"]["code"] == -32012  # no credential for the API path
    assert len(completions(zai)) == before
    forced = await send(rpc, route="bridge", apiKey="sk-test-key-0000")
    assert forced["result"]["route"][-1]["via"] == "bridge"
    assert len(completions(zai)) == before + 1


async def test_prompts_and_answers_stay_out_of_the_log(daemon: DaemonProcess, rpc: Rpc) -> None:
    secret = f"private-{uuid.uuid4().hex}"
    prompt = f"Reply with exactly: {secret}"
    answer = await send(rpc, messages=[{"role": "user", "content": prompt}], stream=True)
    assert answer["result"]["message"]["content"] == secret
    log = daemon.log_text()
    assert "bridge_turn_done" in log
    assert secret not in log


# --- what the site answers instead of an answer (failure matrix, completion side) -------------


async def spare_loaded(zai: Zai, after: Recorded) -> None:
    """Wait until the page the daemon loads after a call (its spare, for the next new chat)
    finished starting: the first page start recorded after ``after``."""
    while not any(r.seq > after.seq for r in zai.requests(SETTINGS) if r.end != "open"):
        done = len([r for r in zai.requests(SETTINGS) if r.end != "open"])
        await zai.wait_requests_async(SETTINGS, done + 1, timeout=15)


async def test_an_expired_guest_session_is_renewed_by_one_reload(rpc: Rpc, zai: Zai) -> None:
    await send(rpc)
    await spare_loaded(zai, completions(zai)[-1])  # a page holding the guest's token
    minted = zai.snapshot()["counters"].get("guests_minted", 0)
    chats, before = len(zai.requests(CHATS)), len(completions(zai))
    zai.scenario("expired_guest_token")  # the site forgets every guest at once

    result = (await send(rpc))["result"]

    assert result["message"]["content"] == ANSWER
    assert statuses(zai.requests(CHATS)[chats:]) == [401, 200]  # the stale page, the reloaded
    assert statuses(completions(zai)[before:]) == [200]
    assert zai.snapshot()["counters"]["guests_minted"] == minted + 1


async def test_a_conversation_of_an_expired_guest_is_reported_gone(rpc: Rpc, zai: Zai) -> None:
    first = (await send(rpc))["result"]
    before = len(completions(zai))
    zai.scenario("expired_guest_token")

    error = (await send(rpc, conversationId=first["conversationId"]))["error"]

    assert error["code"] == -32052
    assert "no such conversation" in error["data"]["detail"]
    assert statuses(completions(zai)[before:]) == [401]  # then the new guest has no such chat


@pytest.mark.parametrize("scenario", ["captcha_missing", "captcha_invalid"])
async def test_a_refused_captcha_token_is_minted_again_by_one_reload(
    rpc: Rpc, zai: Zai, scenario: str
) -> None:
    before = len(completions(zai))
    zai.scenario(scenario, times=1)
    assert (await send(rpc))["result"]["message"]["content"] == ANSWER
    first, second = completions(zai)[before:]
    assert first.outcome("captcha") is Outcome.FAIL
    assert second.outcome("captcha") is Outcome.PASS
    assert first.body["captcha_verify_param"] != second.body["captcha_verify_param"]


async def test_a_captcha_refused_again_after_the_reload_is_handed_to_a_person(
    rpc: Rpc, zai: Zai
) -> None:
    before = len(completions(zai))
    zai.scenario("captcha_invalid", times=3)
    error = (await send(rpc))["error"]
    assert error["code"] == -32050
    assert "security verification" in error["data"]["action"]
    assert "verify_failed" in error["data"]["detail"]
    assert len(completions(zai)[before:]) == 2


async def test_a_visible_captcha_is_handed_to_a_person_and_nothing_is_sent(
    rpc: Rpc, zai: Zai
) -> None:
    before = len(completions(zai))
    challenges = zai.snapshot()["counters"].get("captcha_challenges", 0)
    zai.scenario("captcha_challenge", times=1)

    error = (await send(rpc))["error"]

    assert error["code"] == -32050
    assert "#aliyunCaptcha-window-popup" in error["data"]["detail"]
    assert "security verification" in error["data"]["action"]
    assert zai.snapshot()["counters"]["captcha_challenges"] == challenges + 1
    assert completions(zai)[before:] == []
    status = (await rpc.call("bridges.status", {}))["result"]
    [site] = [s for s in status["sites"] if s["site"] == "zai"]
    assert (site["state"], site["lastError"]["error"]) == ("challenge", "BridgeChallenge")
    assert (await send(rpc))["result"]["message"]["content"] == ANSWER  # the check is gone


async def test_a_rotated_signature_key_is_reported_as_a_site_change_after_one_reload(
    rpc: Rpc, zai: Zai
) -> None:
    before = len(completions(zai))
    zai.scenario("signature_mismatch", times=3)
    error = (await send(rpc))["error"]
    assert error["code"] == -32051
    assert "signature" in error["data"]["detail"].lower()
    assert statuses(completions(zai)[before:]) == [400, 400]


async def test_the_firewall_is_backed_off_for_minutes_after_one_reload(rpc: Rpc, zai: Zai) -> None:
    before = len(completions(zai))
    zai.scenario("waf_block", times=3)
    error = (await send(rpc))["error"]
    assert error["code"] == -32023
    assert error["data"]["retryAfterMs"] == 600_000
    assert "firewall" in error["data"]["detail"]
    assert statuses(completions(zai)[before:]) == [405, 405]


@pytest.mark.parametrize(("params", "back_off"), [({"retry_after_s": 7}, 7_000), ({}, 30_000)])
async def test_a_rate_limit_is_reported_with_its_back_off_and_not_retried(
    rpc: Rpc, zai: Zai, params: dict[str, Any], back_off: int
) -> None:
    before = len(completions(zai))
    zai.scenario("rate_limited", params, times=2)
    error = (await send(rpc))["error"]
    assert error["code"] == -32023
    assert error["data"]["retryAfterMs"] == back_off
    assert statuses(completions(zai)[before:]) == [429]


@pytest.mark.parametrize(
    ("model", "times", "refused"),
    [("", 1, "glm-4.7"), ("glm-5.2", None, "glm-5.2")],
    ids=["scenario", "login-only-model"],
)
async def test_a_model_refused_to_guests_falls_back_to_the_next_one(
    rpc: Rpc, zai: Zai, model: str, times: int | None, refused: str
) -> None:
    before = len(completions(zai))
    if times:
        zai.scenario("model_forbidden", times=times)
    result = (await send(rpc, **({"model": model} if model else {})))["result"]
    assert result["message"]["content"] == ANSWER
    assert result["model"] == "x-preview-l"
    assert [r.body["model"] for r in completions(zai)[before:]] == [refused, "x-preview-l"]


async def test_no_model_left_for_a_guest_is_unsupported(rpc: Rpc, zai: Zai) -> None:
    before = len(completions(zai))
    zai.scenario("model_forbidden", times=3)
    error = (await send(rpc))["error"]
    assert error["code"] == -32013
    assert "user level" in error["data"]["detail"]
    assert len(completions(zai)[before:]) == 2


@pytest.mark.parametrize(
    ("scenario", "code", "reason", "sent"),
    [
        ("http_401", -32052, "session", 2),  # a reload may renew the session: once
        ("http_403", -32052, "site", 1),
        ("http_429", -32023, None, 1),
        ("http_500", -32052, "site", 1),
        ("http_502", -32052, "site", 1),
        ("http_503", -32052, "site", 1),
    ],
)
async def test_an_http_error_maps_to_its_typed_error(
    rpc: Rpc, zai: Zai, scenario: str, code: int, reason: str | None, sent: int
) -> None:
    before = len(completions(zai))
    zai.scenario(scenario, times=3)
    error = (await send(rpc))["error"]
    assert error["code"] == code
    assert error["data"].get("reason") == reason
    assert error["data"]["site"] == "zai"
    assert len(completions(zai)[before:]) == sent


async def test_an_unauthorized_turn_is_sent_again_once_after_a_reload(rpc: Rpc, zai: Zai) -> None:
    before = len(completions(zai))
    zai.scenario("http_401", times=1)
    assert (await send(rpc))["result"]["message"]["content"] == ANSWER
    assert statuses(completions(zai)[before:]) == [401, 200]


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
async def test_a_bent_stream_still_answers_whole(rpc: Rpc, zai: Zai, variant: str) -> None:
    zai.scenario("malformed_stream", {"variant": variant}, times=1)
    result = (await send(rpc, stream=True))["result"]
    assert result["message"]["content"] == ANSWER  # (no echo of the prompt in it)
    assert result["message"]["reasoning"] == thinking_text(PROMPT)


async def test_a_stream_without_its_done_frame_is_an_error_not_an_answer(
    rpc: Rpc, zai: Zai
) -> None:
    before = len(completions(zai))
    zai.scenario("malformed_stream", {"variant": "missing_terminator"}, times=1)
    call = await rpc.send("chat.send", {"messages": HELLO, "provider": "zai", "stream": True})
    error = (await rpc.answer(call))["error"]
    assert error["code"] == -32024
    assert "done frame" in error["data"]["detail"]
    assert rpc.deltas[call], "the answer had streamed"
    assert len(completions(zai)[before:]) == 1


async def test_chat_cancel_stops_the_generation_on_the_page(
    daemon: DaemonProcess, zai: Zai
) -> None:
    zai.configure(frame_delay_ms=200)
    async with websocket(daemon) as rpc:
        call = await rpc.send("chat.send", {"messages": HELLO, "provider": "zai", "stream": True})
        await rpc.first_delta(call)
        assert (await rpc.call("chat.cancel", {"requestId": call}))["result"] == {"cancelled": True}
        assert (await rpc.answer(call))["error"]["code"] == -32030
        [stopped] = (await zai.wait_requests_async(COMPLETIONS, len(completions(zai))))[-1:]
        assert stopped.end == "disconnected"
        restore(zai)
        assert (await send(rpc))["result"]["message"]["content"] == ANSWER


# --- what the page shows (failure matrix, page side): a daemon that loads the page per call --


@pytest.fixture(scope="module")
def strict(zai: Zai) -> Iterator[DaemonProcess]:
    bridges = {**FAULT_TIMEOUTS, "spare_page": False}
    config = bridge_config({"zai": zai.base_url}, bridges=bridges, extra=ZAI)
    with serving_daemon(config=config) as running:
        yield running


@pytest.fixture
async def page(strict: DaemonProcess) -> AsyncIterator[Rpc]:
    """A WebSocket RPC connection to the daemon that loads the page for every new chat."""
    async with websocket(strict) as rpc:
        yield rpc


def since(zai: Zai, seq: int, prefix: str | None = None) -> list[Recorded]:
    return [r for r in zai.requests(prefix) if r.seq > seq]


def last_seq(zai: Zai) -> int:
    records = zai.requests()
    return records[-1].seq if records else 0


@pytest.mark.parametrize("mode", ["405", "426"])
async def test_a_page_of_a_stale_build_is_reloaded_once_and_the_turn_sent_again(
    page: Rpc, zai: Zai, mode: str
) -> None:
    first = (await send(page))["result"]  # the conversation's page stays open
    old = completions(zai)[-1].headers["x-fe-version"]
    before = len(completions(zai))
    zai.scenario("stale_fe_version", {"mode": mode})

    again = await send(page, conversationId=first["conversationId"])

    assert again["result"]["message"]["content"] == ANSWER
    stale, fresh = completions(zai)[before:]
    assert (stale.status, stale.headers["x-fe-version"]) == (int(mode), old)
    assert fresh.status == 200
    assert fresh.headers["x-fe-version"] == zai.snapshot()["fe_version"] != old


async def test_refused_guest_sessions_are_reported_without_a_retry_loop(
    page: Rpc, zai: Zai
) -> None:
    seq = last_seq(zai)
    zai.scenario("guest_minting_refused")
    error = (await send(page))["error"]
    assert error["code"] == -32052
    assert error["data"]["reason"] == "site"
    assert "guest session" in error["data"]["detail"]
    assert statuses(since(zai, seq, "/api/v1/auths/")) == [403]
    assert since(zai, seq, COMPLETIONS) == []


@pytest.mark.parametrize("pages", [True, False])
async def test_a_blocked_address_is_backed_off_not_hammered(
    page: Rpc, zai: Zai, pages: bool
) -> None:
    seq = last_seq(zai)
    zai.scenario("ip_block", {"pages": pages})
    error = (await send(page))["error"]
    assert error["code"] == -32023
    assert error["data"]["retryAfterMs"] == 600_000
    made = [r for r in since(zai, seq) if r.path == "/" or r.path.startswith("/api/")]
    blocked = [r for r in made if r.status == 405]  # (besides the browser's own favicon.ico)
    shells = [r for r in made if r.path == "/"]
    # the page blocked: seen at once; only its API blocked: the page is reloaded once
    assert len(shells) == (1 if pages else 2)
    assert len(blocked) == (1 if pages else 2)
    assert since(zai, seq, COMPLETIONS) == []


async def test_a_login_wall_means_guest_use_is_gone(page: Rpc, zai: Zai) -> None:
    zai.scenario("login_wall", times=1)
    error = (await send(page))["error"]
    assert error["code"] == -32052
    assert error["data"]["reason"] == "login"
    assert zai.snapshot()["scenarios"] == [], "the call's own page met the wall"


async def test_a_changed_layout_is_driven_through_its_fallback_selectors(
    page: Rpc, zai: Zai
) -> None:
    before = len(completions(zai))
    zai.scenario("layout_change", times=1)
    assert (await send(page))["result"]["message"]["content"] == ANSWER
    assert zai.snapshot()["scenarios"] == [], "the call's own page had the new layout"
    [completion] = completions(zai)[before:]
    assert completion.body["signature_prompt"] == PROMPT


async def test_a_slow_page_is_waited_for(page: Rpc, zai: Zai) -> None:
    zai.scenario("slow_hydration", {"ms": 1000}, times=1)
    assert (await send(page))["result"]["message"]["content"] == ANSWER
    assert zai.snapshot()["scenarios"] == [], "the call's own page was slow"


async def test_a_page_that_never_shows_its_input_names_what_it_looked_for(
    page: Rpc, zai: Zai
) -> None:
    zai.scenario("slow_hydration", {"ms": 60_000}, times=1)
    error = (await send(page))["error"]
    assert error["code"] == -32051
    assert "textarea#chat-input" in error["data"]["element"]


async def test_a_stream_that_goes_silent_times_out_and_is_stopped(page: Rpc, zai: Zai) -> None:
    zai.scenario("stall", times=1)
    error = (await send(page))["error"]
    assert error["code"] == -32025
    assert error["data"]["phase"] == "idle"
    [stalled] = (await zai.wait_requests_async(COMPLETIONS, len(completions(zai))))[-1:]
    assert stalled.end == "disconnected"


async def test_a_connection_reset_mid_answer_is_an_error_and_not_retried(
    page: Rpc, zai: Zai
) -> None:
    before = len(completions(zai))
    zai.scenario("abort", times=1)
    error = (await send(page))["error"]
    assert error["code"] == -32024
    assert error["data"]["site"] == "zai"
    assert len(completions(zai)[before:]) == 1


# --- the browser and the daemon going away -------------------------------------------------


def lifecycle_config(zai: Zai) -> str:
    return bridge_config({"zai": zai.base_url}, extra=ZAI)


async def streaming(rpc: Rpc) -> str:
    """A long answer under way (its first delta is in)."""
    call = await rpc.send("chat.send", {"messages": HELLO, "provider": "zai", "stream": True})
    await rpc.first_delta(call)
    return call


async def test_a_browser_killed_mid_answer_fails_that_call_and_the_next_succeeds(
    zai: Zai,
) -> None:
    zai.configure(frame_delay_ms=150)
    with running_daemon(config=lifecycle_config(zai)) as daemon:
        async with websocket(daemon) as rpc:
            call = await streaming(rpc)
            status = (await rpc.call("bridges.status", {}))["result"]
            [pid] = [s["pid"] for s in status["sites"] if s["site"] == "zai"]
            os.kill(pid, signal.SIGKILL)
            failed = await rpc.answer(call)
            assert failed["error"]["code"] == -32052
            assert "Chromium" in failed["error"]["data"]["detail"]

            restore(zai)
            assert (await send(rpc))["result"]["message"]["content"] == ANSWER
        assert await asyncio.to_thread(daemon.stop) == 0
        assert not any(line in daemon.log_text() for line in BAD_LOG_LINES)


async def test_a_daemon_stopped_mid_answer_exits_cleanly_leaving_no_browser(zai: Zai) -> None:
    zai.configure(frame_delay_ms=150)
    with running_daemon(config=lifecycle_config(zai)) as daemon:
        async with websocket(daemon) as rpc:
            await streaming(rpc)
            pids = browser_processes(daemon)
            assert len(pids) > 2  # the driver, Chromium and its helpers
            assert await asyncio.to_thread(daemon.stop) == 0
        await ended(pids)
        assert browser_processes(daemon) == []
        assert not any(line in daemon.log_text() for line in BAD_LOG_LINES)
