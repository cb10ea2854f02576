"""The anthropic-messages adapter's pure functions, against Anthropic's recorded traffic."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from daemon.adapters import anthropic_messages as adapter
from daemon.adapters.types import THINKING_BUDGET, Assembly, ChatCall, Target
from daemon.errors import (
    UpstreamAuthFailed,
    UpstreamProtocol,
    UpstreamRejected,
    UpstreamUnavailable,
)
from daemon.providers.model import ApiFamily, AuthStyle, Provider
from tests.support import replay
from tests.support.replay import Recordings, raw_body

recorded = Recordings("anthropic_messages")


def replay_stream(body: bytes, cuts: list[int] | None = None) -> tuple[Assembly, bool]:
    """The recorded body through this adapter's stream parser; and whether it saw the end."""
    return replay.replay_done(adapter.StreamParser(), body, cuts)


def test_a_recorded_stream_with_two_tool_calls() -> None:
    assembly, done = replay_stream(raw_body(recorded("test_anthropic_tools_streaming_legacy.yaml")))
    message = assembly.message()
    assert done
    assert message["content"].startswith("Certainly! I can help you with that information.")
    assert [(c["name"], c["arguments"]) for c in message["toolCalls"]] == [
        ("get_weather", {"location": "San Francisco, CA", "unit": "celsius"}),
        ("get_time", {"timezone": "America/Los_Angeles"}),
    ]
    assert [c["id"] for c in message["toolCalls"]] == [
        "toolu_014x5X91kx3fvdhpLvwXZWE2",
        "toolu_0121kXsENLvoDZ72LCuAnCCz",
    ]
    assert assembly.finish_reason() == "tool_calls"
    assert (assembly.usage["inputTokens"], assembly.usage["outputTokens"]) == (506, 153)


def test_a_recorded_thinking_stream_keeps_reasoning_apart() -> None:
    assembly, _ = replay_stream(raw_body(recorded("test_anthropic_thinking_streaming_legacy.yaml")))
    message = assembly.message()
    assert message["content"] == "The letter 'r' appears 3 times in the word \"strawberry\"."
    assert message["reasoning"].startswith("Let me count the occurrences of the letter 'r'")


def test_a_recorded_redacted_thinking_stream_yields_only_the_visible_text() -> None:
    assembly, done = replay_stream(
        raw_body(recorded("test_anthropic_model_thinking_part_redacted_stream.yaml"))
    )
    assert done
    assert assembly.message()["content"].startswith("I notice that you've sent")
    assert "reasoning" not in assembly.message()
    assert assembly.usage["outputTokens"] == 189


def test_every_byte_offset_gives_the_same_message() -> None:
    body = raw_body(recorded("test_request_stream_fallback_for_high_max_tokens.yaml"))
    whole, _ = replay_stream(body)
    assert whole.message()["content"] == "2"
    for cut in range(len(body) + 1):
        split, done = replay_stream(body, [cut])
        assert (split.message(), split.usage, done) == (whole.message(), whole.usage, True), cut


def test_recorded_json_messages_parse() -> None:
    assembly = Assembly()
    for event in adapter.parse_body(raw_body(recorded("anthropic_completion_tools.yaml"))):
        assembly.add(event)
    (call,) = assembly.message()["toolCalls"]
    assert (call["name"], call["arguments"]) == ("get_weather", {"location": "San Francisco, CA"})
    assert assembly.usage["inputTokens"] == 599
    simple = Assembly()
    for event in adapter.parse_body(raw_body(recorded("test_anthropic_model_instructions.yaml"))):
        simple.add(event)
    assert simple.message() == {"role": "assistant", "content": "The capital of France is Paris."}


@pytest.mark.parametrize(
    ("name", "expected", "words"),
    [
        ("anthropic_completion_error.yaml", UpstreamRejected, "does not match the expected shape"),
        ("anthropic_completion_invalid_api_key.yaml", UpstreamAuthFailed, "invalid x-api-key"),
        ("test_model_name_suggestion[anthropic].yaml", UpstreamRejected, "claude-sonet-4-5"),
        (
            "test_anthropic_explicit_effort_xhigh_unsupported_model_errors.yaml",
            UpstreamRejected,
            "xhigh",
        ),
    ],
)
def test_recorded_errors_map_to_typed_errors(name: str, expected: type, words: str) -> None:
    interaction = recorded(name)
    error = adapter.map_error(interaction.status or 0, {}, raw_body(interaction))
    assert type(error) is expected
    assert words in (error.detail or "")


