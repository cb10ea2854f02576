"""``POST /v1/responses`` through the real daemon: the official ``openai`` SDK unchanged
(``responses.create`` and ``responses.stream``) and raw HTTP, against the fakes of three
families (OpenAI Chat Completions, Anthropic Messages, OpenAI Responses itself).

What a client sees is asserted: the answer, the events, usage, typed errors in the Responses
shape; where it matters, the fake's own checks prove what the provider received (a tool result
must answer an earlier call; Anthropic wants its signed thinking back in a tool loop)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpx2
import openai
import orjson
import pytest
from openai.types.responses import (
    FunctionToolParam,
    ResponseFunctionToolCall,
    ResponseStreamEvent,
)

from tests.fakes.families import anthropic_messages, openai_completions, openai_responses
from tests.fakes.families.script import FAULT_MESSAGES, MID_STREAM_MESSAGE, REASONING, expected_text
from tests.fakes.families.server import FakeFamilies, Seen, daemon_config
from tests.fakes.families.wire import Wire
from tests.support.daemon import DaemonProcess, serving_daemon
from tests.support.upstream import Threaded, threaded_families
from tests.test_openai_sdk import free_port
from tests.test_responses_wire import (
    MALFORMED,
    REFUSED,
    own_paths,
    recorded_shapes,
    unrecorded_paths,
)

WIRES = [openai_completions.WIRE, anthropic_messages.WIRE, openai_responses.WIRE]
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
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    "strict": False,
}
PNG = (  # one transparent pixel
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@dataclass(frozen=True)
class Daemon:
    """The daemon under test, how to reach it, and the fake behind it."""

    process: DaemonProcess
    port: int
    fake: Threaded[FakeFamilies]

    def sdk(self) -> openai.OpenAI:
        transport = httpx2.HTTPTransport(uds=str(self.process.socket))
        return openai.OpenAI(
            base_url="http://switchboard/v1",
            api_key="not-needed-on-the-socket",
            max_retries=0,
            http_client=httpx2.Client(transport=transport),
        )

    def raw(self) -> httpx2.Client:
        transport = httpx2.HTTPTransport(uds=str(self.process.socket))
        return httpx2.Client(base_url="http://switchboard", transport=transport, timeout=30)

    def sent(self, marker: str) -> list[Seen]:
        """What the provider received for a scenario."""
        return self.fake.fake.requests_for(marker)

    def release(self, scenario: str) -> None:
        """Let a scenario's stream go on to its fault (the client saw its first part)."""
        self.fake.call(self.fake.fake.release(scenario))


@pytest.fixture(scope="module")
def fake() -> Iterator[Threaded[FakeFamilies]]:
    with threaded_families(WIRES) as threaded:
        yield threaded


@pytest.fixture(scope="module")
def daemon(fake: Threaded[FakeFamilies]) -> Iterator[Daemon]:
    port = free_port()
    config = f'[daemon]\ntcp = "127.0.0.1:{port}"\n\n'
    config += daemon_config(fake.base_url, WIRES, RELIABILITY)
    with serving_daemon(config=config) as process:
        yield Daemon(process, port, fake)


@pytest.fixture(params=WIRES, ids=[w.provider for w in WIRES])
def wire(request: pytest.FixtureRequest) -> Wire:
    wire: Wire = request.param
    return wire


def model(wire: Wire, case: str, *flags: str, fault: str | None = None) -> tuple[str, str]:
    """``provider/model`` for a fresh scenario of the fake, and the scenario's name."""
    scenario = f"{case}-{uuid.uuid4().hex[:10]}"
    parts = [wire.model, *flags, *([f"fault={fault}"] if fault else []), f"scenario={scenario}"]
    return f"{wire.provider}/{'+'.join(parts)}", scenario


