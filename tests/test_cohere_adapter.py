"""The cohere-chat adapter's pure functions, against Cohere's recorded v2 traffic."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from daemon.adapters import cohere_chat as adapter
from daemon.adapters.types import Assembly, ChatCall, Target
from daemon.errors import UpstreamProtocol, UpstreamRejected, UpstreamUnavailable
from daemon.providers.model import ApiFamily, Provider
from tests.support import replay
from tests.support.replay import Recordings, assembled, raw_body

recorded = Recordings("cohere_v2")


def replay_stream(body: bytes, cuts: list[int] | None = None) -> tuple[Assembly, bool]:
    """The recorded body through this adapter's stream parser; and whether it saw the end."""
    return replay.replay_done(adapter.StreamParser(), body, cuts)


def test_a_recorded_text_stream() -> None:
    interaction = recorded("test_cohere_v2_chat_legacy_with_streaming.yaml")
    assembly, done = replay_stream(raw_body(interaction))
    message = assembly.message()
    assert done
    assert message["content"].startswith(
        "Arrrr, matey! Shiver me timbers, here's a pirate-style joke"
    )
    assert "\n\nWhy did the pirate want to go to the dentist?" in message["content"]
    assert message["content"].endswith("more pirate-themed humor!")
    assert "reasoning" not in message
    assert "toolCalls" not in message
    assert assembly.finish_reason() == "stop"
    assert (assembly.usage["inputTokens"], assembly.usage["outputTokens"]) == (7, 109)


def test_a_recorded_stream_with_two_tool_calls_and_a_plan() -> None:
    interaction = recorded("test_cohere_v2_chat_legacy_with_tool_calls_and_streaming.yaml")
    assembly, done = replay_stream(raw_body(interaction))
    message = assembly.message()
    assert done
    assert message["content"] == ""
    assert message["reasoning"] == "I will search for the current time and weather in Tokyo."
    assert message["toolCalls"] == [
        {"id": "get_time_dg5wwc00d8v5", "name": "get_time", "arguments": {"location": "Tokyo"}},
        {
            "id": "get_weather_bc8241gkqss5",
            "name": "get_weather",
            "arguments": {"location": "Tokyo"},
        },
    ]
    assert assembly.finish_reason() == "tool_calls"
    assert (assembly.usage["inputTokens"], assembly.usage["outputTokens"]) == (62, 28)


def test_a_recorded_thinking_stream_keeps_reasoning_apart() -> None:
    assembly, done = replay_stream(raw_body(recorded("cohere-reasoning.chunks.txt")))
    message = assembly.message()
    assert done
    assert message["content"] == "The answer to 2 + 2 is 4."
    assert message["reasoning"].startswith("The user is asking for the sum of 2 and 2.")
    assert message["reasoning"].endswith("I can calculate the answer directly.")
    assert (assembly.usage["inputTokens"], assembly.usage["outputTokens"]) == (8, 50)


def test_every_byte_offset_gives_the_same_message() -> None:
    body = raw_body(recorded("test_cohere_v2_chat_legacy_with_tool_calls_and_streaming.yaml"))
    whole, _ = replay_stream(body)
    assert len(whole.message()["toolCalls"]) == 2
    for cut in range(len(body) + 1):
        split, done = replay_stream(body, [cut])
        assert (split.message(), split.usage, split.finish, done) == (
            whole.message(),
            whole.usage,
            whole.finish,
            True,
        ), cut


def test_the_done_marker_after_message_end_is_harmless() -> None:
    parser = adapter.StreamParser()
    assert parser.feed(b"[DONE]") == []
    assert parser.done


def test_recorded_json_tool_calls_then_the_answer_with_history() -> None:
    name = "test_cohere_v2_chat_legacy_with_tool_calls_and_history.yaml"
    first = assembled(adapter.parse_body(raw_body(recorded(name, 0))))
    message = first.message()
    assert message["reasoning"] == "I will search for the current time and weather in Tokyo."
    assert message["toolCalls"] == [
        {"id": "get_time_dp3men9jrvhf", "name": "get_time", "arguments": {"location": "Tokyo"}},
        {
            "id": "get_weather_d7arjgsc96yf",
            "name": "get_weather",
            "arguments": {"location": "Tokyo"},
        },
    ]
    assert first.finish_reason() == "tool_calls"
    assert (first.usage["inputTokens"], first.usage["outputTokens"]) == (62, 28)
    second = assembled(adapter.parse_body(raw_body(recorded(name, 1))))
    assert second.message() == {
        "role": "assistant",
        "content": "The current time in Tokyo is 4:20 PM and the weather is sunny with a "
        "temperature of 20°C.",
    }
    assert second.finish_reason() == "stop"
    assert (second.usage["inputTokens"], second.usage["outputTokens"]) == (94, 27)


