"""What a website bridge does when the site misbehaves, through the real daemon in Chromium.

Each failure of the echo site (a knob of :class:`tests.fakes.sites.echo.server.Knobs`) maps to
one typed error or one recovery, with a bounded number of requests to the site: one
generation at a time per site, a full queue refused at once, timeouts for the page, the first
chunk and the silence between chunks, ``chat.cancel`` stopping the generation on the page, and
at most one reload when the site's problem says a reload helps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.sites.echo.server import ThreadedEcho, running_echo
from tests.fakes.sites.echo.support import echo_config
from tests.support.daemon import DaemonProcess, serving_daemon
from tests.support.wsrpc import Rpc, websocket

pytestmark = pytest.mark.browser

HELLO = [{"role": "user", "content": "hello there"}]
TIMEOUTS = {"page_load_timeout_s": 3, "first_chunk_timeout_s": 3, "chunk_timeout_s": 2}


@pytest.fixture(scope="module")
def echo() -> Iterator[ThreadedEcho]:
    with running_echo() as site:
        yield site


@pytest.fixture(autouse=True)
def fresh_knobs(echo: ThreadedEcho) -> None:
    echo.configure()


@pytest.fixture(scope="module")
def daemon(echo: ThreadedEcho) -> Iterator[DaemonProcess]:
    # No spare page: each call loads the page anew, so a knob of the page counts at once.
    config = echo_config(echo.base_url, bridges={**TIMEOUTS, "queue_size": 1, "spare_page": False})
    with serving_daemon(config=config) as running:
        yield running


async def send(rpc: Rpc, **params: Any) -> dict[str, Any]:
    return await rpc.call("chat.send", {"messages": HELLO, "provider": "zai", **params})


async def site_state(rpc: Rpc) -> dict[str, Any]:
    status = (await rpc.call("bridges.status", {}))["result"]
    return next(site for site in status["sites"] if site["site"] == "echo")


# --- one at a time ---------------------------------------------------------------------------


async def test_one_generation_at_a_time_and_a_full_queue_is_refused_at_once(
    daemon: DaemonProcess, echo: ThreadedEcho
) -> None:
    echo.configure(chunks=4, frame_delay_ms=150)
    before = len(echo.fake.completions)
    async with websocket(daemon) as first, websocket(daemon) as second, websocket(daemon) as third:
        running = await first.send("chat.send", {"messages": HELLO, "provider": "zai"})
        await echo.until(lambda site: len(site.completions) > before)
        queued = await second.send("chat.send", {"messages": HELLO, "provider": "zai"})
        async with asyncio.timeout(10):
            while (await site_state(third))["queue"] < 1:
                pass  # (until the second call waits in the queue)
        refused = await third.call("chat.send", {"messages": HELLO, "provider": "zai"})
        answers = [await first.answer(running), await second.answer(queued)]

    assert refused["error"]["code"] == -32053
    assert refused["error"]["data"]["queueSize"] == 1
    assert [a["result"]["message"]["content"] for a in answers] == ["ECHO: hello there"] * 2
    one, two = echo.fake.completions[before:]
    assert one.finished_at is not None
    assert two.at >= one.finished_at, "the second generation started after the first ended"


# --- timeouts --------------------------------------------------------------------------------


async def test_a_site_that_never_answers_times_out_and_its_request_is_stopped(
    rpc: Rpc, echo: ThreadedEcho
) -> None:
    echo.configure(first_byte_delay_ms=60_000)
    disconnects = echo.fake.disconnects
    error = (await send(rpc))["error"]
    assert error["code"] == -32025
    assert error["data"]["phase"] == "first chunk"
    await echo.until(lambda site: site.disconnects > disconnects)


async def test_a_stream_that_goes_silent_times_out(rpc: Rpc, echo: ThreadedEcho) -> None:
    echo.configure(stall_after=2)
    disconnects = echo.fake.disconnects
    error = (await send(rpc))["error"]
    assert error["code"] == -32025
    assert error["data"]["phase"] == "idle"
    await echo.until(lambda site: site.disconnects > disconnects)


async def test_a_page_that_never_shows_its_input_is_reported_broken(
    rpc: Rpc, echo: ThreadedEcho
) -> None:
    echo.configure(slow_page_ms=60_000)
    error = (await send(rpc))["error"]
    assert error["code"] == -32051
    assert "textarea#prompt" in error["data"]["element"]
    assert (await site_state(rpc))["state"] == "broken"


async def test_a_slow_page_is_waited_for(rpc: Rpc, echo: ThreadedEcho) -> None:
    echo.configure(slow_page_ms=1_000)
    assert (await send(rpc))["result"]["message"]["content"] == "ECHO: hello there"
    assert (await site_state(rpc))["state"] == "ready"


# --- cancel ----------------------------------------------------------------------------------


async def test_chat_cancel_stops_the_generation_on_the_page(
    daemon: DaemonProcess, echo: ThreadedEcho
) -> None:
    echo.configure(chunks=20, frame_delay_ms=200)
    stops, disconnects = echo.fake.stops, echo.fake.disconnects
    async with websocket(daemon) as rpc:
        call = await rpc.send("chat.send", {"messages": HELLO, "provider": "zai", "stream": True})
        await rpc.first_delta(call)
        assert (await rpc.call("chat.cancel", {"requestId": call}))["result"] == {"cancelled": True}
        assert (await rpc.answer(call))["error"]["code"] == -32030
        await echo.until(lambda site: site.stops > stops and site.disconnects > disconnects)
        assert len(rpc.deltas[call]) < 20
        echo.configure()
        assert (await send(rpc))["result"]["message"]["content"] == "ECHO: hello there"


# --- what the page shows ---------------------------------------------------------------------


async def test_a_check_on_the_page_is_handed_to_a_person(rpc: Rpc, echo: ThreadedEcho) -> None:
    echo.configure(challenge=True)
    error = (await send(rpc))["error"]
    assert error["code"] == -32050
    assert error["data"]["action"] == "tick the box that proves you are human"
    state = await site_state(rpc)
    assert (state["state"], state["lastError"]["error"]) == ("challenge", "BridgeChallenge")
    echo.configure()
    assert "result" in await send(rpc)
    assert (await site_state(rpc))["state"] == "ready"


async def test_a_login_wall_means_guest_use_is_gone(rpc: Rpc, echo: ThreadedEcho) -> None:
    echo.configure(login_wall=True)
    error = (await send(rpc))["error"]
    assert error["code"] == -32052
    assert error["data"]["reason"] == "login"


async def test_a_changed_layout_names_what_it_could_not_find(rpc: Rpc, echo: ThreadedEcho) -> None:
    echo.configure(layout="changed")
    error = (await send(rpc))["error"]
    assert error["code"] == -32051
    assert error["data"]["element"] == "textarea#prompt, [contenteditable=true][role=textbox]"


async def test_a_popup_is_dismissed_first(rpc: Rpc, echo: ThreadedEcho) -> None:
    echo.configure(popup=True)
    assert (await send(rpc))["result"]["message"]["content"] == "ECHO: hello there"


async def test_the_send_button_is_used_when_enter_does_not_send(
    rpc: Rpc, echo: ThreadedEcho
) -> None:
    echo.configure(enter_sends=False)
    assert (await send(rpc))["result"]["message"]["content"] == "ECHO: hello there"
    assert echo.fake.completions[-1].prompt == "hello there"


# --- what the site answers -------------------------------------------------------------------


@pytest.mark.parametrize("knob", ["expired", "challenged"])
async def test_a_problem_a_reload_fixes_is_retried_once(
    rpc: Rpc, echo: ThreadedEcho, knob: str
) -> None:
    echo.configure(**{knob: 1})
    before = len(echo.fake.completions)
    assert (await send(rpc))["result"]["message"]["content"] == "ECHO: hello there"
    assert len(echo.fake.completions) - before == 2


async def test_a_reload_is_tried_once_only(rpc: Rpc, echo: ThreadedEcho) -> None:
    echo.configure(challenged=5)
    before = len(echo.fake.completions)
    error = (await send(rpc))["error"]
    assert error["code"] == -32050
    assert len(echo.fake.completions) - before == 2


async def test_a_rate_limit_is_reported_with_its_back_off_and_not_retried(
    rpc: Rpc, echo: ThreadedEcho
) -> None:
    echo.configure(rate_limited=5)
    before = len(echo.fake.completions)
    error = (await send(rpc))["error"]
    assert error["code"] == -32023
    assert error["data"]["retryAfterMs"] == 30_000
    assert len(echo.fake.completions) - before == 1


async def test_a_model_refused_to_guests_falls_back_to_the_next(
    rpc: Rpc, echo: ThreadedEcho
) -> None:
    result = (await send(rpc, model="echo-pro"))["result"]
    assert result["model"] == "echo-1"
    assert [c.model for c in echo.fake.completions[-2:]] == ["echo-pro", "echo-1"]


@pytest.mark.parametrize("knobs", [{"abort_after": 2}, {"no_terminator": True}])
async def test_a_stream_cut_short_is_an_error_not_an_answer(
    rpc: Rpc, echo: ThreadedEcho, knobs: dict[str, Any]
) -> None:
    echo.configure(**knobs)
    error = (await send(rpc))["error"]
    assert error["code"] == -32024
    assert error["data"]["site"] == "echo"


async def test_a_stream_cut_short_after_output_is_not_retried(rpc: Rpc, echo: ThreadedEcho) -> None:
    echo.configure(abort_after=3, frame_delay_ms=50)
    before = len(echo.fake.completions)
    call = await rpc.send("chat.send", {"messages": HELLO, "provider": "zai", "stream": True})
    answer = await rpc.answer(call)
    assert answer["error"]["code"] == -32024
    assert rpc.deltas[call], "the stream had started"
    assert len(echo.fake.completions) - before == 1