def test_an_error_event_mid_stream_is_raised() -> None:
    parser = adapter.StreamParser()
    with pytest.raises(UpstreamUnavailable):
        parser.feed(b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')
    with pytest.raises(UpstreamProtocol):
        parser.feed(
            b'{"type":"content_block_delta","index":9,"delta":{"type":"input_json_delta","partial_json":"{"}}'
        )


ANTHROPIC = Provider(
    "anthropic",
    "Anthropic",
    ApiFamily.ANTHROPIC_MESSAGES,
    "https://api.anthropic.com/v1",
    auth=AuthStyle.X_API_KEY,
    headers=(("anthropic-version", "2023-06-01"),),
)
GATEWAY = Provider(
    "minimax", "MiniMax", ApiFamily.ANTHROPIC_MESSAGES, "https://api.minimax.io/anthropic/v1"
)


def request_of(provider: Provider, call: ChatCall) -> tuple[dict[str, str], dict[str, Any], str]:
    request = adapter.build_request(
        Target(provider, provider.base_url or "", "claude-x", "k-1"), call
    )
    assert request.body is not None
    return request.headers, orjson.loads(request.body), request.url


def test_the_request_hoists_system_and_merges_tool_results() -> None:
    call = ChatCall(
        model="claude-x",
        messages=[
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "weather?"},
                    {"type": "image", "data": "aGk=", "mimeType": "image/jpeg"},
                ],
            },
            {
                "role": "assistant",
                "content": "",
                "toolCalls": [
                    {"id": "t1", "name": "get_weather", "arguments": {"city": "Paris"}},
                    {"id": "t2", "name": "get_time", "arguments": {}},
                ],
            },
            {"role": "tool", "toolCallId": "t1", "content": "sunny"},
            {"role": "tool", "toolCallId": "t2", "content": "noon"},
        ],
        tools=[{"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}],
        tool_choice="required",
        stream=True,
    )
    headers, body, url = request_of(ANTHROPIC, call)
    assert url == "https://api.anthropic.com/v1/messages"
    assert (headers["x-api-key"], headers["anthropic-version"]) == ("k-1", "2023-06-01")
    assert "Authorization" not in headers
    assert body["system"] == "be brief"
    assert [turn["role"] for turn in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/jpeg", "data": "aGk="},
    }
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "t2", "name": "get_time", "input": {}},
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
        {"type": "tool_result", "tool_use_id": "t2", "content": "noon"},
    ]
    assert body["tools"] == [
        {"name": "get_weather", "input_schema": {"type": "object"}, "description": "Weather"}
    ]
    assert body["tool_choice"] == {"type": "any"}
    assert body["max_tokens"] == adapter.DEFAULT_MAX_TOKENS


def test_reasoning_turns_on_thinking_with_room_for_the_answer() -> None:
    call = ChatCall(
        model="claude-x",
        messages=[{"role": "user", "content": "hi"}],
        reasoning="medium",
        temperature=0.5,
        max_tokens=100,
    )
    _, body, _ = request_of(ANTHROPIC, call)
    assert body["thinking"] == {
        "type": "enabled",
        "budget_tokens": THINKING_BUDGET["medium"],
    }
    assert body["max_tokens"] > body["thinking"]["budget_tokens"]
    assert "temperature" not in body


def test_gateways_get_a_bearer_token_and_the_api_version() -> None:
    headers, _, url = request_of(
        GATEWAY, ChatCall(model="m", messages=[{"role": "user", "content": "hi"}])
    )
    assert headers["Authorization"] == "Bearer k-1"
    assert headers["anthropic-version"] == adapter.API_VERSION
    assert url == "https://api.minimax.io/anthropic/v1/messages"
