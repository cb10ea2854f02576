"""The mock chat.z.ai's server (website-bridges.md §2, §5.2, §5.5), spoken to from Python the
way the site's own page speaks: every validation step of the completion with the refusal the real
site answers, the SSE bytes and their variants, the timing knobs, and the control plane. The
page itself, in real Chromium, is tests/test_mock_zai_spa.py.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from tests.fakes.sites.common import Outcome, echo_answer, thinking_text
from tests.fakes.sites.zai.app import MockZai, env_config, running_site
from tests.fakes.sites.zai.config import (
    HTTP_SCENARIOS,
    STREAM_VARIANTS,
    Step,
    ZaiConfig,
    ZaiScenario,
)
from tests.fakes.sites.zai.wire import (
    CAPTCHA_FAILED,
    CAPTCHA_MISSING,
    FINGERPRINT_KEYS,
    GUEST_REFUSED,
    SESSION_EXPIRED,
    SIGNATURE_FAILED,
    STALE_CLIENT,
    USER_LEVEL,
    signature,
)
from tests.support.sites import (
    ZAI_SIGNATURE_VECTOR,
    ZAI_VECTOR_SIGNATURE,
    running_zai,
    sse_events,
)

COMPLETIONS = "/api/v2/chat/completions"
PROMPT = "Reply with exactly: the quick brown fox jumps over the lazy dog, twice over and again"
ALL_PASS = [step for step in Step if step is not Step.SCENARIO]


def phases(raw: bytes | bytearray) -> list[str]:
    return [e["data"].get("phase", "") for e in sse_events(raw) if isinstance(e, dict)]


def answer_text(raw: bytes | bytearray, phase: str = "answer") -> str:
    return "".join(
        e["data"].get("delta_content", "")
        for e in sse_events(raw)
        if isinstance(e, dict) and e["data"].get("phase") == phase and "role" not in e["data"]
    )


# -- the pipeline, spoken to from Python ------------------------------------------------------


@dataclass
class Call:
    """One completion request as the page would send it; tests bend one part of it."""

    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]
    guest: dict[str, Any] = field(default_factory=dict)


class Wire:
    """The SPA's requests, made from Python against a running mock."""

    def __init__(self, site: MockZai, http: aiohttp.ClientSession) -> None:
        self.site, self.http = site, http
        self.base = str(site.base_url)
        self.headers: Any = {}

    async def guest(self, token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.get(f"{self.base}/api/v1/auths/", headers=headers) as response:
            assert response.status == 200, await response.text()
            guest: dict[str, Any] = await response.json()
            return guest

    async def captcha(self, origin: str | None = None) -> str:
        payload = {"sceneId": "didk33e0", "origin": origin or self.base}
        async with self.http.post(f"{self.base}/__mock__/captcha/issue", json=payload) as response:
            param: str = (await response.json())["param"]
            return param

    async def chat(self, guest: dict[str, Any], user_id: str, model: str) -> str:
        message = {"id": user_id, "parentId": None, "role": "user", "content": PROMPT}
        chat = {
            "title": "New Chat",
            "models": [model],
            "history": {"messages": {user_id: message}, "currentId": user_id},
        }
        headers = {"Authorization": f"Bearer {guest['token']}"}
        url = f"{self.base}/api/v1/chats/new"
        async with self.http.post(url, json={"chat": chat}, headers=headers) as response:
            assert response.status == 200, await response.text()
            chat_id: str = (await response.json())["id"]
            return chat_id

    async def prepare(
        self, prompt: str = PROMPT, *, guest: dict[str, Any] | None = None, model: str = "glm-4.7"
    ) -> Call:
        guest = guest or await self.guest()
        user_id, ts, request_id = (
            str(uuid.uuid4()),
            str(self.site.state.clock.now_ms()),
            str(uuid.uuid4()),
        )
        query = {key: "x" for key in FINGERPRINT_KEYS}
        query |= {
            "timestamp": ts,
            "signature_timestamp": ts,
            "requestId": request_id,
            "user_id": guest["id"],
            "token": guest["token"],
        }
        body = {
            "stream": True,
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "signature_prompt": prompt,
            "features": {"enable_thinking": True},
            "chat_id": await self.chat(guest, user_id, model),
            "id": str(uuid.uuid4()),
            "current_user_message_id": user_id,
            "current_user_message_parent_id": None,
            "captcha_verify_param": await self.captcha(),
        }
        headers = {
            "Authorization": f"Bearer {guest['token']}",
            "X-FE-Version": self.site.state.config.fe_version,
            "X-Signature": signature(request_id, ts, guest["id"], prompt, VECTOR_KEY),
            "X-Region": "overseas",
            "X-Device-Id": "uid_0123456789abcdef",
        }
        return Call(query, headers, body, guest)

    async def send(self, call: Call) -> tuple[int, str, bytes]:
        url = f"{self.base}{COMPLETIONS}"
        async with self.http.post(
            url, params=call.query, headers=call.headers, json=call.body
        ) as r:
            self.headers = r.headers
            return r.status, r.headers.get("Content-Type", ""), await r.read()

    def last(self) -> Any:
        return self.site.requests(COMPLETIONS)[-1]


VECTOR_KEY = ZaiConfig().signature_key


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    async with (
        running_site(ZaiConfig(frame_delay_ms=0)) as site,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
    ):
        yield Wire(site, http)


def test_the_signature_recipe_gives_the_reference_test_vector() -> None:
    v = ZAI_SIGNATURE_VECTOR
    made = signature(v["requestId"], v["timestamp"], v["userId"], v["prompt"], VECTOR_KEY)
    assert made == ZAI_VECTOR_SIGNATURE


async def test_a_well_formed_turn_passes_every_step_and_streams_thinking_answer_usage_done(
    wire: Wire,
) -> None:
    status, content_type, raw = await wire.send(await wire.prepare())

    assert (status, content_type) == (200, "text/event-stream; charset=utf-8")
    assert [(v.step, v.outcome) for v in wire.last().verdicts] == [
        (s, Outcome.PASS) for s in ALL_PASS
    ]
    order = phases(raw)
    assert order[0] == "thinking"
    assert order[-1] == "done"
    assert order[-3:] == ["other", "answer", "done"]  # usage before the last answer frame
    assert answer_text(raw) == echo_answer(PROMPT)
    assert answer_text(raw, "thinking") == thinking_text(PROMPT)
    usage = next(e["data"]["usage"] for e in sse_events(raw) if e["data"].get("phase") == "other")
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert b"[DONE]" not in raw


async def test_a_wrong_signature_is_refused_400_and_no_later_step_runs(wire: Wire) -> None:
    call = await wire.prepare()
    call.headers["X-Signature"] = "0" * 64

    status, _, raw = await wire.send(call)

    assert (status, json.loads(raw)) == (400, {"detail": SIGNATURE_FAILED})
    assert wire.last().outcome(Step.SIGNATURE) is Outcome.FAIL
    assert wire.last().outcome(Step.CHAT) is None


async def test_signature_mismatch_rotates_the_key_for_the_next_request_only(wire: Wire) -> None:
    wire.site.scenario("signature_mismatch", times=1)

    refused = await wire.send(await wire.prepare())
    accepted = await wire.send(await wire.prepare())

    assert (refused[0], json.loads(refused[2])) == (400, {"detail": SIGNATURE_FAILED})
    assert accepted[0] == 200
    assert phases(accepted[2])[-1] == "done"


async def test_the_signature_holds_for_five_minutes_of_clock_skew_only(wire: Wire) -> None:
    call = await wire.prepare()
    wire.site.set_clock(offset_ms=301_000)

    status, _, _ = await wire.send(call)

    assert status == 400
    assert "from server time" in wire.last().verdicts[3].detail


@pytest.mark.parametrize("stripped", [False, True])
async def test_a_prompt_signed_trimmed_passes_only_when_configured(
    wire: Wire, stripped: bool
) -> None:
    wire.site.configure(sig_accept_stripped=stripped)
    call = await wire.prepare("  padded prompt  ")
    q = call.query
    call.headers["X-Signature"] = signature(
        q["requestId"], q["timestamp"], q["user_id"], "padded prompt", VECTOR_KEY
    )

    status, _, _ = await wire.send(call)

    assert status == (200 if stripped else 400)


@pytest.mark.parametrize(("mode", "status"), [("405", 405), ("426", 426)])
async def test_a_stale_build_gets_the_waf_page_or_426(wire: Wire, mode: str, status: int) -> None:
    wire.site.configure(stale_fe_mode=mode)
    call = await wire.prepare()
    call.headers["X-FE-Version"] = "prod-fe-1.1.10"

    got, content_type, raw = await wire.send(call)

    assert got == status
    if mode == "405":
        assert content_type.startswith("text/html")
        assert b"<title>405</title>" in raw
        assert b"Sorry, your request has been blocked" in raw
    else:
        assert json.loads(raw) == {"detail": STALE_CLIENT}
    assert wire.last().outcome(Step.WAF) is Outcome.FAIL


async def test_missing_captcha_is_an_sse_error_frame_of_http_200(wire: Wire) -> None:
    call = await wire.prepare()
    del call.body["captcha_verify_param"]

    status, content_type, raw = await wire.send(call)

    [frame] = sse_events(raw)
    error = frame["data"]["error"]
    assert (status, content_type) == (200, "text/event-stream; charset=utf-8")
    assert frame["data"]["done"] is True
    assert frame["data"]["data"]["error"] == error
    assert error == {
        "code": "FRONTEND_CAPTCHA_REQUIRED",
        "captcha_error_type": "missing_param",
        "detail": CAPTCHA_MISSING,
    }


async def test_a_spent_or_foreign_captcha_token_fails_verification_f003(wire: Wire) -> None:
    first = await wire.prepare()
    assert (await wire.send(first))[0] == 200
    reused = await wire.prepare()
    reused.body["captcha_verify_param"] = first.body["captcha_verify_param"]
    foreign = await wire.prepare()
    foreign.body["captcha_verify_param"] = await wire.captcha("https://elsewhere.example")

    for call in (reused, foreign):
        _, _, raw = await wire.send(call)
        error = sse_events(raw)[0]["data"]["error"]
        assert (error["captcha_error_type"], error["verify_code"]) == ("verify_failed", "F003")
        assert error["detail"] == CAPTCHA_FAILED
    assert "reused" in wire.site.requests(COMPLETIONS)[1].verdicts[-1].detail


@pytest.mark.parametrize(
    ("scenario", "kind"),
    [("captcha_missing", "missing_param"), ("captcha_invalid", "verify_failed")],
)
async def test_captcha_scenarios_refuse_a_good_token(wire: Wire, scenario: str, kind: str) -> None:
    wire.site.scenario(scenario)

    _, _, raw = await wire.send(await wire.prepare())

    assert sse_events(raw)[0]["data"]["error"]["captcha_error_type"] == kind


async def test_the_fingerprint_and_device_id_are_required_else_426(wire: Wire) -> None:
    no_screen, no_device = await wire.prepare(), await wire.prepare()
    del no_screen.query["screen_width"]
    del no_device.headers["X-Device-Id"]

    for call in (no_screen, no_device):
        status, _, raw = await wire.send(call)
        assert (status, json.loads(raw)) == (426, {"detail": STALE_CLIENT})
    wire.site.configure(strict_fingerprint=False)
    assert (await wire.send(await wire.prepare()))[0] == 200


async def test_a_forgotten_guest_gets_401_and_its_stale_bearer_a_new_guest(wire: Wire) -> None:
    call = await wire.prepare()
    wire.site.scenario("expired_guest_token")

    status, _, raw = await wire.send(call)
    fresh = await wire.guest(call.guest["token"])

    assert (status, json.loads(raw)) == (401, {"detail": SESSION_EXPIRED})
    assert fresh["id"] != call.guest["id"]
    assert fresh["email"].startswith("Guest-")
    assert (await wire.guest(fresh["token"]))["id"] == fresh["id"]  # a live bearer keeps its guest


async def test_guests_expire_after_guest_ttl_s(wire: Wire) -> None:
    wire.site.configure(guest_ttl_s=10.0)
    guest = await wire.guest()
    wire.site.set_clock(offset_ms=11_000)

    assert (await wire.guest(guest["token"]))["id"] != guest["id"]


async def test_guest_minting_refused_is_403_detail(wire: Wire) -> None:
    wire.site.scenario("guest_minting_refused", times=1)
    async with wire.http.get(f"{wire.base}/api/v1/auths/") as response:
        assert (response.status, await response.json()) == (403, {"detail": GUEST_REFUSED})
    assert (await wire.guest())["role"] == "guest"


async def test_another_guests_chat_is_404(wire: Wire) -> None:
    call, other = await wire.prepare(), await wire.prepare()
    call.body["chat_id"] = other.body["chat_id"]

    status, _, raw = await wire.send(call)

    assert (status, json.loads(raw)) == (404, {"detail": "Chat not found"})


@pytest.mark.parametrize("how", ["login-only model", "model_forbidden"])
async def test_a_model_refused_to_guests_is_a_user_level_error_frame(wire: Wire, how: str) -> None:
    if how == "model_forbidden":
        wire.site.scenario("model_forbidden")
    call = await wire.prepare(model="glm-5.2" if how == "login-only model" else "glm-4.7")

    status, _, raw = await wire.send(call)

    assert status == 200
    assert sse_events(raw) == [
        {
            "type": "chat:completion",
            "data": {"error": {"code": 403, "detail": USER_LEVEL}, "done": True},
        }
    ]


@pytest.mark.parametrize("name", sorted(HTTP_SCENARIOS))
async def test_http_scenarios_answer_their_status(wire: Wire, name: str) -> None:
    wire.site.scenario(name, times=1)

    status, content_type, raw = await wire.send(await wire.prepare())

    assert status == HTTP_SCENARIOS[ZaiScenario(name)]
    html = status in (502, 503)
    assert content_type.startswith("text/html" if html else "application/json")
    assert (b"<html>" in raw) if html else ("detail" in json.loads(raw))
    assert (await wire.send(await wire.prepare()))[0] == 200


async def test_waf_block_and_the_legacy_path_answer_the_405_page(wire: Wire) -> None:
    wire.site.scenario("waf_block", times=1)
    blocked = await wire.send(await wire.prepare())
    async with wire.http.post(f"{wire.base}/api/chat/completions", json={}) as response:
        legacy = response.status, await response.text()

    assert blocked[0] == 405
    assert b"<title>405</title>" in blocked[2]
    assert legacy[0] == 405
    assert "<title>405</title>" in legacy[1]


async def test_rate_limits_answer_429(wire: Wire) -> None:
    wire.site.scenario("rate_limited", {"retry_after_s": 30}, times=1)
    assert (await wire.send(await wire.prepare()))[0] == 429
    assert wire.headers["Retry-After"] == "30"
    wire.site.configure(rpm_per_ip=2)
    assert (await wire.send(await wire.prepare()))[0] == 200
    status, _, raw = await wire.send(await wire.prepare())
    assert (status, json.loads(raw)) == (429, {"detail": "Too Many Requests"})


async def test_a_second_stream_of_one_guest_is_429_while_the_first_stalls(wire: Wire) -> None:
    wire.site.scenario("stall", {"after_frames": 2}, times=1)
    first = await wire.prepare()
    url = f"{wire.base}{COMPLETIONS}"
    async with wire.http.post(url, params=first.query, headers=first.headers, json=first.body) as r:
        head = b""
        while head.count(b"\n\n") < 2:
            head += await r.content.readany()
        assert wire.site.requests(COMPLETIONS)[0].end == "open"  # stalled, not ended

        status, _, raw = await wire.send(await wire.prepare(guest=first.guest))
        assert (status, json.loads(raw)) == (429, {"detail": "Too many concurrent requests"})

        wire.site.reset()  # ends the stall
        rest = await r.read()
    assert phases(head + rest)[-1] == "done"


async def test_ip_block_after_blocks_the_address_pages_included(wire: Wire) -> None:
    wire.site.configure(ip_block_after=1)
    assert (await wire.send(await wire.prepare()))[0] == 200
    call = await wire.prepare()
    assert (await wire.send(call))[0] == 405
    async with wire.http.get(f"{wire.base}/") as page:
        assert page.status == 405
    assert wire.site.state.snapshot()["blocked"] == ["127.0.0.1"]


async def test_the_ip_block_scenario_can_spare_pages(wire: Wire) -> None:
    call = await wire.prepare()
    wire.site.scenario("ip_block", {"pages": False})
    async with wire.http.get(f"{wire.base}/") as page:
        assert page.status == 200
    assert (await wire.send(call))[0] == 405


@pytest.mark.parametrize("how", ["scenario", "knob"])
async def test_abort_resets_the_connection_after_two_frames(wire: Wire, how: str) -> None:
    if how == "scenario":
        wire.site.scenario("abort", times=1)
    else:
        wire.site.configure(abort_after_frames=2)
    call = await wire.prepare()

    with pytest.raises(aiohttp.ClientError):
        await wire.send(call)

    rec = wire.last()
    assert rec.end == "aborted"
    assert len(sse_events(rec.response)) == 2


async def chunks_of(wire: Wire, call: Call) -> list[bytes]:
    url = f"{wire.base}{COMPLETIONS}"
    pieces, current = [], b""
    async with wire.http.post(url, params=call.query, headers=call.headers, json=call.body) as r:
        async for data, end_of_chunk in r.content.iter_chunks():
            current += data
            if end_of_chunk:
                pieces.append(current)
                current = b""
    return pieces


async def test_frames_are_cut_across_writes_unless_split_frames_is_off(wire: Wire) -> None:
    cut = await chunks_of(wire, await wire.prepare())
    wire.site.configure(split_frames=False)
    whole = await chunks_of(wire, await wire.prepare())

    assert any(not piece.endswith(b"\n\n") for piece in cut)
    assert all(piece.endswith(b"\n\n") for piece in whole)


async def test_split_utf8_cuts_inside_a_character(wire: Wire) -> None:
    wire.site.scenario("malformed_stream", {"variant": "split_utf8"})
    pieces = await chunks_of(wire, await wire.prepare())

    assert any(0x80 <= piece[0] < 0xC0 for piece in pieces[1:])
    assert answer_text(b"".join(pieces), "thinking") == thinking_text(PROMPT)


VARIANT_CHECKS: dict[str, Callable[[bytes], bool]] = {
    "invalid_json": lambda raw: any(isinstance(e, str) for e in sse_events(raw)),
    "crlf": lambda raw: b"\r\n\r\n" in raw and b"\n\n" not in raw.replace(b"\r\n", b""),
    "unknown_events": lambda raw: (
        {"chat:title", "chat:tags", "notification", "conn:heartbeat", "status", "mock:unknown"}
        <= {e["type"] for e in sse_events(raw)}
    ),
    "missing_terminator": lambda raw: phases(raw)[-1] == "answer",
    "duplicate_done": lambda raw: raw.endswith(b"data: [DONE]\n\ndata: [DONE]\n\n"),
    "usage_before_last": lambda raw: phases(raw)[-3:] == ["other", "answer", "done"],
    "user_echo": lambda raw: any(e["data"].get("role") == "user" for e in sse_events(raw)),
    "split_utf8": lambda raw: phases(raw)[-1] == "done",
}


@pytest.mark.parametrize("variant", sorted(set(STREAM_VARIANTS) - {"html_content_type"}))
async def test_malformed_stream_variants(wire: Wire, variant: str) -> None:
    wire.site.scenario("malformed_stream", {"variant": variant})

    status, content_type, raw = await wire.send(await wire.prepare())

    assert (status, content_type) == (200, "text/event-stream; charset=utf-8")
    assert VARIANT_CHECKS[variant](raw)


async def test_malformed_html_content_type_serves_sse_as_html(wire: Wire) -> None:
    wire.site.scenario("malformed_stream", {"variant": "html_content_type"})
    _, content_type, raw = await wire.send(await wire.prepare())
    assert content_type == "text/html; charset=utf-8"
    assert phases(raw)[-1] == "done"


async def test_stream_options_sentinel_legacy_thinking_noise_and_tools(wire: Wire) -> None:
    wire.site.configure(
        emit_done_sentinel=True,
        thinking_style="legacy_details",
        noise_events=True,
        deep_search=True,
    )

    _, _, raw = await wire.send(await wire.prepare())

    text = ""
    for e in sse_events(raw):
        data = e["data"] if isinstance(e, dict) and e["type"] == "chat:completion" else {}
        if "edit_content" in data:
            text = text[: data["edit_index"]] + data["edit_content"]
        elif data.get("phase") in ("thinking", "answer") and "role" not in data:
            text += data["delta_content"]
    assert text.startswith('<details type="reasoning" done="false">')
    assert "> The prompt is" in text
    assert text.endswith("\n</details>\n" + echo_answer(PROMPT))
    completion = [
        e["data"] for e in sse_events(raw) if isinstance(e, dict) and e["type"] == "chat:completion"
    ]
    calls = [data for data in completion if data.get("phase") == "tool_call"]
    assert "tool_call_id" in calls[0]["metadata"]
    assert calls[1]["metadata"] == {}
    assert json.loads("".join(c["delta_arguments"] for c in calls)) == {"queries": [PROMPT[:20]]}
    assert {"conn:heartbeat", "chat:title"} <= {
        e["type"] for e in sse_events(raw) if isinstance(e, dict)
    }
    assert raw.endswith(b"data: [DONE]\n\n")


async def test_the_control_plane_over_http(wire: Wire) -> None:
    base, http = wire.base, wire.http
    async with http.post(f"{base}/__mock__/scenario", json={"name": "nope"}) as r:
        assert r.status == 400
        assert "unknown scenario" in (await r.json())["error"]
    async with http.post(f"{base}/__mock__/scenario", json={"name": "waf_block", "times": 1}):
        pass
    assert (await wire.send(await wire.prepare()))[0] == 405
    async with http.get(f"{base}/__mock__/requests", params={"path": COMPLETIONS}) as r:
        [rec] = await r.json()
    assert rec["verdicts"][0] == {"step": "waf", "outcome": "fail", "detail": "waf_block scenario"}
    assert rec["status"] == 405
    assert rec["query"][0][0] == "timestamp"
    async with http.post(f"{base}/__mock__/clock", json={"freeze_ms": 1_000}) as r:
        assert (await r.json())["now_ms"] == 1_000
    async with http.post(f"{base}/__mock__/config", json={"chunk_chars": 7}) as r:
        assert (await r.json())["chunk_chars"] == 7
    async with http.post(f"{base}/__mock__/reset") as r:
        assert r.status == 200
    async with http.get(f"{base}/__mock__/state") as r:
        state = await r.json()
    assert (state["requests"], state["config"]["chunk_chars"], state["clock"]["frozen_ms"]) == (
        0,
        40,
        None,
    )


def test_knobs_come_from_the_environment() -> None:
    config = env_config(
        {"MOCK_ZAI_FRAME_DELAY_MS": "0", "MOCK_ZAI_ENABLE_CAPTCHA": "false", "MOCK_ZAI_TITLE": "Z"}
    )
    assert (config.frame_delay_ms, config.enable_captcha, config.title) == (0, False, "Z")


def test_the_threaded_site_serves_sync_callers() -> None:
    with running_zai(frame_delay_ms=0) as site:
        site.scenario("guest_minting_refused", times=1)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{site.base_url}/api/v1/auths/", timeout=10)
        with urllib.request.urlopen(f"{site.base_url}/api/v1/auths/", timeout=10) as answer:
            guest = json.load(answer)
        [_, minted] = site.wait_requests("/api/v1/auths/", 2)

        refused.value.close()
        assert refused.value.code == 403
        assert guest["role"] == "guest"
        assert minted.status == 200
        assert site.snapshot()["counters"]["guests_minted"] == 1
