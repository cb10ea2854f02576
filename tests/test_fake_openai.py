"""The OpenAI Chat Completions fake: fidelity to the recorded wire traffic, faults, probes."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import openai
import pytest
from multidict import CIMultiDictProxy

from tests.fakes import cassettes
from tests.fakes.openai_chat import FakeOpenAI

REPO = Path(__file__).resolve().parents[1]
RECORDED = cassettes.WIRE / "openai_chat"
MESSAGES: list[Any] = [{"role": "user", "content": "Say this is a test"}]
ECHO = "Echo: Say this is a test"
#: Fields current OpenAI sends in a non-streamed body that the 2024 recordings predate.
NEWER_BODY_FIELDS = {"service_tier", "choices[].message.annotations"}
#: The byte layouts of OpenAI JSON bodies; the recorded content-lengths match them exactly.
LAYOUTS: dict[str, Callable[[Any], str]] = {
    "body": lambda body: json.dumps(body, indent=2, ensure_ascii=False) + "\n",
    "error-2024": lambda body: json.dumps(body, indent=4) + "\n",
    "error-current": json.dumps,
    "error-validation": lambda body: json.dumps(body, indent=2),
}


class Got(NamedTuple):
    """A response read to the end."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)

    def events(self) -> list[Any]:
        """The SSE payloads, parsed."""
        return cassettes.sse_events(self.body)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    """A fake on a free loopback port."""
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session, closed before the fake stops."""
    async with aiohttp.ClientSession() as session:
        yield session


def chat(model: str, *, stream: bool = False, usage: bool = False, **extra: Any) -> dict[str, Any]:
    """A chat request body."""
    body: dict[str, Any] = {"model": model, "messages": MESSAGES, **extra}
    if stream:
        body["stream"] = True
    if usage:
        body["stream_options"] = {"include_usage": True}
    return body


async def send(http: aiohttp.ClientSession, fake: FakeOpenAI, body: Any, **kwargs: Any) -> Got:
    """POST a chat request and read the whole answer."""
    async with http.post(f"{fake.base_url}/chat/completions", json=body, **kwargs) as resp:
        return Got(resp.status, resp.headers, await resp.read())


def kind(event: Any) -> str:
    """What an SSE event is in the stream's grammar."""
    if event == "[DONE]":
        return "done"
    if not event["choices"]:
        return "usage"
    choice = event["choices"][0]
    delta = choice["delta"]
    if choice["finish_reason"] is not None:
        return "finish"
    if "role" in delta:
        return "role"
    if "tool_calls" in delta:
        return "tool_head" if "id" in delta["tool_calls"][0] else "tool_args"
    return "reasoning" if delta.get("reasoning_content") is not None else "content"


def pattern(events: list[Any]) -> list[str]:
    """The event kinds with repeats collapsed: role, content, finish, usage, done."""
    kinds = [kind(event) for event in events]
    return [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]


def shapes(events: list[Any]) -> dict[str, set[frozenset[str]]]:
    """The key paths of each kind of event."""
    out: dict[str, set[frozenset[str]]] = {}
    for event in events:
        out.setdefault(kind(event), set()).add(cassettes.key_paths(event))
    return out


def equivalent(recorded: Any, model: str, tool_copies: int) -> Any:
    """The recorded request for ``model``; the fake calls each tool once, so tools may repeat."""
    body = {**recorded, "model": model}
    if "tools" in body:
        tool = body["tools"][0]
        body["tools"] = [
            {**tool, "function": {**tool["function"], "name": f"{tool['function']['name']}{i}"}}
            for i in range(tool_copies)
        ]
    return body


STREAMS = [
    ("test_chat_completion_streaming.yaml", 0, "gpt-fake+wire=2024", 1),
    ("test_chat_completion_streaming_not_complete.yaml", 0, "gpt-fake+wire=2024", 1),
    ("test_chat_completion_multiple_tools_streaming_no_content.yaml", 0, "g+tools+wire=2024", 2),
    ("test_run_stream_sync_streams_real_model.yaml", 0, "gpt-fake+tools", 1),
    ("test_run_stream_sync_streams_real_model.yaml", 1, "gpt-fake+tools", 1),
]


@pytest.mark.parametrize(("name", "index", "model", "tools"), STREAMS)
async def test_streams_have_the_recorded_structure(
    fake: FakeOpenAI, http: aiohttp.ClientSession, name: str, index: int, model: str, tools: int
) -> None:
    recorded = cassettes.load(RECORDED / name)[index]
    assert isinstance(recorded.body, str)
    got = await send(http, fake, equivalent(recorded.request, model, tools))
    assert got.status == recorded.status == 200
    assert got.headers["Content-Type"] == recorded.header("content-type")
    want = cassettes.sse_events(recorded.body)
    assert pattern(got.events()) == pattern(want)
    assert shapes(got.events()) == shapes(want)