def test_the_recorded_history_request_is_what_build_request_sends() -> None:
    """Our normalized history, built for Cohere, matches what the SDK sent (modulo nulls)."""
    sent = recorded("test_cohere_v2_chat_legacy_with_tool_calls_and_history.yaml", 1).request
    tools = [
        {
            "name": t["function"]["name"],
            "description": t["function"]["description"],
            "parameters": t["function"]["parameters"],
        }
        for t in sent["tools"]
    ]
    call = ChatCall(
        model="command-r",
        messages=[
            {"role": "user", "content": "What is the weather and current time in Tokyo?"},
            {
                "role": "assistant",
                "content": "",
                "toolCalls": [
                    {
                        "id": "get_time_dp3men9jrvhf",
                        "name": "get_time",
                        "arguments": {"location": "Tokyo"},
                    },
                    {
                        "id": "get_weather_d7arjgsc96yf",
                        "name": "get_weather",
                        "arguments": {"location": "Tokyo"},
                    },
                ],
            },
            {"role": "tool", "toolCallId": "get_time_dp3men9jrvhf", "content": "4:20 PM"},
            {
                "role": "tool",
                "toolCallId": "get_weather_d7arjgsc96yf",
                "content": "Sunny 20 degrees Celsius",
            },
        ],
        tools=tools,
    )
    _, body, url = request_of(call)
    assert url == "https://api.cohere.com/v2/chat"
    expected = dict(sent)
    expected["messages"] = [{k: v for k, v in m.items() if v is not None} for m in sent["messages"]]
    assert body == expected


def test_the_recorded_simple_json_answer_parses() -> None:
    interaction = recorded("test_request_simple_success_with_vcr.yaml")
    assembly = assembled(adapter.parse_body(raw_body(interaction)))
    assert assembly.message() == {
        "role": "assistant",
        "content": "Hello! How can I assist you today?",
    }
    assert (assembly.usage["inputTokens"], assembly.usage["outputTokens"]) == (1, 9)
    assert assembly.finish_reason() == "stop"


def test_the_recorded_error_maps_to_a_typed_error() -> None:
    interaction = recorded("TestCohere.test_embed_error.yaml")
    error = adapter.map_error(interaction.status or 0, {}, raw_body(interaction))
    assert interaction.status == 404
    assert type(error) is UpstreamRejected
    assert "model 'nonexistent' not found" in (error.detail or "")


def test_failures_in_the_stream_are_raised() -> None:
    parser = adapter.StreamParser()
    with pytest.raises(UpstreamUnavailable):
        parser.feed(b'{"type":"message-end","delta":{"finish_reason":"ERROR"}}')
    with pytest.raises(UpstreamProtocol):
        adapter.StreamParser().feed(
            b'{"type":"tool-call-delta","index":3,"delta":{"message":{"tool_calls":'
            b'{"function":{"arguments":"{"}}}}}'
        )
    with pytest.raises(UpstreamProtocol):
        adapter.StreamParser().feed(b"not json")
    with pytest.raises(UpstreamProtocol):
        adapter.parse_body(b'{"finish_reason":"COMPLETE"}')


def test_the_length_finish_maps_to_length() -> None:
    events = adapter.StreamParser().feed(
        b'{"type":"message-end","delta":{"finish_reason":"MAX_TOKENS","usage":'
        b'{"tokens":{"input_tokens":5,"output_tokens":6}}}}'
    )
    result = assembled(events)
    assert result.finish_reason() == "length"
    assert (result.usage["inputTokens"], result.usage["outputTokens"]) == (5, 6)


COHERE = Provider("cohere", "Cohere", ApiFamily.COHERE_CHAT, "https://api.cohere.com/v2")


def request_of(call: ChatCall) -> tuple[dict[str, str], dict[str, Any], str]:
    request = adapter.build_request(Target(COHERE, COHERE.base_url or "", call.model, "k-1"), call)
    assert request.body is not None
    return request.headers, orjson.loads(request.body), request.url


def test_the_request_keeps_roles_images_and_options() -> None:
    call = ChatCall(
        model="command-a",
        messages=[
            {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image", "data": "aGk=", "mimeType": "image/jpeg"},
                    {"type": "image", "url": "https://example.com/a.png"},
                ],
            },
            {"role": "assistant", "content": "a cat"},
        ],
        tools=[{"name": "look", "parameters": {"type": "object"}}],
        tool_choice="required",
        max_tokens=100,
        temperature=0.3,
        reasoning="high",
        stream=True,
    )
    headers, body, _ = request_of(call)
    assert headers["Authorization"] == "Bearer k-1"
    assert headers["Accept"] == "text/event-stream"
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,aGk="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
        },
        {"role": "assistant", "content": "a cat"},
    ]
    assert body["tools"] == [
        {"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}
    ]
    assert body["tool_choice"] == "REQUIRED"
    assert (body["max_tokens"], body["temperature"], body["stream"]) == (100, 0.3, True)
    assert body["thinking"] == {"type": "enabled"}


@pytest.mark.parametrize(
    ("choice", "wire", "names"),
    [
        ("auto", None, ["a", "b"]),
        (None, None, ["a", "b"]),
        ("none", "NONE", ["a", "b"]),
        ({"name": "b"}, "REQUIRED", ["b"]),
    ],
)
def test_tool_choices(choice: Any, wire: str | None, names: list[str]) -> None:
    call = ChatCall(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        tools=[{"name": "a"}, {"name": "b"}],
        tool_choice=choice,
    )
    _, body, _ = request_of(call)
    assert body.get("tool_choice") == wire
    assert [t["function"]["name"] for t in body["tools"]] == names
    assert "thinking" not in body
    assert "max_tokens" not in body


def test_the_models_listing_is_on_v1() -> None:
    assert adapter.models_url("https://api.cohere.com/v2") == (
        "https://api.cohere.com/v1/models" + adapter.MODELS_QUERY
    )
    assert adapter.models_url("http://127.0.0.1:9/v2/").startswith("http://127.0.0.1:9/v1/models")
    listing = b'{"models":[{"name":"command-r","endpoints":["chat"]},{"name":"command-a"},{}]}'
    assert adapter.parse_models(listing) == ["command-a", "command-r"]
    with pytest.raises(UpstreamProtocol):
        adapter.parse_models(b"<html>")
