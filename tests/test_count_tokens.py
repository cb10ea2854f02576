"""``POST /v1/messages/count_tokens``: the official ``anthropic`` SDK's ``count_tokens`` through
the real daemon. Anthropic and Gemini count with their own calls (the fakes count as their
answers' usage does, so a count must equal the input tokens of the same request answered);
an OpenAI-shape provider has no counting call, and the daemon's documented estimate answers,
saying so. Bad requests get Anthropic's error shape, naming what is wrong.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import MessageParam, ToolParam

from daemon.adapters.tokens import IMAGE_TOKENS, estimate_input_tokens
from daemon.adapters.types import ChatCall
from tests.fakes.families import anthropic_messages, google_generative_ai, openai_completions
from tests.fakes.families.server import FakeFamilies, Seen, daemon_config
from tests.fakes.families.wire import Wire
from tests.support.daemon import DaemonProcess, serving_daemon
from tests.support.upstream import Threaded, threaded_families

WIRES: list[Wire] = [anthropic_messages.WIRE, google_generative_ai.WIRE, openai_completions.WIRE]
WRONG_KEY = "sk-count-wrong-key-4321"
SYSTEM = "Answer in one short sentence."
QUESTION = "how many tokens does this question take"
SEARCH: ToolParam = {
    "name": "search",
    "description": "Search the web",
    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
}


def extra_providers(base_url: str) -> str:
    """A gateway of the Anthropic family without the counting endpoint, and a wrong key."""
    return f"""
[providers.gateway]
api = "anthropic-messages"
base_url = "{base_url}/elsewhere/v1"
api_key = "sk-count-gateway-0000"

[providers.wrongkey]
api = "anthropic-messages"
base_url = "{base_url}/anthropic/v1"
api_key = "{WRONG_KEY}"
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[Threaded[FakeFamilies]]:
    with threaded_families(WIRES) as threaded:
        yield threaded


@pytest.fixture(scope="module")
def daemon(fake: Threaded[FakeFamilies]) -> Iterator[DaemonProcess]:
    config = daemon_config(fake.base_url, WIRES) + extra_providers(fake.base_url)
    with serving_daemon(config=config) as process:
        yield process


@pytest.fixture
def client(daemon: DaemonProcess) -> Iterator[anthropic.Anthropic]:
    transport = httpx2.HTTPTransport(uds=str(daemon.socket))
    with anthropic.Anthropic(
        base_url="http://switchboard",
        api_key="unused",
        max_retries=0,
        http_client=httpx2.Client(transport=transport),
    ) as opened:
        yield opened


@pytest.fixture
def raw(daemon: DaemonProcess) -> Iterator[httpx2.Client]:
    transport = httpx2.HTTPTransport(uds=str(daemon.socket))
    with httpx2.Client(base_url="http://switchboard", transport=transport) as opened:
        yield opened


def marked(provider: str) -> tuple[str, str]:
    """A ``provider/model`` for a fresh scenario, and the marker that finds its requests."""
    marker = f"count-{uuid.uuid4().hex[:10]}"
    return f"{provider}/fake-model+scenario={marker}", marker


def question() -> list[MessageParam]:
    return [{"role": "user", "content": QUESTION}]


def fake_count() -> int:
    """What the fakes count for SYSTEM and QUESTION: 10 plus a token a word."""
    return 10 + len(SYSTEM.split()) + len(QUESTION.split())


# --- the provider's own count --------------------------------------------------------------------


def counted_as_charged(
    client: anthropic.Anthropic, fake: Threaded[FakeFamilies], provider: str
) -> tuple[str, Seen]:
    """Count a request with tools through ``provider``, then send it: the count is the
    provider's own (not estimated) and equals what the answer is charged. The model asked for,
    and the counting request the fake saw."""
    model, marker = marked(provider)
    asked: dict[str, Any] = {
        "model": model,
        "system": SYSTEM,
        "messages": question(),
        "tools": [SEARCH],
    }
    counted = client.messages.count_tokens(**asked)
    answered = client.messages.create(max_tokens=50, **asked)
    assert counted.to_dict() == {"input_tokens": fake_count(), "estimated": False}
    assert answered.usage.input_tokens == counted.input_tokens
    count_request, _ = fake.fake.requests_for(marker)
    return model, count_request


def test_anthropic_counts_with_its_own_count_tokens_call(
    client: anthropic.Anthropic, fake: Threaded[FakeFamilies]
) -> None:
    _, count_request = counted_as_charged(client, fake, "anthropic")
    assert count_request.path == "/anthropic/v1/messages/count_tokens"
    assert count_request.headers["x-api-key"] == "contract-key-anthropic-messages-0000"
    assert sorted(count_request.body) == ["messages", "model", "system", "tools"]
    assert count_request.body["tools"][0]["name"] == "search"