def sse(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, payload) for each SSE event, as the lines arrive."""
    name = ""
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            yield name, orjson.loads(line[6:])


def stream_raw(
    daemon: Daemon, body: dict[str, Any], *, release: tuple[str, str] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """A streamed request's events; with ``release`` (an event type, a scenario), the fake's
    fault is let go once that event arrived, so the failure comes after it, surely."""
    events = []
    with daemon.raw() as http, http.stream("POST", "/v1/responses", json=body) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        for name, payload in sse(answer.iter_lines()):
            events.append((name, payload))
            if release is not None and name == release[0]:
                daemon.release(release[1])
                release = None
    return events


# --- the official SDK, unchanged ------------------------------------------------------------


def test_create_answers_with_text_and_usage(daemon: Daemon, wire: Wire) -> None:
    name, _ = model(wire, "text")
    with daemon.sdk() as client:
        answer = client.responses.create(model=name, input=QUESTION)
    assert answer.output_text == expected_text(QUESTION)
    assert (answer.status, answer.model, answer.object) == ("completed", name, "response")
    assert answer.id.startswith("resp_")
    assert answer.usage is not None
    assert answer.usage.input_tokens > 0
    assert answer.usage.output_tokens > 0
    assert answer.usage.total_tokens == answer.usage.input_tokens + answer.usage.output_tokens


def test_stream_gives_the_events_and_the_final_response(daemon: Daemon, wire: Wire) -> None:
    name, _ = model(wire, "stream")
    with daemon.sdk() as client, client.responses.stream(model=name, input=QUESTION) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [event.type for event in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed"
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert len(deltas) > 1, "the text came in one piece"
    assert "".join(deltas) == expected_text(QUESTION) == final.output_text
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.usage is not None
    assert final.usage.output_tokens > 0


def test_a_function_call_and_its_round_trip(daemon: Daemon, wire: Wire) -> None:
    name, _ = model(wire, "tools", "tools")
    with daemon.sdk() as client:
        first = client.responses.create(model=name, input=QUESTION, tools=[SEARCH])
        [call] = first.output
        assert isinstance(call, ResponseFunctionToolCall)
        assert (call.name, json.loads(call.arguments)) == ("search", {"q": QUESTION})
        assert call.call_id
        conversation: Any = [
            {"role": "user", "content": QUESTION},
            *first.output,  # as the SDK's docs do: the output goes back as input
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ]
        second = client.responses.create(model=name, input=conversation, tools=[SEARCH])
    # The fake refuses a tool result that answers no call it made: the pairing arrived.
    assert second.output_text == expected_text(QUESTION, ["sunny"])


def test_a_streamed_function_call(daemon: Daemon, wire: Wire) -> None:
    name, _ = model(wire, "stream-tools", "tools")
    with (
        daemon.sdk() as client,
        client.responses.stream(model=name, input=QUESTION, tools=[SEARCH]) as stream,
    ):
        events = list(stream)
        final = stream.get_final_response()
    fragments = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    [call] = final.output
    assert isinstance(call, ResponseFunctionToolCall)
    assert call.name == "search"
    assert "".join(fragments) == call.arguments
    assert json.loads(call.arguments) == {"q": QUESTION}
    assert final.status == "completed"


def test_a_reasoning_summary_whole_and_streamed(daemon: Daemon, wire: Wire) -> None:
    name, _ = model(wire, "reasoning", "reasoning")
    effort: Any = {"effort": "low", "summary": "auto"}
    with daemon.sdk() as client:
        answer = client.responses.create(model=name, input=QUESTION, reasoning=effort)
        with client.responses.stream(model=name, input=QUESTION, reasoning=effort) as stream:
            events = list(stream)
            final = stream.get_final_response()
    thought = "".join(REASONING)
    for response in (answer, final):
        reasoning, message = response.output
        assert reasoning.type == "reasoning"
        assert [part.text for part in reasoning.summary] == [thought]
        assert response.output_text == expected_text(QUESTION)
    deltas = [e.delta for e in events if e.type == "response.reasoning_summary_text.delta"]
    assert "".join(deltas) == thought


def test_signed_thinking_goes_back_to_anthropic_in_a_tool_loop(daemon: Daemon) -> None:
    """The signature rides in the reasoning item's encrypted_content, out and back in."""
    name, _ = model(anthropic_messages.WIRE, "signed", "tools", "reasoning")
    effort: Any = {"effort": "low", "summary": "auto"}
    with daemon.sdk() as client:
        first = client.responses.create(
            model=name,
            input=QUESTION,
            tools=[SEARCH],
            reasoning=effort,
            include=["reasoning.encrypted_content"],
        )
        reasoning, call = first.output
        assert reasoning.type == "reasoning"
        assert reasoning.encrypted_content == anthropic_messages.SIGNATURE
        assert isinstance(call, ResponseFunctionToolCall)
        result = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
        turn: Any = [{"role": "user", "content": QUESTION}, *first.output, result]
        second = client.responses.create(model=name, input=turn, tools=[SEARCH], reasoning=effort)
        assert second.output_text == expected_text(QUESTION, ["sunny"])
        unsigned: Any = [{"role": "user", "content": QUESTION}, call, result]
        with pytest.raises(openai.BadRequestError) as caught:
            client.responses.create(model=name, input=unsigned, tools=[SEARCH], reasoning=effort)
    assert "thinking" in caught.value.message  # Anthropic's own refusal, passed on


