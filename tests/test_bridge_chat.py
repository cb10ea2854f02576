"""A website bridge answers through the real daemon, in real Chromium, against the echo site.

The ``zai`` provider has no key in a test daemon and the config points its bridge at the echo
site, so ``chat.send`` with the default ``route: auto`` goes through the page: the site's own
script sends the prompt with ``window.fetch``, the tap copies the stream, and the answer
streams to the client as ``chat.delta`` notifications before the result.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import result_validator
from tests.fakes.sites.echo.server import ThreadedEcho, running_echo
from tests.fakes.sites.echo.support import ECHO_SPEC, bridge_config
from tests.support.daemon import DaemonProcess, serving_daemon
from tests.support.transports import collect, connected
from tests.support.wsrpc import Rpc, openai_round, sse_data, unix_http

pytestmark = pytest.mark.browser

HELLO = [{"role": "user", "content": "hello there"}]
# zai answers through the echo site; were a call to take its API path, nothing listens there.
ZAI = """
[providers.zai]
bridge = "echo"
base_url = "http://127.0.0.1:9/v1"

[reliability]
retries = 0
"""


@pytest.fixture(scope="module")
def echo() -> Iterator[ThreadedEcho]:
    with running_echo() as site:
        yield site


@pytest.fixture(autouse=True)
def fresh_knobs(echo: ThreadedEcho) -> None:
    echo.configure(chunks=5, frame_delay_ms=40)


@pytest.fixture(scope="module")
def daemon(echo: ThreadedEcho) -> Iterator[DaemonProcess]:
    config = bridge_config({"echo": echo.base_url}, specs={"echo": ECHO_SPEC}, extra=ZAI)
    with serving_daemon(config=config, env={"DISPLAY": "", "WAYLAND_DISPLAY": ""}) as running:
        yield running


async def send(rpc: Rpc, **params: Any) -> dict[str, Any]:
    return await rpc.call("chat.send", {"messages": HELLO, "provider": "zai", **params})


async def test_a_provider_without_a_key_streams_its_answer_through_the_bridge(
    rpc: Rpc, echo: ThreadedEcho
) -> None:
    call = await rpc.send("chat.send", {"messages": HELLO, "provider": "zai", "stream": True})
    first = await rpc.first_delta(call)  # (asserts the answer has not come yet)
    answer = await rpc.answer(call)

    result = answer["result"]
    result_validator("chat.send")(result)
    assert first == {"requestId": call, "type": "reasoning", "text": "11 chars."}
    texts = [d["text"] for d in rpc.deltas[call] if d["type"] == "text"]
    assert len(texts) == 5
    assert "".join(texts) == result["message"]["content"] == "ECHO: hello there"
    assert result["message"]["reasoning"] == "11 chars."
    assert result["provider"] == "zai"
    assert result["finishReason"] == "stop"
    assert [(a["via"], a["outcome"]) for a in result["route"]] == [("bridge", "ok")]
    assert result["conversationId"] == echo.fake.completions[-1].chat


@pytest.mark.parametrize("transport", ["websocket", "stdio"])
async def test_deltas_come_before_the_answer_on_every_streaming_transport(
    daemon: DaemonProcess, transport: str
) -> None:
    params = {"messages": HELLO, "provider": "zai", "stream": True}
    body = {"jsonrpc": "2.0", "id": "s-1", "method": "chat.send", "params": params}
    async with connected(transport, daemon) as session:
        notes, answer = await collect(session, body)
    deltas = [note["params"] for note in notes if note["method"] == "chat.delta"]
    assert [d["type"] for d in deltas] == ["reasoning", *["text"] * 5]
    assert "".join(d["text"] for d in deltas[1:]) == answer["result"]["message"]["content"]


async def test_a_conversation_id_continues_the_same_chat_on_the_site(
    rpc: Rpc, echo: ThreadedEcho
) -> None:
    first = (await send(rpc))["result"]
    chats = len(echo.fake.chats)
    follow = [{"role": "user", "content": "and again"}]
    second = (await send(rpc, messages=follow, conversationId=first["conversationId"]))["result"]

    assert second["conversationId"] == first["conversationId"]
    assert second["message"]["content"] == "ECHO: and again"
    assert len(echo.fake.chats) == chats, "no new chat was made"
    assert [c.chat for c in echo.fake.completions[-2:]] == [first["conversationId"]] * 2


async def test_a_warm_new_chat_takes_a_page_loaded_before_the_call(
    rpc: Rpc, echo: ThreadedEcho
) -> None:
    await send(rpc)
    loads = echo.fake.page_loads
    await echo.until(lambda site: site.page_loads > loads)  # the spare, after the answer
    called = time.monotonic()
    assert "result" in await send(rpc)
    sent = echo.fake.completions[-1].at
    assert not [at for at in echo.fake.page_times if called <= at <= sent]


async def test_a_history_without_a_conversation_id_goes_as_one_transcript(
    rpc: Rpc, echo: ThreadedEcho
) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "bye"},
    ]
    await send(rpc, messages=messages)
    transcript = "System: Be brief.\n\nUser: hi\n\nAssistant: hello\n\nUser: bye"
    assert echo.fake.completions[-1].prompt == transcript


async def test_route_api_never_takes_the_bridge(rpc: Rpc, echo: ThreadedEcho) -> None:
    before = len(echo.fake.completions)
    answer = await send(rpc, route="api")
    assert answer["error"]["code"] == -32012  # no credentials: the API path has no key
    assert len(echo.fake.completions) == before


async def test_route_auto_takes_the_api_when_a_key_resolves(rpc: Rpc, echo: ThreadedEcho) -> None:
    before = len(echo.fake.completions)
    answer = await send(rpc, model="glm-4.7", apiKey="sk-test-key-0000")
    assert [a["via"] for a in answer["error"]["data"]["route"]] == ["api"]  # refused: port 9
    assert answer["error"]["code"] == -32024
    assert len(echo.fake.completions) == before


async def test_route_bridge_takes_the_bridge_even_with_a_key(rpc: Rpc) -> None:
    answer = await send(rpc, route="bridge", apiKey="sk-test-key-0000")
    assert answer["result"]["route"][-1]["via"] == "bridge"


async def test_a_provider_without_a_bridge_asked_for_one_is_refused(rpc: Rpc) -> None:
    answer = await send(rpc, provider="openai", model="gpt-4.1", route="bridge")
    error = answer["error"]
    assert error["code"] == -32013
    assert error["data"]["field"] == "route"
    assert "echo" in error["data"]["sites"]


async def test_models_list_reads_the_guest_models_from_the_site(rpc: Rpc) -> None:
    answer = await rpc.call("models.list", {"provider": "zai"})
    assert answer["result"] == {
        "provider": "zai",
        "source": "bridge",
        "models": [{"id": "echo-1"}, {"id": "echo-2"}],
    }


async def test_bridges_status_reports_the_browser_and_the_site(rpc: Rpc) -> None:
    await send(rpc)
    status = (await rpc.call("bridges.status", {}))["result"]
    result_validator("bridges.status")(status)
    browser = status["browser"]
    assert browser["running"] is True
    assert browser["headless"] is True
    assert browser["display"] is False
    assert browser["pssBytes"] > 0
    echo = next(site for site in status["sites"] if site["site"] == "echo")
    assert echo["state"] == "ready"
    assert echo["running"] is True
    assert echo["pid"] > 0
    assert echo["rssBytes"] >= echo["pssBytes"] > 0
    assert echo["queue"] == 0
    assert echo["conversationId"]
    assert echo["lastError"] is None


async def test_daemon_health_has_the_browser(rpc: Rpc) -> None:
    health = (await rpc.call("daemon.health", {}))["result"]
    assert health["components"]["browser"]["status"] == "ready"


async def test_bridges_open_says_plainly_that_there_is_no_display(rpc: Rpc) -> None:
    answer = await rpc.call("bridges.open", {"site": "echo"})
    assert answer["error"]["code"] == -32054
    assert "no display" in answer["error"]["data"]["detail"]
    unknown = await rpc.call("bridges.open", {"site": "nowhere"})
    assert unknown["error"]["code"] == -32602
    assert unknown["error"]["data"]["field"] == "site"


# --- the /v1 endpoints -----------------------------------------------------------------------


async def test_the_openai_endpoint_reaches_the_bridge_by_its_web_prefix(
    daemon: DaemonProcess, echo: ThreadedEcho
) -> None:
    asked = await openai_round(daemon, "echo-web/echo-2", HELLO)
    pieces = asked.streamed_pieces()
    assert "".join(pieces) == "ECHO: hello there"
    assert len(pieces) == 5
    assert asked.whole["choices"][0]["message"]["content"] == "ECHO: hello there"
    assert asked.whole["model"] == "echo-web/echo-2"
    assert [c.model for c in echo.fake.completions[-2:]] == ["echo-2", "echo-2"]
    assert "echo-web/echo-1" in asked.listed


async def test_the_anthropic_endpoint_streams_from_the_bridge(daemon: DaemonProcess) -> None:
    body = {"model": "echo-web/echo-1", "max_tokens": 100, "messages": HELLO, "stream": True}
    async with unix_http(daemon) as http, http.post("http://sb/v1/messages", json=body) as r:
        assert r.status == 200
        events = sse_data(await r.read())
    deltas = [
        e["delta"]["text"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
    ]
    assert "".join(deltas) == "ECHO: hello there"
    assert events[-1]["type"] == "message_stop"


async def test_prompts_and_answers_stay_out_of_the_log(daemon: DaemonProcess, rpc: Rpc) -> None:
    secret = f"private-{uuid.uuid4().hex}"
    answer = await send(rpc, messages=[{"role": "user", "content": secret}], stream=True)
    assert answer["result"]["message"]["content"] == f"ECHO: {secret}"
    log = daemon.log_text()
    assert "bridge_turn_done" in log
    assert secret not in log