def test_gemini_counts_with_count_tokens_on_the_whole_request(
    client: anthropic.Anthropic, fake: Threaded[FakeFamilies]
) -> None:
    model, count_request = counted_as_charged(client, fake, "google")
    assert count_request.path.endswith(":countTokens")
    whole = count_request.body["generateContentRequest"]
    assert whole["model"] == f"models/{model.removeprefix('google/')}"
    assert whole["systemInstruction"] == {"parts": [{"text": SYSTEM}]}
    assert whole["tools"][0]["functionDeclarations"][0]["name"] == "search"


# --- the estimate --------------------------------------------------------------------------------


def test_an_openai_shape_provider_gets_the_documented_estimate(
    client: anthropic.Anthropic, fake: Threaded[FakeFamilies]
) -> None:
    model, marker = marked("openai")
    counted = client.messages.count_tokens(model=model, system="Be brief.", messages=question())
    # "Be brief." and the question: 9 + 39 characters, 12 tokens at four characters a token
    # (rounded up), and 4 tokens for each of the two messages.
    assert counted.to_dict() == {"input_tokens": 12 + 2 * 4, "estimated": True}
    assert fake.fake.requests_for(marker) == [], "there is no call to ask the provider"


def test_the_estimate_counts_tool_definitions_calls_results_and_images() -> None:
    call = ChatCall(
        model="m",
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "abcd"}, {"type": "image"}]},
            {
                "role": "assistant",
                "content": "",
                "toolCalls": [{"id": "1", "name": "f", "arguments": {"a": 1}}],
            },
            {"role": "tool", "toolCallId": "1", "content": "ok"},
        ],
        tools=[{"name": "f", "parameters": {"type": "object"}}],
    )
    # The tool as JSON (43 characters), "abcd", the call's name and arguments (1 + 7), "ok":
    # 57 characters are 15 tokens; 3 messages are 12 more; the image 1600.
    assert estimate_input_tokens(call) == 15 + 12 + IMAGE_TOKENS


def test_a_gateway_without_the_counting_endpoint_is_estimated(
    client: anthropic.Anthropic, fake: Threaded[FakeFamilies]
) -> None:
    counted = client.messages.count_tokens(model="gateway/some-model", messages=question())
    assert counted.to_dict() == {"input_tokens": 10 + 4, "estimated": True}
    assert "/elsewhere/v1/messages/count_tokens" in fake.fake.missed


# --- bad requests --------------------------------------------------------------------------------


def error_of(response: httpx2.Response) -> tuple[int, str, str]:
    body = response.json()
    assert body["type"] == "error", body
    return response.status_code, body["error"]["type"], body["error"]["message"]


def test_a_body_without_messages_is_a_400_naming_them(raw: httpx2.Client) -> None:
    response = raw.post("/v1/messages/count_tokens", json={"model": "anthropic/fake-model"})
    status, kind, message = error_of(response)
    assert (status, kind) == (400, "invalid_request_error")
    assert "messages" in message


def test_the_sdk_sees_bad_requests_as_its_own_errors(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.count_tokens(
            model="anthropic/fake-model", messages=[{"role": "system", "content": "x"}]
        )
    assert "messages.0.role" in str(caught.value)
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.count_tokens(model="no-provider-named", messages=question())
    assert "name a provider" in str(caught.value)


def test_bodies_that_are_not_count_requests(raw: httpx2.Client) -> None:
    not_json = raw.post(
        "/v1/messages/count_tokens", content=b"{nope", headers={"content-type": "application/json"}
    )
    no_model = raw.post("/v1/messages/count_tokens", json={"messages": question()})
    assert error_of(not_json)[:2] == (400, "invalid_request_error")
    status, _, message = error_of(no_model)
    assert status == 400
    assert "model" in message


def test_a_refused_key_is_the_providers_error_without_the_key(
    client: anthropic.Anthropic, raw: httpx2.Client
) -> None:
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.count_tokens(model="wrongkey/fake-model", messages=question())
    assert WRONG_KEY not in str(caught.value.body)
    # The daemon keeps serving: the next count is answered.
    again = raw.post(
        "/v1/messages/count_tokens",
        json={"model": "anthropic/fake-model", "system": SYSTEM, "messages": question()},
    )
    assert again.json() == {"input_tokens": fake_count(), "estimated": False}