def test_images_reach_the_provider_in_its_own_shape(daemon: Daemon, wire: Wire) -> None:
    name, _ = model(wire, "images")
    content: Any = [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"},
        {"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "low"},
    ]
    with daemon.sdk() as client:
        answer = client.responses.create(model=name, input=[{"role": "user", "content": content}])
    # The fake counts only images well formed for its family: none lost, none mangled.
    assert answer.output_text == expected_text("look", images=2)


def test_request_settings_reach_the_provider(daemon: Daemon) -> None:
    wire = openai_completions.WIRE
    name, scenario = model(wire, "settings", "tools")
    with daemon.sdk() as client:
        client.responses.create(
            model=name,
            instructions="Be terse.",
            input=QUESTION,
            tools=[SEARCH],
            tool_choice={"type": "function", "name": "search"},
            reasoning={"effort": "high"},
            max_output_tokens=77,
            temperature=0.3,
        )
        client.responses.create(model=name, input=QUESTION, tools=[SEARCH], tool_choice="required")
    first, second = (seen.body for seen in daemon.sent(scenario))
    assert first["messages"][0] == {"role": "system", "content": "Be terse."}
    assert first["tool_choice"] == {"type": "function", "function": {"name": "search"}}
    assert (first["reasoning_effort"], first["max_tokens"], first["temperature"]) == (
        "high",
        77,
        0.3,
    )
    assert second["tool_choice"] == "required"


async def test_the_async_client_streams_too(daemon: Daemon) -> None:
    name, _ = model(anthropic_messages.WIRE, "async")
    transport = httpx2.AsyncHTTPTransport(uds=str(daemon.process.socket))
    async with openai.AsyncOpenAI(
        base_url="http://switchboard/v1",
        api_key="unused",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=transport),
    ) as client:
        async with client.responses.stream(model=name, input=QUESTION) as stream:
            deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
            final = await stream.get_final_response()
    assert "".join(deltas) == final.output_text == expected_text(QUESTION)


def test_over_tcp_the_token_is_the_api_key(daemon: Daemon) -> None:
    name, _ = model(openai_completions.WIRE, "tcp")
    token = (daemon.process.state_dir / "tcp-token").read_text().strip()
    url = f"http://127.0.0.1:{daemon.port}/v1"
    with openai.OpenAI(base_url=url, api_key=token, max_retries=0) as client:
        assert client.responses.create(model=name, input=QUESTION).output_text
    with openai.OpenAI(base_url=url, api_key="wrong", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError):
            client.responses.create(model=name, input=QUESTION)


