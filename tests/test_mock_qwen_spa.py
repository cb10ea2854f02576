"""The mock chat.qwen.ai's SPA in real Chromium (website-bridges.md §5.3 "Pages and JS",
"DOM contract"; §5.5 page scenarios).

A bridge only types into the page and presses Enter, so the page must do the rest by itself:
register Baxia tokens, send ``chats/new`` and the completion through ``window.fetch`` with
the site's headers, render thinking apart from the answer, chain turns, show the slider a
real drag solves, and show each page-level scenario. No bridge code is involved here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.fakes.sites.common import Outcome, thinking_text
from tests.fakes.sites.qwen.app import MockQwen, running_site
from tests.fakes.sites.qwen.config import QwenConfig
from tests.fakes.sites.qwen.guest import frames
from tests.support.chromium import fresh_page, headless_chromium

pytestmark = pytest.mark.browser

COMPLETIONS = "/api/v2/chat/completions"
INPUT = "div.message-input-container-area > textarea.message-input-textarea"
ANSWER = "div.response-message-content.phase-answer"
THINKING = "div.response-message-content.phase-thinking_summary"
SEND = "div.chat-prompt-send-button > button.send-button#send-message-button[aria-label=Send]"


@pytest.fixture
async def site() -> AsyncIterator[MockQwen]:
    async with running_site(QwenConfig(frame_delay_ms=0)) as mock:
        yield mock


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with headless_chromium() as launched:
        yield launched


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    async with fresh_page(browser) as opened:
        yield opened


async def open_chat(page: Page, site: MockQwen, path: str = "/c/guest") -> None:
    await page.goto(f"{site.base_url}{path}")
    await expect(page.locator(INPUT)).to_be_visible()


async def send(page: Page, text: str, field: str = INPUT) -> None:
    await page.locator(field).focus()
    await page.keyboard.insert_text(text)
    await page.keyboard.press("Enter")


def created(body: bytes | bytearray) -> dict[str, str]:
    first: dict[str, str] = frames(bytes(body))[0]["response.created"]
    return first


async def test_a_guest_turn_through_the_page(site: MockQwen, page: Page) -> None:
    await open_chat(page, site)
    await expect(page.locator(INPUT)).to_have_attribute("placeholder", "How can I help you today?")
    await expect(page.locator("span.microphone-icon")).to_be_visible()
    await page.locator(INPUT).focus()
    await page.keyboard.insert_text("Reply with exactly: pong")
    await expect(page.locator(SEND)).to_be_visible()
    await page.keyboard.press("Enter")

    await expect(page.locator(ANSWER)).to_have_text("pong")
    await expect(page.locator("div.user-message")).to_have_text("Reply with exactly: pong")
    [new] = await site.wait_requests("/api/v2/chats/new")
    [turn] = await site.wait_requests(COMPLETIONS)
    assert new.body["chat_mode"] == "guest"
    assert new.body["models"] == ["qwen3.7-plus"]
    chat_id = json.loads(new.response)["data"]["id"]
    assert turn.param("chat_id") == chat_id
    assert page.url.endswith(f"/c/{chat_id}")
    assert all(v.outcome is Outcome.PASS for v in turn.verdicts)
    sent = turn.headers
    assert sent["bx-umidtoken"].startswith("T2gA")
    assert sent["bx-ua"].startswith("234!")
    assert (sent["bx-v"], sent["source"], sent["version"]) == ("2.5.37", "web", "0.3.11")
    assert (sent["accept"], sent["x-accel-buffering"]) == ("application/json", "no")
    assert "GMT" in sent["timezone"]
    assert len(sent["x-request-id"]) == 36
    assert "authorization" not in sent
    cookies = {c.split("=")[0] for c in sent["cookie"].split("; ")}
    assert {"acw_tc", "cna", "ssxmod_itna", "ssxmod_itna2", "x-ap"} <= cookies
    assert turn.body["messages"][0]["content"] == "Reply with exactly: pong"


async def test_thinking_renders_apart_from_the_answer(site: MockQwen, page: Page) -> None:
    await open_chat(page, site)
    await send(page, "first")
    await expect(page.locator(ANSWER)).to_have_text("ECHO: first")
    await page.locator("div.qwen-thinking-selector").click()
    await page.locator("ul[role=menu] li[data-mode=Fast]").click()
    await send(page, "second")
    await expect(page.locator(ANSWER).nth(1)).to_have_text("ECHO: second")

    thinking = page.locator(THINKING)
    await expect(thinking.nth(0).locator("summary")).to_have_text("Thinking…")
    await expect(thinking.nth(0)).to_contain_text(thinking_text("first"))
    await expect(thinking.nth(1)).to_have_text("")
    turns = await site.wait_requests(COMPLETIONS, 2)
    features = [t.body["messages"][0]["feature_config"] for t in turns]
    assert [(f["thinking_enabled"], f["thinking_mode"]) for f in features] == [
        (True, "Auto"),
        (False, "Fast"),
    ]


async def test_each_turn_names_the_previous_answer_as_parent(site: MockQwen, page: Page) -> None:
    await open_chat(page, site)
    for n, text in enumerate(("one", "two", "three")):
        await send(page, text)
        await expect(page.locator(ANSWER).nth(n)).to_have_text(f"ECHO: {text}")

    turns = await site.wait_requests(COMPLETIONS, 3)
    answers = [created(t.response)["response_id"] for t in turns]
    assert [t.body["parent_id"] for t in turns] == [None, answers[0], answers[1]]
    assert len(site.requests("/api/v2/chats/new")) == 1
    responses = page.locator("div.chat-response-message")
    await expect(responses.nth(2)).to_have_attribute("data-response-id", answers[2])


async def test_a_reopened_chat_shows_its_turns_and_continues(site: MockQwen, page: Page) -> None:
    await open_chat(page, site)
    await send(page, "kept")
    await expect(page.locator(ANSWER)).to_have_text("ECHO: kept")
    url = page.url

    await page.goto(url)
    await expect(page.locator(ANSWER)).to_have_text("ECHO: kept")
    await send(page, "more")
    await expect(page.locator(ANSWER).nth(1)).to_have_text("ECHO: more")
    first, second = await site.wait_requests(COMPLETIONS, 2)
    assert second.body["parent_id"] == created(first.response)["response_id"]


async def test_a_non_visitor_model_answers_nothing(site: MockQwen, page: Page) -> None:
    await open_chat(page, site)
    await page.locator("div.mode-select > span.ant-dropdown-trigger > div.mode-select-open").click()
    await page.locator('ul[role=menu] li[data-model-id="qwen3.8-max"]').click()
    await send(page, "anyone?")

    [turn] = await site.wait_requests(COMPLETIONS)
    assert turn.body["model"] == "qwen3.8-max"
    assert turn.verdicts[-1].detail == "empty"
    await expect(page.locator(ANSWER)).to_have_text("")


async def test_the_punish_slider_is_solved_by_a_real_drag(site: MockQwen, page: Page) -> None:
    site.scenario("punish")
    await open_chat(page, site)
    await send(page, "Reply with exactly: after the slider")
    dialog = page.frame_locator("div.baxia-dialog iframe#baxia-dialog-content")
    handle = dialog.locator("div.nc_wrapper span#nc_1_n1z")
    await expect(handle).to_be_visible()

    grip = await handle.bounding_box()
    track = await dialog.locator("div.nc_scale").bounding_box()
    assert grip is not None
    assert track is not None
    y = grip["y"] + grip["height"] / 2
    await page.mouse.move(grip["x"] + grip["width"] / 2, y)
    await page.mouse.down()
    await page.mouse.move(track["x"] + track["width"] + 10, y, steps=20)
    await page.mouse.up()

    await expect(page.locator(ANSWER)).to_have_text("after the slider")
    await expect(page.locator("div.baxia-dialog")).to_have_count(0)
    punished, retried = await site.wait_requests(COMPLETIONS, 2)
    assert punished.outcome("baxia") is Outcome.FAIL
    assert json.loads(punished.response)["ret"][0] == "FAIL_SYS_USER_VALIDATE"
    assert retried.outcome("baxia") is Outcome.PASS
    assert site.state.counters["unpunished"] == 1


async def test_stop_ends_the_answer_with_a_finished_frame(site: MockQwen, page: Page) -> None:
    site.configure(chunk_chars=3)
    site.scenario("stall", {"after_frames": 2}, times=1)
    await open_chat(page, site)
    await send(page, "a long enough prompt")
    await page.locator("button.stop-button[aria-label=Stop]").click()

    ended = await site.wait_requests(COMPLETIONS, 2)  # the stop call, then the stream
    [stop] = [r for r in ended if r.path.endswith("/stop")]
    [turn] = [r for r in ended if r.path == COMPLETIONS]
    assert stop.body == {
        "chat_id": turn.param("chat_id"),
        "response_id": created(turn.response)["response_id"],
    }
    assert turn.verdicts[-1].detail == "stopped"
    await expect(page.locator("button.stop-button")).to_have_count(0)
    await expect(page.locator(".ant-message-error")).to_have_count(0)


@pytest.mark.parametrize(
    ("scenario", "toast"),
    [
        ("bad_request_headers", "Internal error, please try again later."),
        ("chat_in_progress", "The chat is in progress!"),
        ("malformed_stream", "The response was interrupted, please try again."),
    ],
)
async def test_refusals_show_the_sites_message(
    site: MockQwen, page: Page, scenario: str, toast: str
) -> None:
    params = {"variant": "missing_terminator"} if scenario == "malformed_stream" else None
    site.scenario(scenario, params, times=1)
    await open_chat(page, site)
    await send(page, "hi")
    await expect(page.locator(".ant-message-error")).to_have_text(toast)


async def test_a_cumulative_stream_renders_once(site: MockQwen, page: Page) -> None:
    site.configure(chunk_chars=4)
    site.scenario("cumulative_stream", times=1)
    await open_chat(page, site)
    await send(page, "Reply with exactly: no doubled text here")
    await expect(page.locator(ANSWER)).to_have_text("no doubled text here")


# -- page scenarios --------------------------------------------------------------------------


async def test_the_landing_page_leads_to_the_guest_chat(site: MockQwen, page: Page) -> None:
    await page.goto(str(site.base_url))
    await expect(page.get_by_role("button", name="Get Started")).to_be_visible()
    await expect(page.locator("button.send-button")).to_have_count(0)
    await page.get_by_role("link", name="Continue as guest").click()
    await expect(page.locator(INPUT)).to_be_visible()
    assert page.url.endswith("/c/guest")


async def test_layout_change_leaves_only_a_textarea_and_enter(site: MockQwen, page: Page) -> None:
    site.scenario("layout_change", times=1)
    await page.goto(f"{site.base_url}/c/guest")
    field = page.locator("textarea")
    await expect(field).to_have_attribute("placeholder", "Ask Qwen anything")
    await expect(page.locator(INPUT)).to_have_count(0)
    await send(page, "still works", field="textarea")
    await expect(page.locator("button[aria-label=Send]")).to_have_count(0)
    await expect(page.locator("[class*=phase_answer]")).to_have_text("ECHO: still works")


async def test_login_wall_has_no_input(site: MockQwen, page: Page) -> None:
    site.scenario("login_wall", times=1)
    await page.goto(f"{site.base_url}/c/guest")
    await expect(page.locator(".login-modal")).to_contain_text("Log in to Qwen Chat")
    await expect(page.locator("textarea")).to_have_count(0)


async def test_keep_session_popup_must_be_dismissed_first(site: MockQwen, page: Page) -> None:
    site.scenario("keep_session_popup", times=1)
    await open_chat(page, site)
    keep = page.get_by_role("button", name="Keep session ended")
    await expect(keep).to_be_visible()
    await expect(page.locator(INPUT)).not_to_be_editable()

    await keep.click()
    await expect(page.locator(INPUT)).to_be_editable()
    await send(page, "now")
    await expect(page.locator(ANSWER)).to_have_text("ECHO: now")


async def test_slow_hydration_shows_the_input_late(site: MockQwen, page: Page) -> None:
    site.scenario("slow_hydration", {"ms": 3000}, times=1)
    await page.goto(f"{site.base_url}/c/guest")
    await expect(page.locator(".qwen-loading")).to_be_visible()
    assert await page.locator(INPUT).count() == 0
    await expect(page.locator(INPUT)).to_be_visible(timeout=10_000)


async def test_the_waf_challenge_runs_in_the_page(site: MockQwen, page: Page) -> None:
    site.scenario("waf_js_challenge")
    await open_chat(page, site)
    await send(page, "past the waf")
    await expect(page.locator(ANSWER)).to_have_text("ECHO: past the waf")

    cookies = {c["name"] for c in await page.context.cookies()}
    assert "acw_sc__v2" in cookies
    loads = site.requests("/c/guest")
    assert [r.verdicts[0].step for r in loads] == ["waf", "page"]
    [turn] = await site.wait_requests(COMPLETIONS)
    assert turn.outcome("waf") is Outcome.PASS


async def test_a_persistent_waf_challenge_ends_on_the_visible_slider(
    site: MockQwen, page: Page
) -> None:
    site.scenario("waf_js_challenge", {"persistent": True})
    await page.goto(f"{site.base_url}/c/guest")
    await expect(page).to_have_title("Verification")
    await expect(page.locator("#WAF_NC_WRAPPER .nc-container#nocaptcha")).to_be_visible()
    await expect(page.locator("textarea")).to_have_count(0)
    assert len(site.requests("/c/guest")) == 4  # the first load and three reloads


@pytest.mark.parametrize("variant", ["html_content_type", "split_utf8"])
async def test_the_page_reads_the_stream_whatever_its_label(
    site: MockQwen, page: Page, variant: str
) -> None:
    site.scenario("malformed_stream", {"variant": variant}, times=1)
    await open_chat(page, site)
    await send(page, "Reply with exactly: naïve — ✓")
    await expect(page.locator(ANSWER)).to_have_text("naïve — ✓")