BODIES = [
    ("test_chat_completion_with_content.yaml", 0, 1),
    ("test_chat_completion_tool_calls_no_content.yaml", 0, 2),
    ("test_chat_completion_tool_calls_no_content.yaml", 1, 1),
]


@pytest.mark.parametrize("wire", ["2024", "current"])
@pytest.mark.parametrize(("name", "index", "tools"), BODIES)
async def test_bodies_have_the_recorded_structure_and_layout(
    fake: FakeOpenAI, http: aiohttp.ClientSession, name: str, index: int, tools: int, wire: str
) -> None:
    recorded = cassettes.load(RECORDED / name)[index]
    got = await send(http, fake, equivalent(recorded.request, f"g+tools+wire={wire}", tools))
    assert got.status == recorded.status == 200
    assert got.headers["Content-Type"] == recorded.header("content-type")
    newer = NEWER_BODY_FIELDS if wire == "current" else set()
    assert cassettes.key_paths(got.json()) == cassettes.key_paths(recorded.parsed_body) | newer
    assert int(recorded.header("content-length") or 0) == len(LAYOUTS["body"](recorded.parsed_body))
    assert got.body.decode() == LAYOUTS["body"](got.json())


ERRORS = [
    ("test_chat_completion_404.yaml", "g+fault=http_404+wire=2024", "error-2024"),
    ("test_model_name_suggestion[openai-chat].yaml", "g+fault=http_404", "error-current"),
    ("test_openai_o1_mini_system_role[system].yaml", "g+fault=context_length", "error-validation"),
]


@pytest.mark.parametrize(("name", "model", "layout"), ERRORS)
async def test_errors_have_the_recorded_structure_and_layout(
    fake: FakeOpenAI, http: aiohttp.ClientSession, name: str, model: str, layout: str
) -> None:
    recorded = cassettes.load(RECORDED / name)[0]
    got = await send(http, fake, {**recorded.request, "model": model})
    assert got.status == recorded.status
    assert got.headers["Content-Type"] == recorded.header("content-type")
    assert cassettes.key_paths(got.json()) == cassettes.key_paths(recorded.parsed_body)
    assert int(recorded.header("content-length") or 0) == len(LAYOUTS[layout](recorded.parsed_body))
    assert got.body.decode() == LAYOUTS[layout](got.json())


def test_the_azure_stream_differs_only_by_its_extra_fields() -> None:
    events = cassettes.sse_events(
        cassettes.load(RECORDED / "azure-model-router.1.chunks.txt")[0].body or ""
    )
    assert events[0]["id"] == ""
    assert "prompt_filter_results" in events[0]
    assert pattern(events[1:]) == ["role", "content", "finish", "usage"]


async def test_text_stream_carries_the_echo_and_usage(
    fake: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    events = (await send(http, fake, chat("gpt-fake", stream=True, usage=True))).events()
    assert pattern(events) == ["role", "content", "finish", "usage", "done"]
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-2]) == ECHO
    assert events[-2]["usage"]["completion_tokens"] == len(ECHO.split())
    assert all(e["model"] == "gpt-fake" and e["id"].startswith("chatcmpl-") for e in events[:-1])


@pytest.mark.parametrize("count", [1, 3, 12])
async def test_chunks_sets_the_number_of_content_chunks(
    fake: FakeOpenAI, http: aiohttp.ClientSession, count: int
) -> None:
    events = (await send(http, fake, chat(f"gpt-fake+chunks={count}", stream=True))).events()
    content = [e["choices"][0]["delta"]["content"] for e in events if kind(e) == "content"]
    assert len(content) == count
    assert "".join(content).startswith(ECHO)


async def test_delay_ms_spaces_the_chunks(fake: FakeOpenAI, http: aiohttp.ClientSession) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await send(http, fake, chat("gpt-fake+chunks=4+delay_ms=30", stream=True))
    assert loop.time() - started >= 6 * 0.03 * 0.9