# --- refused, failed ------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "field"), REFUSED + MALFORMED)
def test_a_request_the_daemon_cannot_carry_is_a_400_naming_the_field(
    daemon: Daemon, body: dict[str, Any], field: str
) -> None:
    name, scenario = model(openai_completions.WIRE, "refused")
    for stream in (False, True):
        with daemon.raw() as http:
            answer = http.post(
                "/v1/responses", json={"model": name, "input": "x", "stream": stream, **body}
            )
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert (error["param"], error["type"]) == (field, "invalid_request_error")
        assert error["message"].startswith(field)
    assert daemon.sent(scenario) == []  # refused before anything was sent


def test_the_sdk_sees_a_refusal_as_a_bad_request_and_the_daemon_keeps_serving(
    daemon: Daemon,
) -> None:
    name, _ = model(openai_completions.WIRE, "after-refusal")
    with daemon.sdk() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            client.responses.create(model=name, input="x", previous_response_id="resp_1")
        assert caught.value.param == "previous_response_id"
        with pytest.raises(openai.BadRequestError) as caught:
            client.responses.create(model=name, input="x", tools=[{"type": "web_search"}])
        assert caught.value.param == "tools[0].type"
        with daemon.raw() as http:
            broken = http.post("/v1/responses", content=b"{nope")
        assert broken.status_code == 400
        assert broken.json()["error"]["type"] == "invalid_request_error"
        assert client.responses.create(model=name, input=QUESTION).output_text


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_an_upstream_error_before_any_output_is_an_http_error(
    daemon: Daemon, wire: Wire, stream: bool
) -> None:
    name, _ = model(wire, "early", fault="http_429")
    with daemon.raw() as http:
        answer = http.post("/v1/responses", json={"model": name, "input": "x", "stream": stream})
    assert answer.status_code == 429
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert FAULT_MESSAGES[429] in error["message"]
    bad, _ = model(wire, "early", fault="http_400")
    with daemon.sdk() as client:
        with pytest.raises(openai.RateLimitError):
            client.responses.create(model=name, input="x")
        with (
            pytest.raises(openai.BadRequestError),
            client.responses.stream(model=bad, input="x") as events,
        ):
            list(events)


CUT = "the connection broke in the middle of the answer"
MID_STREAM = {  # what the daemon says when the provider fails halfway, by family
    "openai": CUT,  # Chat Completions has no error event: the fake breaks the connection
    "anthropic": MID_STREAM_MESSAGE,
    "bedrock-mantle": MID_STREAM_MESSAGE,
}


def read_releasing(stream: Iterable[ResponseStreamEvent], daemon: Daemon, scenario: str) -> None:
    """Read an SDK stream to its end, letting the fake fail once the text began."""
    for event in stream:
        if event.type == "response.output_text.delta":
            daemon.release(scenario)


def assert_failed_in_band(events: list[tuple[str, dict[str, Any]]], message: str) -> None:
    (error_name, error), (failed_name, failed) = events[-2:]
    assert (error_name, failed_name) == ("error", "response.failed")
    assert message in error["error"]["message"]
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["id"] == events[0][1]["response"]["id"]
    assert message in failed["response"]["error"]["message"]
    assert "response.completed" not in [name for name, _ in events]


def test_a_failure_after_output_began_is_response_failed_in_band(
    daemon: Daemon, wire: Wire
) -> None:
    name, scenario = model(wire, "mid", fault="mid_error")
    body = {"model": name, "input": QUESTION, "stream": True}
    events = stream_raw(daemon, body, release=("response.output_text.delta", scenario))
    assert any(name == "response.output_text.delta" for name, _ in events)
    assert_failed_in_band(events, MID_STREAM[wire.provider])
    name, scenario = model(wire, "mid-sdk", fault="mid_error")
    with daemon.sdk() as client, client.responses.stream(model=name, input=QUESTION) as stream:
        with pytest.raises(openai.APIError) as caught:
            read_releasing(stream, daemon, scenario)
    assert MID_STREAM[wire.provider] in caught.value.message


