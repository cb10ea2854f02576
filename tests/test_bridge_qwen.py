"""The Qwen website bridge answers through the real daemon, in real Chromium, against the offline
chat.qwen.ai (:mod:`tests.fakes.sites.qwen`).

``qwen-portal`` (and ``qwen``) have no credential in a test daemon, so ``chat.send`` with the
default ``route: auto`` goes through the site's own page: its SPA mints the anti-bot headers,
creates the chat and posts the completion, the tap copies the stream, and the answer streams to
the client before the result. The site's failures are tests/test_bridge_qwen_faults.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import result_validator
from tests.fakes.sites.common import Recorded, echo_answer, thinking_text
from tests.fakes.sites.echo.support import bridge_config, browser_processes, ended
from tests.fakes.sites.qwen.guest import frames
from tests.fakes.sites.qwen.state import QwenState
from tests.support.daemon import DaemonProcess, running_daemon, serving_daemon
from tests.support.sites import ThreadedSite, running_qwen
from tests.support.transports import collect, connected
from tests.support.wsrpc import Rpc, openai_round, sse_data, unix_http, websocket

pytestmark = pytest.mark.browser

Qwen = ThreadedSite[QwenState]
COMPLETIONS = "/api/v2/chat/completions"
HELLO = [{"role": "user", "content": "hello there"}]
ANSWER = echo_answer("hello there")
# Were a call to take qwen-portal's API path, nothing listens there.
PORTAL = """
[providers.qwen-portal]
base_url = "http://127.0.0.1:9/v1"

