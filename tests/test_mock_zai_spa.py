"""The mock chat.z.ai's SPA in real Chromium (website-bridges.md §5.2 "Pages and JS", "DOM
contract"; §5.5 page scenarios), driven with Playwright and no bridge code.

A bridge only types into the page and presses Enter, so the page must do the rest by itself:
bootstrap a guest, create the chat, get a captcha token, sign the completion with WebCrypto and
send it through ``window.fetch`` with the 34 fingerprint parameters, render thinking apart from
the answer as the stream arrives, chain turns, and show each scenario as a person would see it.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.fakes.sites.common import Outcome, chunk_text, echo_answer, thinking_text
from tests.fakes.sites.zai.config import Step, ZaiConfig
from tests.fakes.sites.zai.state import ZaiState
from tests.fakes.sites.zai.wire import (
    FINGERPRINT_KEYS,
    GUEST_REFUSED,
    SESSION_EXPIRED,
    USER_LEVEL,
    signature,
)
from tests.support.chromium import fresh_page, headless_chromium
from tests.support.sites import (
    ZAI_SIGNATURE_VECTOR,
    ZAI_VECTOR_SIGNATURE,
    ThreadedSite,
    running_zai,
    sse_events,
)

pytestmark = pytest.mark.browser

COMPLETIONS = "/api/v2/chat/completions"
PROMPT = "Reply with exactly: the quick brown fox jumps over the lazy dog, twice over and again"
ALL_PASS = [step for step in Step if step is not Step.SCENARIO]
KEY = ZaiConfig().signature_key

INPUT = "textarea#chat-input"
SEND = 'div[aria-label="Send Message"] > button#send-message-button[type=submit]'
ANSWER = "#response-content-container.prose"
THINKING = 'div[data-message-role="assistant"] details[type="reasoning"]'
DONE = 'div[data-message-role="assistant"] .message-actions'


@pytest.fixture
def zai() -> Iterator[ThreadedSite[ZaiState]]:
    with running_zai(frame_delay_ms=0) as site:
        yield site


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with headless_chromium() as launched:
        yield launched


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    async with fresh_page(browser) as opened:
        yield opened


async def open_page(page: Page, zai: ThreadedSite[ZaiState], path: str = "/") -> None:
    await page.goto(f"{zai.base_url}{path}")
    await expect(page.locator("#chat-input")).to_be_visible()


async def send(page: Page, text: str) -> None:
    await page.locator("#chat-input").focus()
    await page.keyboard.insert_text(text)
    await page.keyboard.press("Enter")


def jwt_claims(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return claims


async def test_the_page_bootstraps_a_guest_and_keeps_it_across_reloads(
    zai: ThreadedSite[ZaiState], page: Page
) -> None:
    await open_page(page, zai)
    token = await page.evaluate("localStorage.getItem('token')")
    await page.reload()
    await expect(page.locator(INPUT)).to_have_attribute("placeholder", "Send a Message")

    first, second = await zai.wait_requests_async("/api/v1/auths/", 2)
    guest = json.loads(first.response)
    assert jwt_claims(token) == {"id": guest["id"], "email": guest["email"]}
    assert "authorization" not in first.headers
    assert second.headers["authorization"] == f"Bearer {token}"
    assert await page.evaluate("localStorage.getItem('token')") == token
    assert zai.snapshot()["counters"]["guests_minted"] == 1
    for path in ("/api/config", "/api/models", "/api/v1/scene-cfg/", "/api/v1/users/user/settings"):
        assert zai.requests(path), path
    assert await page.locator(SEND).is_disabled()


async def test_enter_sends_a_signed_completion_and_renders_the_echo(
    zai: ThreadedSite[ZaiState], page: Page
) -> None:
    await open_page(page, zai)
    await send(page, PROMPT)

    await expect(page.locator(ANSWER)).to_have_text(echo_answer(PROMPT))
    await expect(page.locator(THINKING)).to_contain_text(thinking_text(PROMPT))
    [rec] = await zai.wait_requests_async(COMPLETIONS)
    token = await page.evaluate("localStorage.getItem('token')")
    chat_id = rec.body["chat_id"]
    assert page.url == f"{zai.base_url}/c/{chat_id}"
    assert [(v.step, v.outcome) for v in rec.verdicts] == [(s, Outcome.PASS) for s in ALL_PASS]
    assert [k for k, _ in rec.query] == list(FINGERPRINT_KEYS)
    assert len(rec.query) == 34
    q = dict(rec.query)
    assert (q["token"], q["user_id"], q["version"], q["platform"]) == (
        token,
        jwt_claims(token)["id"],
        "0.0.1",
        "web",
    )
    assert q["signature_timestamp"] == q["timestamp"]
    assert q["pathname"] == f"/c/{chat_id}"
    expected = signature(q["requestId"], q["timestamp"], q["user_id"], PROMPT, KEY)
    h = rec.headers
    assert h["x-signature"] == expected
    assert (h["authorization"], h["x-fe-version"], h["x-region"]) == (
        f"Bearer {token}",
        "prod-fe-1.1.98",
        "overseas",
    )
    assert re.fullmatch(r"uid_[A-Za-z0-9]{16}", h["x-device-id"])
    assert h["origin"] == zai.base_url
    assert rec.body["signature_prompt"] == PROMPT
    assert rec.body["messages"] == [{"role": "user", "content": PROMPT}]
    assert rec.body["current_user_message_parent_id"] is None
    assert rec.body["captcha_verify_param"]
    [new] = zai.requests("/api/v1/chats/new")
    assert new.body["chat"]["history"]["currentId"] == rec.body["current_user_message_id"]


async def test_the_answer_renders_while_the_stream_is_still_open(
    zai: ThreadedSite[ZaiState], page: Page
) -> None:
    zai.configure(chunk_chars=5)
    prompt = "Reply with exactly: abcdefghijklmnopqrst"
    thinking_frames = len(chunk_text(thinking_text(prompt), 5))
    zai.scenario("stall", {"after_frames": thinking_frames + 2})
    await open_page(page, zai)
    await send(page, prompt)

    await expect(page.locator(ANSWER)).to_have_text("abcdefghij")
    await expect(page.locator("button", has_text="Skip")).to_have_count(0)
    assert zai.requests(COMPLETIONS)[0].end == "open"
    assert await page.locator(DONE).count() == 0

    zai.reset()  # ends the stall
    await expect(page.locator(ANSWER)).to_have_text("abcdefghijklmnopqrst")
    await expect(page.locator(DONE)).to_have_count(1)


async def test_the_pages_signing_function_gives_the_reference_vector(
    zai: ThreadedSite[ZaiState], page: Page
) -> None:
    await open_page(page, zai)
    made = await page.evaluate(
        "async ([url, v]) => (await import(url)).signRequest(v)",
        ["/frontend/prod-fe-1.1.98/assets/sign.js", ZAI_SIGNATURE_VECTOR],
    )
    assert made == ZAI_VECTOR_SIGNATURE


async def test_turns_reuse_the_chat_and_chain_parent_ids_also_after_reopening(
    zai: ThreadedSite[ZaiState], page: Page
) -> None:
    await open_page(page, zai)
    await send(page, "one")
    await expect(page.locator(DONE)).to_have_count(1)
    await send(page, "two")
    await expect(page.locator("#response-content-container-1")).to_have_text("ECHO: two")
    await page.goto(page.url)
    await expect(page.locator('div[data-message-role="user"]')).to_have_count(2)
    await send(page, "three")
    await expect(page.locator("#response-content-container-2")).to_have_text("ECHO: three")

    first, second, third = (r.body for r in await zai.wait_requests_async(COMPLETIONS, 3))
    assert len(zai.requests("/api/v1/chats/new")) == 1
    assert first["chat_id"] == second["chat_id"] == third["chat_id"]
    assert second["current_user_message_parent_id"] == first["id"]
    assert third["current_user_message_parent_id"] == second["id"]
    assert len({b["current_user_message_id"] for b in (first, second, third)}) == 3
    assert all(r.outcome(Step.HISTORY) is Outcome.PASS for r in zai.requests(COMPLETIONS))


async def test_a_waf_block_is_a_json_syntax_error_and_a_toast(
    zai: ThreadedSite[ZaiState], page: Page
) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    await open_page(page, zai)
    zai.scenario("waf_block", times=1)
    await send(page, "hello")

    await expect(page.locator(".toast-error")).to_contain_text("SyntaxError")
    [rec] = await zai.wait_requests_async(COMPLETIONS)
    assert rec.status == 405
    assert b"<title>405</title>" in rec.response
    assert any("SyntaxError" in line for line in console)


async def test_captcha_challenge_shows_a_popup_only_a_real_click_passes(
    zai: ThreadedSite[ZaiState], page: Page
) -> None:
    zai.scenario("captcha_challenge", times=1)
    await open_page(page, zai)
    await send(page, "hello")

    popup = page.locator("div#aliyunCaptcha-window-popup.aliyunCaptcha-show")
    await expect(popup).to_contain_text("Please complete the security verification")
    checkbox = page.locator("input#aliyunCaptcha-checkbox")
    await checkbox.evaluate("box => box.click()")  # a scripted click does not count
    assert not await checkbox.is_checked()
    assert not await checkbox.is_disabled()
    assert zai.requests(COMPLETIONS) == []
    await checkbox.click()

    await expect(page.locator(ANSWER)).to_have_text("ECHO: hello")
    await expect(popup).to_have_count(0)
    [rec] = await zai.wait_requests_async(COMPLETIONS)
    assert rec.outcome(Step.CAPTCHA) is Outcome.PASS
    assert zai.snapshot()["counters"]["captcha_solved"] == 1


async def test_model_forbidden_shows_the_user_level_error(
    zai: ThreadedSite[ZaiState], page: Page
) -> None:
    zai.scenario("model_forbidden", times=1)
    await open_page(page, zai)
    await send(page, "hello")

    await expect(page.locator(".toast-error")).to_have_text(USER_LEVEL)
    [rec] = await zai.wait_requests_async(COMPLETIONS)
    assert rec.status == 200
    assert sse_events(rec.response)[0]["data"]["error"]["code"] == 403


async def test_the_model_picker_and_model_query_parameter(
    zai: ThreadedSite[ZaiState], page: Page
) -> None:
    await open_page(page, zai, "/?model=GLM-5.2")
    picker = page.locator('button[aria-label="Select a model"]')
    await expect(picker).to_have_text("GLM-5.2")
    await expect(page.locator("button[data-dropdown-menu-trigger]")).to_have_text("Deep Think")
    await picker.click()
    await page.locator('div[role="menu"] > button', has_text="GLM-5.3-Flash").click()
    await expect(picker).to_have_text("GLM-5.3-Flash")
    await expect(
        page.locator('div[aria-label="Deep think on"] > button[data-autothink="true"]')
    ).to_be_visible()
    await send(page, "hello")

    await expect(page.locator(ANSWER)).to_have_text("ECHO: hello")
    [rec] = await zai.wait_requests_async(COMPLETIONS)
    assert rec.body["model"] == "x-preview-l"
    assert "reasoning_effort" not in rec.body["features"]


async def test_layout_change_renders_the_changed_dom(
    zai: ThreadedSite[ZaiState], page: Page
) -> None:
    zai.scenario("layout_change")
    await open_page(page, zai)

    assert await page.locator(INPUT).count() == 0
    editor = page.locator('div#chat-input[contenteditable="true"][role="textbox"]')
    await expect(editor).to_be_visible()
    await expect(page.locator('div[aria-label="Send message"] > button')).to_be_attached()
    await expect(page.locator('button[aria-label="Choose a model"]')).to_have_text("GLM-4.7")
    assert (
        await page.locator('[aria-label="Send Message"], [aria-label="Select a model"]').count()
        == 0
    )
    await send(page, "hello")
    await expect(page.locator(ANSWER)).to_have_text("ECHO: hello")


async def test_login_wall_and_ip_block_leave_no_chat_input(
    zai: ThreadedSite[ZaiState], page: Page
) -> None:
    zai.scenario("login_wall", times=1)
    await page.goto(f"{zai.base_url}/")
    await expect(page.locator("form#auth-form")).to_be_visible()
    assert page.url == f"{zai.base_url}/auth"
    assert await page.locator("#chat-input").count() == 0

    zai.scenario("ip_block", times=1)
    blocked = await page.goto(f"{zai.base_url}/")
    assert blocked is not None
    assert blocked.status == 405
    await expect(page).to_have_title("405")
    await expect(page.locator("body")).to_contain_text("Sorry, your request has been blocked")


async def test_guest_minting_refused_shows_the_reason_and_no_input(
    zai: ThreadedSite[ZaiState], page: Page
) -> None:
    zai.scenario("guest_minting_refused")
    await page.goto(f"{zai.base_url}/")

    await expect(page.locator(".toast-error")).to_have_text(GUEST_REFUSED)
    assert await page.locator("#chat-input").count() == 0


async def test_slow_hydration_holds_the_input_back_until_models_arrive(
    zai: ThreadedSite[ZaiState], page: Page
) -> None:
    zai.scenario("slow_hydration", {"ms": 600_000}, times=1)
    await page.goto(f"{zai.base_url}/")
    await zai.wait_requests_async("/api/v1/auths/")
    await expect(page.locator("#splash")).to_be_visible()
    assert await page.locator("#chat-input").count() == 0

    zai.reset()  # ends the wait: /api/models answers
    await expect(page.locator(INPUT)).to_be_visible()


async def test_after_the_guest_expires_a_reload_mints_a_new_one_that_can_chat(
    zai: ThreadedSite[ZaiState], page: Page
) -> None:
    await open_page(page, zai)
    await send(page, "one")
    await expect(page.locator(DONE)).to_have_count(1)
    stale = await page.evaluate("localStorage.getItem('token')")
    zai.scenario("expired_guest_token")
    await send(page, "two")
    await expect(page.locator(".toast-error")).to_have_text(SESSION_EXPIRED)

    await page.reload()
    await expect(page.locator(".toast-error")).to_have_text("Chat not found")
    await expect(page).to_have_url(f"{zai.base_url}/")
    await send(page, "three")
    await expect(page.locator(ANSWER)).to_have_text("ECHO: three")
    assert await page.evaluate("localStorage.getItem('token')") != stale
    assert zai.snapshot()["counters"]["guests_minted"] == 2


async def test_a_stale_build_is_blocked_until_the_page_reloads(
    zai: ThreadedSite[ZaiState], page: Page
) -> None:
    await open_page(page, zai)
    zai.scenario("stale_fe_version")
    await send(page, "one")
    await expect(page.locator(".toast-error")).to_contain_text("SyntaxError")

    await page.reload()
    await expect(page.locator('script[type="module"]')).to_have_attribute(
        "src", "/frontend/prod-fe-1.1.99/assets/app.js"
    )
    await send(page, "two")
    await expect(page.locator(ANSWER)).to_have_text("ECHO: two")
    blocked, passed = await zai.wait_requests_async(COMPLETIONS, 2)
    assert blocked.status == 405
    assert blocked.headers["x-fe-version"] == "prod-fe-1.1.98"
    assert passed.status == 200
    assert passed.headers["x-fe-version"] == "prod-fe-1.1.99"


async def test_the_stop_button_aborts_the_stream(zai: ThreadedSite[ZaiState], page: Page) -> None:
    zai.scenario("stall", {"after_frames": 3}, times=1)
    await open_page(page, zai)
    await send(page, "hello")
    stop = page.locator('button#stop-response-button[aria-label="Stop"]')
    await expect(stop).to_be_visible()
    await expect(page.locator(SEND)).to_be_hidden()
    await expect(page.locator(THINKING)).to_be_visible()  # the stream is open, then stalls
    await stop.click()

    [rec] = await zai.wait_requests_async(COMPLETIONS)
    assert rec.end == "disconnected"
    await expect(page.locator(SEND)).to_be_visible()