def test_an_upstream_that_ends_mid_tool_call(daemon: Daemon, wire: Wire) -> None:
    name, scenario = model(wire, "cut-call", "tools", fault="cut")
    body = {"model": name, "input": QUESTION, "stream": True, "tools": [SEARCH]}
    events = stream_raw(daemon, body, release=("response.output_item.added", scenario))
    added = [p["item"] for n, p in events if n == "response.output_item.added"]
    assert [(item["type"], item["name"]) for item in added] == [("function_call", "search")]
    assert_failed_in_band(events, CUT)
    with daemon.sdk() as client:  # and the daemon goes on serving
        name, _ = model(wire, "after-cut")
        assert client.responses.create(model=name, input=QUESTION).output_text


# --- the recorded wire ----------------------------------------------------------------------


def test_what_the_daemon_sends_has_the_recorded_shapes(daemon: Daemon) -> None:
    shapes, bodies = recorded_shapes()
    cases = [
        (anthropic_messages.WIRE, ("tools", "reasoning")),
        (openai_completions.WIRE, ("reasoning",)),
        (openai_responses.WIRE, ("tools",)),
    ]
    payloads: list[dict[str, Any]] = []
    for wire, flags in cases:
        name, _ = model(wire, "shapes", *flags)
        body = {
            "model": name,
            "input": QUESTION,
            "tools": [SEARCH],
            "reasoning": {"effort": "low", "summary": "auto"},
        }
        with daemon.raw() as http:
            whole = http.post("/v1/responses", json=body).json()
        assert own_paths(whole) <= bodies, sorted(own_paths(whole) - bodies)
        events = stream_raw(daemon, {**body, "stream": True})
        assert all(name == payload["type"] for name, payload in events)
        payloads += [payload for _, payload in events]
    name, scenario = model(anthropic_messages.WIRE, "shapes", fault="mid_error")
    failing = {"model": name, "input": QUESTION, "stream": True}
    payloads += [
        p for _, p in stream_raw(daemon, failing, release=("response.output_text.delta", scenario))
    ]
    for payload in payloads:
        assert unrecorded_paths(payload, shapes) == set(), payload["type"]
    assert {cast(str, p["type"]) for p in payloads} >= {
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.content_part.added",
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
        "error",
        "response.failed",
    }


# --- Codex CLI ------------------------------------------------------------------------------

CODEX_SHELL = {
    "type": "function",
    "name": "shell",
    "description": "Runs a shell command and returns its output.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {
            "command": {"type": "array", "items": {"type": "string"}},
            "workdir": {"type": "string"},
        },
        "required": ["command"],
        "additionalProperties": False,
    },
}


def codex_turn(name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A request as Codex CLI sends one to a custom provider (``wire_api = "responses"``)."""
    return {
        "model": name,
        "instructions": "You are a coding agent running in the Codex CLI.",
        "input": items,
        "tools": [CODEX_SHELL],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": str(uuid.uuid4()),
        "text": {"verbosity": "medium"},
    }


def test_a_codex_cli_tool_loop(daemon: Daemon) -> None:
    """Codex keeps the items of ``response.output_item.done`` and sends them back with the
    command's output, the whole conversation each turn; here against Anthropic with thinking
    on, which wants its signed thinking back."""
    name, _ = model(anthropic_messages.WIRE, "codex", "tools", "reasoning")
    history: list[dict[str, Any]] = [
        {
            "type": "message",
            "role": "developer",
            "content": [
                {"type": "input_text", "text": "<permissions>workspace-write</permissions>"}
            ],
        },
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "<environment_context>cwd</environment_context>"}
            ],
        },
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": QUESTION}]},
    ]
    first = stream_raw(daemon, codex_turn(name, history))
    assert first[-1][0] == "response.completed"
    done = [payload["item"] for kind, payload in first if kind == "response.output_item.done"]
    assert [item["type"] for item in done] == ["reasoning", "function_call"]
    call = done[1]
    assert call["name"] == "shell"
    usage = first[-1][1]["response"]["usage"]
    assert usage["input_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
    second = stream_raw(daemon, codex_turn(name, [*history, *done, output]))
    assert second[-1][0] == "response.completed"
    text = "".join(p["delta"] for kind, p in second if kind == "response.output_text.delta")
    assert text == expected_text("", ["sunny"])