[reliability]
retries = 0
"""
NO_DISPLAY = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}
KNOBS = {"chunk_chars": 5, "frame_delay_ms": 30}
STREAM = {"messages": HELLO, "provider": "qwen-portal", "stream": True}


@pytest.fixture(scope="module")
def qwen() -> Iterator[Qwen]:
    with running_qwen(**KNOBS) as site:
        yield site


@pytest.fixture(autouse=True)
def fresh_site(qwen: Qwen) -> None:
    qwen.reset()
    qwen.configure(**KNOBS)


@pytest.fixture(scope="module")
def daemon(qwen: Qwen) -> Iterator[DaemonProcess]:
    config = bridge_config({"qwen": qwen.base_url}, extra=PORTAL)
    with serving_daemon(config=config, env=NO_DISPLAY) as running:
        yield running


async def send(rpc: Rpc, **params: Any) -> dict[str, Any]:
    return await rpc.call("chat.send", {"messages": HELLO, "provider": "qwen-portal", **params})


def completions(qwen: Qwen) -> list[Recorded]:
    return [r for r in qwen.requests(COMPLETIONS) if r.path == COMPLETIONS]


def created(rec: Recorded) -> dict[str, Any]:
    first: dict[str, Any] = frames(bytes(rec.response))[0]["response.created"]
    return first


def last_usage(rec: Recorded) -> dict[str, Any]:
    found: dict[str, Any] = [f for f in frames(bytes(rec.response)) if "usage" in f][-1]["usage"]
    return found


# --- answers ---------------------------------------------------------------------------------


async def test_a_qwen_provider_without_a_credential_streams_through_the_site(
    rpc: Rpc, qwen: Qwen
) -> None:
    call = await rpc.send(
        "chat.send", {"messages": HELLO, "provider": "qwen-portal", "stream": True}
    )
    first = await rpc.first_delta(call)  # (asserts the answer has not come yet)
    answer = await rpc.answer(call)

    result = answer["result"]
    result_validator("chat.send")(result)
    assert first["type"] == "reasoning"
    deltas = rpc.deltas[call]
    texts = [d["text"] for d in deltas if d["type"] == "text"]
    assert len(texts) == len(ANSWER) // 5 + 1, "each answer frame as it came"
    assert "".join(texts) == result["message"]["content"] == ANSWER
    reasoning = "".join(d["text"] for d in deltas if d["type"] == "reasoning")
    assert reasoning == result["message"]["reasoning"] == thinking_text("hello there")
    assert result["provider"] == "qwen-portal"
    assert result["finishReason"] == "stop"
    assert [(a["via"], a["outcome"]) for a in result["route"]] == [("bridge", "ok")]
    [turn] = completions(qwen)
    assert result["conversationId"] == turn.param("chat_id")
    assert turn.body["messages"][-1]["content"] == "hello there"
    raw = last_usage(turn)
    assert result["usage"]["inputTokens"] == raw["input_tokens"]
    assert result["usage"]["outputTokens"] == raw["output_tokens"]
    assert result["usage"]["reasoningTokens"] == raw["output_tokens_details"]["reasoning_tokens"]


@pytest.mark.parametrize("transport", ["websocket", "stdio"])
async def test_deltas_come_before_the_answer_on_every_streaming_transport(
    daemon: DaemonProcess, transport: str
) -> None:
    params = {"messages": HELLO, "provider": "qwen-portal", "stream": True}
    body = {"jsonrpc": "2.0", "id": "q-1", "method": "chat.send", "params": params}
    async with connected(transport, daemon) as session:
        notes, answer = await collect(session, body)
    deltas = [note["params"] for note in notes if note["method"] == "chat.delta"]
    texts = [d["text"] for d in deltas if d["type"] == "text"]
    assert len(texts) > 1
    assert "".join(texts) == answer["result"]["message"]["content"] == ANSWER
    assert deltas[0]["type"] == "reasoning"


async def test_a_model_is_picked_on_the_page(rpc: Rpc, qwen: Qwen) -> None:
    result = (await send(rpc, model="qwen3.6-plus"))["result"]
    assert result["model"] == "qwen3.6-plus"
    assert result["message"]["content"] == ANSWER
    assert "reasoning" not in result["message"], "qwen3.6-plus does not think"
    [turn] = completions(qwen)
    assert turn.body["model"] == "qwen3.6-plus"


async def test_a_conversation_id_continues_the_same_chat_on_the_site(rpc: Rpc, qwen: Qwen) -> None:
    first = (await send(rpc))["result"]
    follow = [{"role": "user", "content": "Reply with exactly: and again"}]
    second = (await send(rpc, messages=follow, conversationId=first["conversationId"]))["result"]

    assert second["conversationId"] == first["conversationId"]
    assert second["message"]["content"] == "and again"
    assert len(qwen.requests("/api/v2/chats/new")) == 1, "no new chat was made"
    one, two = completions(qwen)
    assert two.param("chat_id") == one.param("chat_id") == first["conversationId"]
    assert two.body["parent_id"] == created(one)["response_id"]
    assert two.body["messages"][-1]["content"] == "Reply with exactly: and again"


async def test_a_history_without_a_conversation_id_goes_as_one_transcript(
    rpc: Rpc, qwen: Qwen
) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "bye"},
    ]
    await send(rpc, messages=messages)
    [turn] = completions(qwen)
    assert turn.body["messages"][-1]["content"] == (
        "System: Be brief.\n\nUser: hi\n\nAssistant: hello\n\nUser: bye"
    )


# --- which path, which models ----------------------------------------------------------------


@pytest.mark.parametrize("provider", ["qwen-portal", "qwen"])
async def test_models_list_reads_the_guest_models_from_the_site(rpc: Rpc, provider: str) -> None:
    answer = await rpc.call("models.list", {"provider": provider})
    assert answer["result"]["source"] == "bridge"
    assert answer["result"]["models"] == [{"id": "qwen3.7-plus"}, {"id": "qwen3.6-plus"}]


async def test_route_auto_takes_the_api_when_a_credential_resolves(rpc: Rpc, qwen: Qwen) -> None:
    answer = await send(rpc, model="qwen3.6-plus", apiKey="sk-test-key-0000")
    assert [a["via"] for a in answer["error"]["data"]["route"]] == ["api"]  # refused: port 9
    assert answer["error"]["code"] == -32024
    assert completions(qwen) == []


async def test_route_api_never_takes_the_bridge(rpc: Rpc, qwen: Qwen) -> None:
    answer = await send(rpc, route="api")
    assert answer["error"]["code"] == -32012  # no credential for its API
    assert completions(qwen) == []


async def test_route_bridge_takes_the_bridge_even_with_a_credential(rpc: Rpc, qwen: Qwen) -> None:
    answer = await send(rpc, route="bridge", apiKey="sk-test-key-0000")
    assert answer["result"]["route"][-1]["via"] == "bridge"
    assert len(completions(qwen)) == 1


# --- the /v1 endpoints -----------------------------------------------------------------------


async def test_the_openai_endpoint_reaches_the_bridge_by_its_web_prefix(
    daemon: DaemonProcess, qwen: Qwen
) -> None:
    asked = await openai_round(daemon, "qwen-web/qwen3.6-plus", HELLO)
    pieces = asked.streamed_pieces()
    assert len(pieces) > 1
    assert "".join(pieces) == ANSWER
    assert asked.whole["choices"][0]["message"]["content"] == ANSWER
    assert asked.whole["model"] == "qwen-web/qwen3.6-plus"
    assert [c.body["model"] for c in completions(qwen)] == ["qwen3.6-plus"] * 2
    assert {"qwen-web/qwen3.7-plus", "qwen-web/qwen3.6-plus"} <= set(asked.listed)


async def test_the_anthropic_endpoint_streams_from_the_bridge(
    daemon: DaemonProcess, qwen: Qwen
) -> None:
    body = {"model": "qwen-web/qwen3.7-plus", "max_tokens": 100, "messages": HELLO, "stream": True}
    async with unix_http(daemon) as http, http.post("http://sb/v1/messages", json=body) as r:
        assert r.status == 200
        events = sse_data(await r.read())
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert "".join(d["text"] for d in deltas if d["type"] == "text_delta") == ANSWER
    assert "".join(d["thinking"] for d in deltas if d["type"] == "thinking_delta") == (
        thinking_text("hello there")
    )
    assert events[-1]["type"] == "message_stop"
    assert [c.body["model"] for c in completions(qwen)] == ["qwen3.7-plus"]


# --- privacy ---------------------------------------------------------------------------------


async def test_prompts_and_answers_stay_out_of_the_log(daemon: DaemonProcess, rpc: Rpc) -> None:
    asked, told = f"asked-{uuid.uuid4().hex}", f"told-{uuid.uuid4().hex}"
    prompt = f"{asked} Reply with exactly: {told}"
    answer = await send(rpc, messages=[{"role": "user", "content": prompt}], stream=True)
    assert answer["result"]["message"]["content"] == told
    log = daemon.log_text()
    assert '"level":"info"' in log
    assert "bridge_turn_done" in log
    assert asked not in log
    assert told not in log


# --- the browser and the daemon going away ---------------------------------------------------

LONG = {"chunk_chars": 2, "frame_delay_ms": 150}


def lifecycle_config(qwen: Qwen) -> str:
    return "[daemon]\ndrain_timeout_s = 1\n\n" + bridge_config(
        {"qwen": qwen.base_url}, extra=PORTAL
    )


async def site_pid(rpc: Rpc) -> int:
    status = (await rpc.call("bridges.status", {}))["result"]
    pid: int = next(s for s in status["sites"] if s["site"] == "qwen")["pid"]
    return pid


async def test_a_browser_killed_mid_answer_fails_that_call_and_the_next_one_works(
    qwen: Qwen,
) -> None:
    qwen.configure(**LONG)
    with running_daemon(config=lifecycle_config(qwen), env=NO_DISPLAY) as daemon:
        async with websocket(daemon) as rpc:
            call = await rpc.send("chat.send", STREAM)
            await rpc.first_delta(call)
            pid = await site_pid(rpc)
            os.kill(pid, signal.SIGKILL)
            failed = await rpc.answer(call)
            assert failed["error"]["code"] == -32052
            assert failed["error"]["data"]["site"] == "qwen"

            qwen.configure(**KNOBS)
            again = await rpc.call("chat.send", STREAM)
            assert again["result"]["message"]["content"] == ANSWER
            assert await site_pid(rpc) not in (None, pid)
        assert await asyncio.to_thread(daemon.stop) == 0


async def test_a_daemon_stopped_mid_answer_exits_cleanly_and_leaves_no_browser(
    qwen: Qwen,
) -> None:
    qwen.configure(**LONG)
    with running_daemon(config=lifecycle_config(qwen), env=NO_DISPLAY) as daemon:
        async with websocket(daemon) as rpc:
            call = await rpc.send("chat.send", STREAM)
            await rpc.first_delta(call)
            pids = browser_processes(daemon)
            assert len(pids) > 2  # the driver, Chromium and its helpers
            assert await asyncio.to_thread(daemon.stop) == 0
        await ended(pids)
        assert browser_processes(daemon) == []
        [turn] = await qwen.wait_requests_async(COMPLETIONS)
        assert turn.end == "disconnected", "the page's request went with the browser"
        assert "Traceback" not in daemon.log_text()