async def test_tool_calls_one_per_tool_in_json_and_stream(
    fake: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    search = {"name": "search", "parameters": {"type": "object", "properties": {"q": {}}}}
    tools = [{"type": "function", "function": f} for f in (search, {"name": "now"})]
    message = (await send(http, fake, chat("gpt-fake+tools", tools=tools))).json()["choices"][0]
    assert message["finish_reason"] == "tool_calls"
    assert message["message"]["content"] is None
    calls = message["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["search", "now"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [
        {"q": MESSAGES[0]["content"]},
        {},
    ]
    assert all(c["id"].startswith("call_") for c in calls)
    events = (await send(http, fake, chat("gpt-fake+tools", stream=True, tools=tools))).events()
    arguments = ["", ""]
    for event in events[:-1]:
        for call in event["choices"][0]["delta"].get("tool_calls", []):
            arguments[call["index"]] += call["function"]["arguments"]
    assert arguments == [c["function"]["arguments"] for c in calls]
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"


async def test_a_tool_result_gets_a_text_answer(
    fake: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    tools = [{"type": "function", "function": {"name": "weather"}}]
    messages = [*MESSAGES, {"role": "tool", "tool_call_id": "call_1", "content": "50 degrees"}]
    got = await send(http, fake, chat("gpt-fake+tools", tools=tools, messages=messages))
    assert got.json()["choices"][0]["message"]["content"] == "Echo: tool said 50 degrees"


async def test_reasoning_comes_before_the_content(
    fake: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    events = (await send(http, fake, chat("gpt-fake+reasoning", stream=True, usage=True))).events()
    assert pattern(events) == ["role", "reasoning", "content", "finish", "usage", "done"]
    body = (await send(http, fake, chat("gpt-fake+reasoning"))).json()
    assert body["choices"][0]["message"]["reasoning_content"].startswith("Thinking about:")
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


HTTP_FAULTS = [
    ("http_401", 401, "invalid_api_key"),
    ("http_404", 404, "model_not_found"),
    ("http_429", 429, "rate_limit_exceeded"),
    ("http_500", 500, None),
    ("http_503", 503, None),
    ("context_length", 400, "context_length_exceeded"),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("fault", "status", "code"), HTTP_FAULTS)
async def test_http_faults_answer_like_openai(
    fake: FakeOpenAI,
    http: aiohttp.ClientSession,
    fault: str,
    status: int,
    code: str | None,
    stream: bool,
) -> None:
    got = await send(http, fake, chat(f"gpt-fake+fault={fault}", stream=stream))
    assert got.status == status
    assert got.headers["Content-Type"].startswith("application/json")
    assert set(got.json()["error"]) == {"message", "type", "param", "code"}
    assert got.json()["error"]["code"] == code
    assert "Retry-After" not in got.headers


async def test_retry_after_in_seconds_or_as_a_date(
    fake: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    got = await send(http, fake, chat("gpt-fake+fault=http_429+retry_after=2"))
    assert got.headers["Retry-After"] == "2"
    got = await send(http, fake, chat("gpt-fake+fault=http_429+retry_after=2+retry_after_date"))
    wait = parsedate_to_datetime(got.headers["Retry-After"]) - datetime.now(UTC)
    assert 0 <= wait.total_seconds() <= 2


async def test_bad_key_and_models_listing(fake: FakeOpenAI, http: aiohttp.ClientSession) -> None:
    got = await send(http, fake, chat("gpt-fake"), headers={"Authorization": "Bearer bad-key"})
    assert (got.status, got.json()["error"]["code"]) == (401, "invalid_api_key")
    async with http.get(
        f"{fake.base_url}/models", headers={"Authorization": "Bearer fault-401"}
    ) as r:
        assert r.status == 401
    async with http.get(f"{fake.base_url}/models", headers={"Authorization": "Bearer k"}) as r:
        listing = await r.json()
    assert listing["object"] == "list"
    assert listing["data"]
    assert all(set(m) == {"id", "object", "created", "owned_by"} for m in listing["data"])
    assert [r.headers.get("authorization") for r in fake.requests] == [
        "Bearer bad-key",
        "Bearer fault-401",
        "Bearer k",
    ]


@pytest.mark.parametrize("stream", [False, True])
async def test_reset_before_first_chunk_is_a_client_error(
    fake: FakeOpenAI, http: aiohttp.ClientSession, stream: bool
) -> None:
    with pytest.raises(aiohttp.ClientConnectionError):
        await send(http, fake, chat("gpt-fake+fault=reset_before_first_chunk", stream=stream))
    assert (fake.active, fake.disconnects) == (0, 0)


@pytest.mark.parametrize("stream", [False, True])
async def test_reset_after_first_chunk_breaks_the_body(
    fake: FakeOpenAI, http: aiohttp.ClientSession, stream: bool
) -> None:
    body = chat("gpt-fake+fault=reset_after_first_chunk", stream=stream)
    async with http.post(f"{fake.base_url}/chat/completions", json=body) as resp:
        assert resp.status == 200
        first = await resp.content.readany()
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    assert first.startswith(b"data: {" if stream else b"{\n")


async def test_stall_before_headers_hangs_until_the_client_leaves(
    fake: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(send(http, fake, chat("gpt-fake+fault=stall_before_headers")), 0.2)
    assert await fake.wait_disconnect(2) == 1
    assert fake.active == 0


async def test_stall_after_first_chunk_hangs_until_the_client_leaves(
    fake: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    body = chat("gpt-fake+fault=stall_after_first_chunk", stream=True)
    async with http.post(f"{fake.base_url}/chat/completions", json=body) as resp:
        assert kind(cassettes.sse_events(await resp.content.readuntil(b"\n\n"))[0]) == "role"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 0.2)
    assert await fake.wait_disconnect(2) == 1
    assert fake.active == 0


async def test_malformed_json(fake: FakeOpenAI, http: aiohttp.ClientSession) -> None:
    got = await send(http, fake, chat("gpt-fake+fault=malformed_json", stream=True))
    payloads = cassettes.sse_payloads(got.body)
    broken = []
    for payload in payloads[:-1]:
        try:
            json.loads(payload)
        except ValueError:
            broken.append(payload)
    assert len(broken) == 1
    assert payloads[-1] == "[DONE]"
    got = await send(http, fake, chat("gpt-fake+fault=malformed_json"))
    assert (got.status, got.headers["Content-Type"]) == (200, "application/json")
    with pytest.raises(ValueError, match="Unterminated|Expecting"):
        got.json()


async def test_split_bytes_reassembles_to_the_same_events(
    fake: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    whole = (await send(http, fake, chat("gpt-fake", stream=True, usage=True))).events()
    body = chat("gpt-fake+fault=split_bytes", stream=True, usage=True)
    async with http.post(f"{fake.base_url}/chat/completions", json=body) as resp:
        reads = [piece async for piece in resp.content.iter_any()]
    split = cassettes.sse_events(b"".join(reads))
    assert len(reads) > 1
    assert [e if e == "[DONE]" else (e["choices"], e["usage"]) for e in split] == [
        e if e == "[DONE]" else (e["choices"], e["usage"]) for e in whole
    ]


async def test_duplicate_and_missing_done(fake: FakeOpenAI, http: aiohttp.ClientSession) -> None:
    got = await send(http, fake, chat("gpt-fake+fault=duplicate_done", stream=True))
    payloads = cassettes.sse_payloads(got.body)
    assert payloads.count("[DONE]") == 2
    assert payloads[-2:] == ["[DONE]", "[DONE]"]
    got = await send(http, fake, chat("gpt-fake+fault=missing_done", stream=True))
    assert got.status == 200
    assert got.headers["Connection"] == "close"
    assert kind(got.events()[-1]) == "finish"


async def test_garbage_is_html(fake: FakeOpenAI, http: aiohttp.ClientSession) -> None:
    got = await send(http, fake, chat("gpt-fake+fault=garbage", stream=True))
    assert (got.status, got.headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert got.body.startswith(b"<!DOCTYPE html>")


async def test_times_counts_requests_per_scenario(
    fake: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    async def status(scenario: str) -> int:
        model = f"gpt-fake+fault=http_503+times=2+scenario={scenario}"
        return (await send(http, fake, chat(model))).status

    assert [await status("a") for _ in range(3)] == [503, 503, 200]
    assert await status("b") == 503
    assert fake.scenarios == {"a": 3, "b": 1}


@pytest.mark.parametrize("model", ["gpt-fake+fault=nope", "gpt-fake+speed=1", "gpt-fake+chunks=x"])
async def test_unknown_options_are_refused(
    fake: FakeOpenAI, http: aiohttp.ClientSession, model: str
) -> None:
    got = await send(http, fake, chat(model))
    assert (got.status, got.json()["error"]["param"]) == (400, "model")


async def test_a_client_closing_mid_stream_is_noticed(
    fake: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    body = chat("gpt-fake+chunks=50+delay_ms=20", stream=True)
    async with http.post(f"{fake.base_url}/chat/completions", json=body) as resp:
        await resp.content.readuntil(b"\n\n")
        assert fake.active == 1
    assert await fake.wait_disconnect(2) == 1
    assert fake.active == 0
    assert fake.requests[-1].body == body
    assert fake.requests[-1].path == "/v1/chat/completions"


async def test_the_openai_sdk_reads_the_fake(fake: FakeOpenAI) -> None:
    async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0) as client:
        completion = await client.chat.completions.create(model="gpt-fake", messages=MESSAGES)
        assert completion.choices[0].message.content == ECHO
        stream = await client.chat.completions.create(
            model="gpt-fake+reasoning",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ECHO
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model="g+fault=http_429", messages=MESSAGES)


async def test_runs_standalone_over_tcp_and_a_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "fake.sock"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "tests.fakes.openai_chat", "--port", "0", "--unix", str(path)),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/v1")
        async with aiohttp.ClientSession() as tcp, tcp.get(f"{url}/models") as resp:
            assert resp.status == 200
        unix = aiohttp.UnixConnector(path=str(path))
        async with aiohttp.ClientSession(connector=unix) as session:
            async with session.get("http://localhost/v1/models") as resp:
                assert resp.status == 200
    finally:
        proc.terminate()
        await proc.communicate()
    assert proc.returncode == 0
