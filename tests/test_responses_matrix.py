"""The Responses part of the client matrix: ``responses.create`` and ``responses.stream`` of the
official ``openai`` SDK, unchanged, and the same requests with curl over the Unix socket,
through the real daemon against every family's fake (login-bound families signed in by
importing their CLI's credential file, as a person would)."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
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
SEARCH: FunctionToolParam = {
    "type": "function",
    "name": "search",
    "description": "Search the web",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    "strict": False,
}


@pytest.fixture(scope="module")
def fake() -> Iterator[Threaded[FakeFamilies]]:
    with threaded_families(WIRES) as threaded:
        yield threaded


@pytest.fixture(scope="module")
def daemon(
    fake: Threaded[FakeFamilies], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaemonProcess]:
    config = daemon_config(fake.base_url, WIRES, RELIABILITY)
    home = tmp_path_factory.mktemp("home")
    with signed_in_daemon(home, WIRES, fake.base_url, config) as process:
        yield process


@pytest.fixture(params=WIRES, ids=[w.provider for w in WIRES])
def wire(request: pytest.FixtureRequest) -> Wire:
    wire: Wire = request.param
    return wire


@pytest.fixture
def client(daemon: DaemonProcess) -> Iterator[openai.OpenAI]:
    transport = httpx2.HTTPTransport(uds=str(daemon.socket))
    with openai.OpenAI(
        base_url="http://switchboard/v1",
        api_key="unused",
        max_retries=0,
        http_client=httpx2.Client(transport=transport),
    ) as opened:
        yield opened


def model(wire: Wire, *flags: str) -> str:
    scenario = f"matrix-{uuid.uuid4().hex[:10]}"
    return f"{wire.provider}/{'+'.join([wire.model, *flags, f'scenario={scenario}'])}"


def curl(daemon: DaemonProcess, body: dict[str, Any]) -> str:
    """``curl`` over the daemon's Unix socket, as the README shows it; the body as text."""
    command = ["curl", "--silent", "--show-error", "--no-buffer", "--fail-with-body"]
    command += ["--unix-socket", str(daemon.socket), "http://switchboard/v1/responses"]
    command += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    done = subprocess.run(  # noqa: S603 - curl with our own arguments
        command, input=json.dumps(body), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def events(text: str) -> list[dict[str, Any]]:
    """The payloads of an SSE body, each checked to be named after its type."""
    payloads = []
    for block in text.strip().split("\n\n"):
        name, data = block.split("\n")
        payload: dict[str, Any] = json.loads(data.removeprefix("data: "))
        assert name == f"event: {payload['type']}"
        payloads.append(payload)
    return payloads


def test_sdk_create(client: openai.OpenAI, wire: Wire) -> None:
    answer = client.responses.create(model=model(wire), input=QUESTION)
    assert answer.output_text == expected_text(QUESTION)
    assert answer.status == "completed"
    assert answer.usage is not None
    assert answer.usage.output_tokens > 0


def test_sdk_stream(client: openai.OpenAI, wire: Wire) -> None:
    with client.responses.stream(model=model(wire), input=QUESTION) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == expected_text(QUESTION)
    assert final.usage is not None
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
def test_sdk_function_call(client: openai.OpenAI, wire: Wire, streamed: bool) -> None:
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


def test_curl_json(daemon: DaemonProcess, wire: Wire) -> None:
    answer = json.loads(curl(daemon, {"model": model(wire), "input": QUESTION}))
    [message] = answer["output"]
    assert message["content"][0]["text"] == expected_text(QUESTION)
    assert answer["usage"]["output_tokens"] > 0


def test_curl_stream(daemon: DaemonProcess, wire: Wire) -> None:
    body = {"model": model(wire, "tools"), "input": QUESTION, "tools": [SEARCH], "stream": True}
    payloads = events(curl(daemon, body))
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
