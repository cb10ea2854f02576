"""A ``/v1`` request answered whole by a provider of its own wire goes on unchanged.

Through the real daemon, to the fake of each family: the provider receives the client's body
byte for byte but the model name (every field the daemon has no word for included:
``response_format``, Anthropic's ``cache_control`` and ``anthropic-beta``, ...), and the client
gets the provider's answer whole, named with the model as it asked: one JSON object, or the
provider's own events relayed as they come. Routes with fallbacks, providers whose requests the
daemon adjusts and Chat Completions streams with tools (whose calls the daemon keeps together)
are translated as before; refusals the Responses endpoint owes (stored state, server tools)
still come first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from tests.fakes.families import anthropic_messages, openai_completions, openai_responses
from tests.fakes.families.script import expected_text
from tests.fakes.families.server import FakeFamilies, Seen, daemon_config, family_key
from tests.fakes.families.wire import Wire
from tests.support.daemon import DaemonProcess, serving_daemon
from tests.support.sse import sse_events
from tests.support.upstream import Threaded, threaded_families

WIRES = [openai_completions.WIRE, anthropic_messages.WIRE, openai_responses.WIRE]
OPENAI = openai_completions.WIRE
QUESTION = "what is the weather in Paris"
FALLBACK_SCENARIO = "forwarding-with-a-fallback"
SEARCH = {
    "type": "function",
    "function": {"name": "search", "parameters": {"type": "object", "properties": {}}},
}


@dataclass(frozen=True)
class Daemon:
    process: DaemonProcess
    fake: Threaded[FakeFamilies]

    def post(self, path: str, body: dict[str, Any], **headers: str) -> httpx2.Response:
        transport = httpx2.HTTPTransport(uds=str(self.process.socket))
        with httpx2.Client(base_url="http://switchboard", transport=transport) as client:
            return client.post(path, json=body, headers=headers, timeout=30)

    def events(self, path: str, body: dict[str, Any]) -> list[tuple[str, Any]]:
        """(event name or "", data) of each event of a streamed answer."""
        answer = self.post(path, body)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/event-stream")
        return sse_events(answer.content)

    def sent(self, scenario: str) -> list[Seen]:
        return self.fake.fake.requests_for(scenario)


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with threaded_families(WIRES) as fake:
        openai_base = f"{fake.base_url}{OPENAI.mount}{OPENAI.base_path}"
        fallback = f"openai/{OPENAI.model}+scenario={FALLBACK_SCENARIO}"
        then = f"anthropic/{anthropic_messages.WIRE.model}"
        config = daemon_config(fake.base_url, WIRES, "retries = 0\nbreaker_threshold = 1000")
        config += f'model_fallbacks = {{ "{fallback}" = ["{then}"] }}\n'
        # deepseek speaks Chat Completions but takes no images: the daemon checks its requests.
        config += f'\n[providers.deepseek]\nbase_url = "{openai_base}"\n'
        config += f'api_key = "{family_key(OPENAI)}"\n'
        with serving_daemon(config=config) as process:
            yield Daemon(process, fake)


def scenario_model(wire: Wire, provider: str | None = None) -> tuple[str, str]:
    scenario = f"fwd-{uuid.uuid4().hex[:10]}"
    return f"{provider or wire.provider}/{wire.model}+scenario={scenario}", scenario


def test_a_chat_completion_reaches_an_openai_provider_whole(daemon: Daemon) -> None:
    model, scenario = scenario_model(OPENAI)
    body = {
        "model": model,
        "messages": [{"role": "user", "content": QUESTION}],
        "response_format": {"type": "json_object"},
        "seed": 7,
        "logprobs": True,
        "user": "someone",
    }
    answer = daemon.post("/v1/chat/completions", body)
    assert answer.status_code == 200, answer.text
    (seen,) = daemon.sent(scenario)
    assert seen.body == {**body, "model": model.removeprefix("openai/")}
    completion = answer.json()
    assert completion["model"] == model  # named as the client asked
    assert completion["choices"][0]["message"]["content"] == expected_text(QUESTION)
    # What only the provider's own answer has: the translated one carries none of these.
    assert "system_fingerprint" in completion
    assert "refusal" in completion["choices"][0]["message"]


def test_a_message_reaches_an_anthropic_provider_whole(daemon: Daemon) -> None:
    wire = anthropic_messages.WIRE
    model, scenario = scenario_model(wire)
    cached = {"type": "ephemeral"}
    body = {
        "model": model,
        "max_tokens": 300,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": cached}],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": QUESTION, "cache_control": cached}],
            }
        ],
        "metadata": {"user_id": "someone"},
        "top_k": 5,
    }
    beta = "prompt-caching-2024-07-31"
    answer = daemon.post(
        "/v1/messages",
        body,
        **{"anthropic-beta": beta, "anthropic-version": "2023-06-01", "x-api-key": "client-key"},
    )
    assert answer.status_code == 200, answer.text
    (seen,) = daemon.sent(scenario)
    assert seen.body == {**body, "model": model.removeprefix("anthropic/")}
    assert seen.headers["anthropic-beta"] == beta
    assert seen.headers["x-api-key"] == family_key(wire)  # the daemon's key, never the client's
    message = answer.json()
    assert message["model"] == model
    assert message["content"][0]["text"] == expected_text(QUESTION)


def test_a_response_reaches_a_responses_provider_whole(daemon: Daemon) -> None:
    wire = openai_responses.WIRE
    model, scenario = scenario_model(wire)
    body = {
        "model": model,
        "input": [{"type": "message", "role": "user", "content": QUESTION}],
        "store": False,
        "metadata": {"ticket": "42"},
        "parallel_tool_calls": False,
        # What translation refuses (chat.send cannot carry it) and the provider takes:
        "top_p": 0.9,
        "top_logprobs": 2,
        "text": {"format": {"type": "json_object"}},
    }
    answer = daemon.post("/v1/responses", body)
    assert answer.status_code == 200, answer.text
    (seen,) = daemon.sent(scenario)
    assert seen.body == {**body, "model": model.removeprefix(f"{wire.provider}/")}
    response = answer.json()
    assert response["model"] == model
    assert response["output"][-1]["content"][0]["text"] == expected_text(QUESTION)


def test_what_the_responses_endpoint_refuses_never_reaches_the_provider(daemon: Daemon) -> None:
    model, scenario = scenario_model(openai_responses.WIRE)
    answer = daemon.post("/v1/responses", {"model": model, "input": QUESTION, "store": True})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "store"
    assert daemon.sent(scenario) == []


@pytest.mark.parametrize(
    ("case", "provider", "extra"),
    [
        ("streamed with tools", None, {"stream": True, "tools": [SEARCH]}),
        ("with a fallback", None, {}),
        ("to a provider the daemon adjusts", "deepseek", {}),
    ],
)
def test_other_requests_are_translated(
    daemon: Daemon, case: str, provider: str | None, extra: dict[str, Any]
) -> None:
    model, scenario = scenario_model(OPENAI, provider)
    if case == "with a fallback":
        model, scenario = f"openai/{OPENAI.model}+scenario={FALLBACK_SCENARIO}", FALLBACK_SCENARIO
    body = {"model": model, "messages": [{"role": "user", "content": QUESTION}], "seed": 7}
    answer = daemon.post("/v1/chat/completions", {**body, **extra})
    assert answer.status_code == 200, answer.text
    seen = daemon.sent(scenario)[-1]
    assert "seed" not in seen.body  # the daemon built this request from its own call


# --- streams ------------------------------------------------------------------------------------

# Each wire's request of a streamed answer, and where its events name the model.
STREAMED: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "chat": (
        "/v1/chat/completions",
        {
            "messages": [{"role": "user", "content": QUESTION}],
            "stream_options": {"include_usage": True},
            "seed": 7,
        },
        None,
    ),
    "messages": (
        "/v1/messages",
        {"max_tokens": 300, "messages": [{"role": "user", "content": QUESTION}], "top_k": 5},
        "message",
    ),
    "responses": (
        "/v1/responses",
        {"input": QUESTION, "store": False, "metadata": {"ticket": "42"}},
        "response",
    ),
}
STREAMED_WIRES = dict(zip(STREAMED, WIRES, strict=True))


def streamed_text(events: list[tuple[str, Any]]) -> str:
    """The answer's text, from the events of any of the three wires."""
    pieces = []
    for _, data in events:
        if data == "[DONE]":
            continue
        for choice in data.get("choices") or ():
            pieces.append(choice["delta"].get("content") or "")
        delta = data.get("delta")
        if data.get("type") == "content_block_delta" and delta["type"] == "text_delta":
            pieces.append(delta["text"])
        if data.get("type") == "response.output_text.delta":
            pieces.append(data["delta"])
    return "".join(pieces)


