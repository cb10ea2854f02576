"""The client matrix: the official ``openai`` SDK (chat, streaming, tools, models,
``responses.create`` and ``responses.stream``) and the official ``anthropic`` SDK (messages,
streaming, tools, ``count_tokens``), unchanged, and the same requests with curl over the Unix
socket, through the real daemon against every family's fake (login-bound families signed in by
importing their CLI's credential file, as a person would)."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from anthropic.types import MessageParam, TextBlock, ToolParam, ToolUseBlock
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
)
from openai.types.responses import FunctionToolParam, Response, ResponseFunctionToolCall

from tests.fakes.families.script import expected_text
from tests.fakes.families.server import FakeFamilies, daemon_config, load_wires
from tests.fakes.families.wire import Wire
from tests.support.daemon import DaemonProcess
from tests.support.sign_ins import signed_in_daemon
from tests.support.upstream import Threaded, threaded_families

WIRES = load_wires()
RELIABILITY = """retries = 1
backoff_ms = 10
first_byte_timeout_ms = 5000
idle_timeout_ms = 5000
breaker_threshold = 1000"""
QUESTION = "what is the weather in Paris"
PARAMETERS: dict[str, object] = {"type": "object", "properties": {"q": {"type": "string"}}}
SEARCH: FunctionToolParam = {
    "type": "function",
    "name": "search",
    "description": "Search the web",
    "parameters": PARAMETERS,
    "strict": False,
}
CHAT_SEARCH: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {"name": "search", "description": "Search the web", "parameters": PARAMETERS},
}
MESSAGES_SEARCH: ToolParam = {
    "name": "search",
    "description": "Search the web",
    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
}
ASKED: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]
ASKED_CLAUDE: list[MessageParam] = [{"role": "user", "content": QUESTION}]
# Azure lists no models a call can use: its deployments are named in the config.
AZURE, DEPLOYMENTS = "[providers.azure-openai]\n", 'models = ["fake-model"]\n'


@pytest.fixture(scope="module")
def fake() -> Iterator[Threaded[FakeFamilies]]:
    with threaded_families(WIRES) as threaded:
        yield threaded


@pytest.fixture(scope="module")
def daemon(
    fake: Threaded[FakeFamilies], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaemonProcess]:
    config = daemon_config(fake.base_url, WIRES, RELIABILITY).replace(AZURE, AZURE + DEPLOYMENTS)
    home = tmp_path_factory.mktemp("home")
    with signed_in_daemon(home, WIRES, fake.base_url, config) as process:
        yield process


@pytest.fixture(params=WIRES, ids=[w.provider for w in WIRES])
def wire(request: pytest.FixtureRequest) -> Wire:
    wire: Wire = request.param
    return wire


def _over(daemon: DaemonProcess) -> httpx2.Client:
    return httpx2.Client(transport=httpx2.HTTPTransport(uds=str(daemon.socket)))


@pytest.fixture
def client(daemon: DaemonProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url="http://switchboard/v1", api_key="unused", max_retries=0, http_client=_over(daemon)
    ) as opened:
        yield opened


@pytest.fixture
def claude(daemon: DaemonProcess) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url="http://switchboard", api_key="unused", max_retries=0, http_client=_over(daemon)
    ) as opened:
        yield opened


def marked(wire: Wire, *flags: str) -> tuple[str, str]:
    """A ``provider/model`` for a fresh scenario, and the marker that finds its requests."""
    scenario = f"matrix-{uuid.uuid4().hex[:10]}"
    return f"{wire.provider}/{'+'.join([wire.model, *flags, f'scenario={scenario}'])}", scenario


def model(wire: Wire, *flags: str) -> str:
    return marked(wire, *flags)[0]


def curl(daemon: DaemonProcess, path: str, body: dict[str, Any]) -> str:
    """``curl`` over the daemon's Unix socket, as the README shows it; the body as text."""
    command = ["curl", "--silent", "--show-error", "--no-buffer", "--fail-with-body"]
    command += ["--unix-socket", str(daemon.socket), f"http://switchboard{path}"]
    command += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    done = subprocess.run(  # noqa: S603 - curl with our own arguments
        command, input=json.dumps(body), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def events(text: str) -> list[dict[str, Any]]:
    """The payloads of an SSE body whose events are named after their ``type`` (Responses,
    Messages); an unnamed ``[DONE]`` ends a Chat Completions stream."""
    payloads = []
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        data = lines[-1].removeprefix("data: ")
        if data == "[DONE]":
            assert block == text.strip().split("\n\n")[-1]
            break
        payload: dict[str, Any] = json.loads(data)
        if len(lines) == 2:
            assert lines[0] == f"event: {payload['type']}"
        payloads.append(payload)
    return payloads


def the_search(arguments: str | dict[str, Any]) -> dict[str, Any]:
    return json.loads(arguments) if isinstance(arguments, str) else arguments


# --- the openai SDK: Chat Completions and models -------------------------------------------------


def test_chat_create(client: openai.OpenAI, wire: Wire) -> None:
    answer = client.chat.completions.create(model=model(wire), messages=ASKED)
    assert answer.choices[0].message.content == expected_text(QUESTION)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    assert answer.usage.completion_tokens > 0


def test_chat_stream(client: openai.OpenAI, wire: Wire) -> None:
    chunks = list(
        client.chat.completions.create(
            model=model(wire),
            messages=ASKED,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected_text(QUESTION)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
def test_chat_tool_call(client: openai.OpenAI, wire: Wire, streamed: bool) -> None:
    name = model(wire, "tools")
    if streamed:
        chunks = client.chat.completions.create(
            model=name,
            messages=ASKED,
            tools=[CHAT_SEARCH],
            stream=True,
        )
        calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
        assert {c.index for c in calls} == {0}
        assert calls[0].function is not None
        named = calls[0].function.name
        arguments = "".join(c.function.arguments or "" for c in calls if c.function)
    else:
        answer = client.chat.completions.create(
            model=name,
            messages=ASKED,
            tools=[CHAT_SEARCH],
        )
        assert answer.choices[0].finish_reason == "tool_calls"
        [call] = answer.choices[0].message.tool_calls or []
        assert isinstance(call, ChatCompletionMessageFunctionToolCall)
        named, arguments = call.function.name, call.function.arguments
    assert (named, the_search(arguments)) == ("search", {"q": QUESTION})


def test_models_list(client: openai.OpenAI, daemon: DaemonProcess, wire: Wire) -> None:
    """``GET /v1/models`` through the SDK lists what ``models.list`` says of the provider."""
    ids = [listed.id for listed in client.models.list() if listed.owned_by == wire.provider]
    with _over(daemon) as http:
        call = {"jsonrpc": "2.0", "id": 1, "method": "models.list"}
        answer = http.post(
            "http://switchboard/rpc", json={**call, "params": {"provider": wire.provider}}
        )
    listed = answer.json().get("result", {"models": []})["models"]  # (none when listing fails)
    assert ids == [f"{wire.provider}/{entry['id']}" for entry in listed]


# --- the openai SDK: Responses -------------------------------------------------------------------


def test_responses_create(client: openai.OpenAI, wire: Wire) -> None:
    answer = client.responses.create(model=model(wire), input=QUESTION)
    assert answer.output_text == expected_text(QUESTION)
    assert answer.status == "completed"
    assert answer.usage is not None
    assert answer.usage.output_tokens > 0


def test_responses_stream(client: openai.OpenAI, wire: Wire) -> None:
    with client.responses.stream(model=model(wire), input=QUESTION) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == expected_text(QUESTION)
    assert final.usage is not None
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
def test_responses_function_call(client: openai.OpenAI, wire: Wire, streamed: bool) -> None:
    name = model(wire, "tools")
    answer: Response
    if streamed:
        with client.responses.stream(model=name, input=QUESTION, tools=[SEARCH]) as stream:
            answer = stream.get_final_response()
    else:
        answer = client.responses.create(model=name, input=QUESTION, tools=[SEARCH])
    # Some families say something before their calls (Cohere's tool plan, as text or reasoning).
    [call] = [item for item in answer.output if isinstance(item, ResponseFunctionToolCall)]
    assert (call.name, json.loads(call.arguments)) == ("search", {"q": QUESTION})


# --- the anthropic SDK ---------------------------------------------------------------------------


def test_messages_create(claude: anthropic.Anthropic, wire: Wire) -> None:
    answer = claude.messages.create(model=model(wire), max_tokens=200, messages=ASKED_CLAUDE)
    [block] = answer.content
    assert isinstance(block, TextBlock)
    assert block.text == expected_text(QUESTION)
    assert answer.stop_reason == "end_turn"
    assert answer.usage.output_tokens > 0


def test_messages_stream(claude: anthropic.Anthropic, wire: Wire) -> None:
    with claude.messages.stream(model=model(wire), max_tokens=200, messages=ASKED_CLAUDE) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1
    assert "".join(pieces) == expected_text(QUESTION)
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
def test_messages_tool_use(claude: anthropic.Anthropic, wire: Wire, streamed: bool) -> None:
    asked: dict[str, Any] = {
        "model": model(wire, "tools"),
        "max_tokens": 200,
        "messages": ASKED_CLAUDE,
        "tools": [MESSAGES_SEARCH],
    }
    if streamed:
        with claude.messages.stream(**asked) as stream:
            answer = stream.get_final_message()
    else:
        answer = claude.messages.create(**asked)
    assert answer.stop_reason == "tool_use"
    [call] = [block for block in answer.content if isinstance(block, ToolUseBlock)]
    assert (call.name, call.input) == ("search", {"q": QUESTION})


def test_count_tokens(
    claude: anthropic.Anthropic, wire: Wire, fake: Threaded[FakeFamilies]
) -> None:
    """The provider's own count where its family has a counting call (then equal to what the
    same request is charged), else the daemon's estimate, saying so."""
    name, marker = marked(wire)
    counted = claude.messages.count_tokens(model=name, messages=ASKED_CLAUDE)
    asked_the_provider = bool(fake.fake.requests_for(marker))
    assert counted.to_dict()["estimated"] is not asked_the_provider
    assert counted.input_tokens > 0
    if asked_the_provider:
        answered = claude.messages.create(model=name, max_tokens=50, messages=ASKED_CLAUDE)
        assert answered.usage.input_tokens == counted.input_tokens


# --- curl over the Unix socket -------------------------------------------------------------------


def test_curl_chat(daemon: DaemonProcess, wire: Wire) -> None:
    whole = json.loads(
        curl(daemon, "/v1/chat/completions", {"model": model(wire), "messages": ASKED})
    )
    assert whole["choices"][0]["message"]["content"] == expected_text(QUESTION)
    body = {
        "model": model(wire, "tools"),
        "messages": ASKED,
        "tools": [CHAT_SEARCH],
        "stream": True,
    }
    chunks = events(curl(daemon, "/v1/chat/completions", body))
    calls = [
        tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert calls[0]["function"]["name"] == "search"
    arguments = "".join(c["function"].get("arguments", "") for c in calls)
    assert json.loads(arguments) == {"q": QUESTION}


def test_curl_messages(daemon: DaemonProcess, wire: Wire) -> None:
    asked = {"model": model(wire), "max_tokens": 200, "messages": ASKED}
    whole = json.loads(curl(daemon, "/v1/messages", asked))
    assert whole["content"] == [{"type": "text", "text": expected_text(QUESTION)}]
    payloads = events(curl(daemon, "/v1/messages", {**asked, "stream": True}))
    assert payloads[0]["type"] == "message_start"
    assert payloads[-1]["type"] == "message_stop"
    text = "".join(
        p["delta"].get("text", "") for p in payloads if p["type"] == "content_block_delta"
    )
    assert text == expected_text(QUESTION)
    counted = json.loads(
        curl(daemon, "/v1/messages/count_tokens", {"model": asked["model"], "messages": ASKED})
    )
    assert counted["input_tokens"] > 0
    assert isinstance(counted["estimated"], bool)


def test_curl_responses(daemon: DaemonProcess, wire: Wire) -> None:
    answer = json.loads(curl(daemon, "/v1/responses", {"model": model(wire), "input": QUESTION}))
    [message] = answer["output"]
    assert message["content"][0]["text"] == expected_text(QUESTION)
    assert answer["usage"]["output_tokens"] > 0
    body = {"model": model(wire, "tools"), "input": QUESTION, "tools": [SEARCH], "stream": True}
    payloads = events(curl(daemon, "/v1/responses", body))
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert payloads[0]["type"] == "response.created"
    completed = payloads[-1]
    assert completed["type"] == "response.completed"
    [call] = [i for i in completed["response"]["output"] if i["type"] == "function_call"]
    arguments = "".join(
        p["delta"] for p in payloads if p["type"] == "response.function_call_arguments.delta"
    )
    assert arguments == call["arguments"]
    assert json.loads(arguments) == {"q": QUESTION}