@pytest.mark.parametrize("name", list(STREAMED))
def test_a_stream_reaches_its_provider_whole_and_comes_back_as_the_provider_sent_it(
    daemon: Daemon, name: str
) -> None:
    path, extra, holder = STREAMED[name]
    wire = STREAMED_WIRES[name]
    model, scenario = scenario_model(wire)
    body = {"model": model, "stream": True, **extra}
    events = daemon.events(path, body)
    (seen,) = daemon.sent(scenario)
    assert seen.body == {**body, "model": model.removeprefix(f"{wire.provider}/")}
    assert seen.headers["accept"] == "text/event-stream"
    assert streamed_text(events) == expected_text(QUESTION)
    named = [data if holder is None else data.get(holder) for _, data in events if data != "[DONE]"]
    named = [item for item in named if isinstance(item, dict) and "model" in item]
    assert named
    assert {item["model"] for item in named} == {model}  # as the client asked
    if holder is None:  # Chat Completions: data only, to the end marker, usage as asked
        assert {event for event, _ in events} == {""}
        assert events[-1][1] == "[DONE]"
        assert events[-2][1]["usage"]["completion_tokens"] > 0
    else:  # the other two name each event as its data's type, to the wire's last event
        assert all(event == data["type"] for event, data in events)
        assert events[-1][0] in ("message_stop", "response.completed")


@pytest.mark.parametrize("name", list(STREAMED))
def test_a_relayed_stream_that_breaks_ends_in_the_endpoints_own_error_event(
    daemon: Daemon, name: str
) -> None:
    path, extra, _ = STREAMED[name]
    wire = STREAMED_WIRES[name]
    model, _ = scenario_model(wire)
    events = daemon.events(path, {"model": f"{model}+fault=malformed", "stream": True, **extra})
    assert streamed_text(events)  # the part before the break came through
    last_name, last = events[-1]
    if name == "chat":
        assert last["error"]["code"] == "UpstreamProtocol"
    elif name == "messages":
        assert (last_name, last) == ("error", ERROR_EVENT)
    else:
        assert [event for event, _ in events[-2:]] == ["error", "response.failed"]
    assert "[DONE]" not in [data for _, data in events]
    assert not {"message_stop", "response.completed"} & {event for event, _ in events}
    if name == "responses":  # the failure names the provider's response, numbered after it
        opened, failed = events[0][1], events[-1][1]
        assert failed["response"]["id"] == opened["response"]["id"]
        numbers = [data["sequence_number"] for _, data in events]
        assert numbers == list(range(len(events)))


ERROR_EVENT = {
    "type": "error",
    "error": {"type": "api_error", "message": "the provider sent an event that is not JSON"},
}
