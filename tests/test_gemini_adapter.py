"""The google-generative-ai adapter's pure functions, against Gemini's recorded traffic."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from daemon.adapters import google_generative_ai as adapter
from daemon.adapters.types import THINKING_BUDGET, Assembly, ChatCall, Finish, Target
from daemon.errors import (
    ContextTooLong,
    RateLimited,
    UpstreamAuthFailed,
    UpstreamProtocol,
    UpstreamRejected,
)
from daemon.providers.model import ApiFamily, AuthStyle, Provider
from tests.fakes import cassettes
from tests.support import replay
from tests.support.replay import Recordings, raw_body

recorded = Recordings("gemini")
VERTEX_STREAM = "test_streaming[logcontent-gemini-2.5-flash-vertexaiapi-sync-default].yaml"


def replay_stream(body: bytes, cuts: list[int] | None = None) -> tuple[Assembly, bool]:
    """The recorded body through this adapter's stream parser; Gemini has no end marker, so
    a finish reason is what ends it."""
    assembly = replay.replay_stream(adapter.StreamParser(), body, cuts)
    return assembly, assembly.finish is not None


def assembled(body: bytes) -> Assembly:
    assembly = Assembly()
    for event in adapter.parse_body(body):
        assembly.add(event)
    return assembly


def calls_of(assembly: Assembly) -> list[tuple[str, dict[str, Any]]]:
    """(name, arguments) of each tool call; Gemini sends no ids, so the adapter's are random."""
    calls = assembly.message()["toolCalls"]
    assert all(call["id"].startswith("call_") for call in calls)
    return [(call["name"], call["arguments"]) for call in calls]


def test_a_recorded_text_stream() -> None:
    body = raw_body(recorded("test_google_model_stream.yaml"))
    assert b"\r\n\r\n" in body
    assembly, done = replay_stream(body)
    assert done
    assert assembly.message() == {
        "role": "assistant",
        "content": "The capital of France is Paris.\n",
    }
    assert assembly.finish_reason() == "stop"
    assert (assembly.usage["inputTokens"], assembly.usage["outputTokens"]) == (13, 8)


def test_usage_is_cumulative_and_the_last_chunk_wins() -> None:
    assembly, _ = replay_stream(
        raw_body(recorded("test_google_stream_usage_is_live_mid_stream.yaml"))
    )
    assert assembly.message()["content"] == "\n".join(str(n) for n in range(1, 31))
    assert assembly.usage == {
        "inputTokens": 18,
        "outputTokens": 80 + 35,
        "cacheReadTokens": 0,
        "cacheWriteTokens": 0,
        "reasoningTokens": 35,
    }


def test_recorded_streamed_function_calls_and_the_answer_after_them() -> None:
    first, done = replay_stream(raw_body(recorded("test_google_model_iter_stream.yaml", 0)))
    assert done
    assert calls_of(first) == [("get_capital", {"country": "France"})]
    assert first.finish_reason() == "tool_calls"  # Gemini says STOP
    second, _ = replay_stream(raw_body(recorded("test_google_model_iter_stream.yaml", 1)))
    assert calls_of(second) == [("get_temperature", {"city": "Paris"})]
    assert first.message()["toolCalls"][0]["id"] != second.message()["toolCalls"][0]["id"]
    last, _ = replay_stream(raw_body(recorded("test_google_model_iter_stream.yaml", 2)))
    assert last.message() == {"role": "assistant", "content": "The temperature in Paris is 30°C.\n"}
    assert last.finish_reason() == "stop"
    assert (last.usage["inputTokens"], last.usage["outputTokens"]) == (79, 12)


def test_a_signed_function_call_finishes_in_a_later_chunk() -> None:
    name = "test_google_streaming_tool_call_thought_signature.yaml"
    call, done = replay_stream(raw_body(recorded(name, 0)))
    assert done
    message = call.message()
    assert (message["content"], calls_of(call)) == ("", [("get_country", {})])
    signature = message["toolCalls"][0]["signature"]
    assert signature.startswith("EpwICpkIAXLI2nxl"), "the thoughtSignature is kept for next turn"
    assert call.finish_reason() == "tool_calls"
    assert call.usage["reasoningTokens"] == 202
    answer, _ = replay_stream(raw_body(recorded(name, 1)))
    assert answer.message()["content"] == "The capital of Mexico is Mexico City."
    assert answer.usage["inputTokens"] == 257  # the last chunk's count, not the first's


def test_a_recorded_thought_summary_stream_keeps_reasoning_apart() -> None:
    assembly, done = replay_stream(raw_body(recorded("test_google_model_thinking_part_iter.yaml")))
    message = assembly.message()
    assert done
    assert message["reasoning"].startswith("**Clarifying User Goals**\n\nI'm currently focused")
    assert "**Clarifying" not in message["content"]
    assert message["content"]
    assert assembly.finish_reason() == "stop"
    assert assembly.usage["reasoningTokens"] > 0


def test_a_recorded_vertex_stream() -> None:
    assembly, done = replay_stream(raw_body(recorded(VERTEX_STREAM)))
    assert done
    content = assembly.message()["content"]
    assert content.startswith("When systems hum, a silent, complex art,")
    assert content.endswith("Makes complex software shine so bright.")
    assert assembly.usage["outputTokens"] == 388 + 2193
    assert assembly.usage["inputTokens"] == 8


def test_every_byte_offset_gives_the_same_message() -> None:
    body = raw_body(recorded("test_google_model_stream.yaml"))
    whole, _ = replay_stream(body)
    for cut in range(len(body) + 1):
        split, done = replay_stream(body, [cut])
        assert (split.message(), split.usage, split.finish_reason(), done) == (
            whole.message(),
            whole.usage,
            "stop",
            True,
        ), cut


def test_a_stream_without_a_finish_is_not_done() -> None:
    body = raw_body(recorded("test_google_model_stream.yaml"))
    assert cassettes.sse_payloads(body)[-1].find("finishReason") > 0
    truncated = body[: body.rindex(b"data:")]
    _, done = replay_stream(truncated)
    assert not done


def test_recorded_json_responses_parse() -> None:
    simple = assembled(raw_body(recorded("test_google_model.yaml")))
    assert simple.message() == {
        "role": "assistant",
        "content": "Hello! How can I help you today?",
    }
    assert simple.usage["outputTokens"] == 9 + 34
    first = assembled(raw_body(recorded("test_google_tool_output.yaml", 0)))
    assert calls_of(first) == [("get_user_country", {})]
    final = assembled(raw_body(recorded("test_google_tool_output.yaml", 1)))
    assert final.message()["toolCalls"][0]["arguments"] == {
        "city": "Mexico City",
        "country": "Mexico",
    }
    assert (final.finish_reason(), final.usage["inputTokens"]) == ("tool_calls", 47)


def test_recorded_json_array_streams_parse() -> None:
    interaction = recorded("test_tools.yaml", 0)
    assert interaction.header("content-encoding") == "gzip"
    body = raw_body(interaction)
    thought_and_call = assembled(body)
    message = thought_and_call.message()
    assert message["reasoning"].startswith("**Generating Pelican Names**")
    assert calls_of(thought_and_call) == [("pelican_name_generator", {})]
    assert thought_and_call.finish_reason() == "tool_calls"
    assert thought_and_call.usage["reasoningTokens"] == 42
    # Each element of the array is a response of its own, as the brief's replay does it.
    per_element = Assembly()
    for element in orjson.loads(body):
        for event in adapter.parse_body(orjson.dumps(element)):
            per_element.add(event)
    assert per_element.message()["reasoning"] == message["reasoning"]
    assert len(per_element.message()["toolCalls"]) == 1
    again = assembled(raw_body(recorded("test_tools.yaml", 1)))
    assert again.message()["toolCalls"][0]["name"] == "pelican_name_generator"
    text = assembled(raw_body(recorded("test_tools.yaml", 2)))
    assert text.message() == {"role": "assistant", "content": "How about Charles and Sammy?"}
    assert (text.usage["inputTokens"], text.usage["outputTokens"]) == (137, 6)


@pytest.mark.parametrize(
    ("name", "expected", "words", "code"),
    [
        (
            "test_model_name_suggestion[google].yaml",
            UpstreamRejected,
            "models/gemini-3.6-flahs is not found",
            "NOT_FOUND",
        ),
        (
            "test_generate_content_invalid_temperature.yaml",
            UpstreamRejected,
            "temperature value of 1000",
            "INVALID_ARGUMENT",
        ),
    ],
)
def test_recorded_errors_map_to_typed_errors(
    name: str, expected: type, words: str, code: str
) -> None:
    interaction = recorded(name)
    error = adapter.map_error(interaction.status or 0, {}, raw_body(interaction))
    assert type(error) is expected
    assert words in (error.detail or "")
    assert error.data["upstreamCode"] == code
    assert error.data["status"] == interaction.status


def test_google_specific_errors() -> None:
    bad_key = orjson.dumps(
        {
            "error": {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [{"reason": "API_KEY_INVALID"}],
            }
        }
    )
    assert type(adapter.map_error(400, {}, bad_key)) is UpstreamAuthFailed
    long = orjson.dumps(
        {
            "error": {
                "code": 400,
                "message": "The input token count (2000000) exceeds the maximum number of "
                "tokens allowed (1048576).",
                "status": "INVALID_ARGUMENT",
            }
        }
    )
    assert type(adapter.map_error(400, {}, long)) is ContextTooLong
    limited = adapter.map_error(429, {"Retry-After": "7"}, b'{"error":{"code":429}}')
    assert type(limited) is RateLimited
    assert limited.data["retryAfterMs"] == 7000
    assert type(adapter.map_error(502, {}, b"<html>")) is not UpstreamRejected


def test_an_error_or_a_block_mid_stream() -> None:
    parser = adapter.StreamParser()
    with pytest.raises(RateLimited):
        parser.feed(b'{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}')
    with pytest.raises(UpstreamProtocol):
        parser.feed(b"not json")
    blocked = adapter.StreamParser().feed(
        b'{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}}'
    )
    assert blocked == [Finish("content_filter")]
    capped = adapter.StreamParser().feed(
        b'{"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"MAX_TOKENS"}]}'
    )
    assert capped[-1] == Finish("length")
    with pytest.raises(UpstreamProtocol):
        adapter.parse_body(b'"text"')


def test_the_model_list_strips_the_prefix() -> None:
    listing = {
        "models": [
            {"name": "models/gemini-2.5-flash", "supportedGenerationMethods": ["generateContent"]},
            {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]},
            {"name": "models/gemini-2.0-flash"},
        ]
    }
    assert adapter.parse_models(orjson.dumps(listing)) == ["gemini-2.0-flash", "gemini-2.5-flash"]


GOOGLE = Provider(
    "google",
    "Google Gemini API",
    ApiFamily.GOOGLE_GENERATIVE_AI,
    "https://generativelanguage.googleapis.com/v1beta",
    auth=AuthStyle.X_GOOG_API_KEY,
)


def request_of(call: ChatCall) -> tuple[dict[str, str], dict[str, Any], str]:
    request = adapter.build_request(
        Target(GOOGLE, GOOGLE.base_url or "", "gemini-2.5-flash", "k-1"), call
    )
    assert request.method == "POST"
    assert request.body is not None
    return request.headers, orjson.loads(request.body), request.url


def test_the_request_url_and_credential() -> None:
    hi = [{"role": "user", "content": "hi"}]
    headers, body, url = request_of(ChatCall(model="m", messages=hi))
    assert url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert headers["x-goog-api-key"] == "k-1"
    assert "Authorization" not in headers
    assert body == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    headers, _, url = request_of(ChatCall(model="m", messages=hi, stream=True))
    assert url.endswith("/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert headers["Accept"] == "text/event-stream"


def test_the_request_maps_turns_tools_and_results() -> None:
    call = ChatCall(
        model="m",
        messages=[
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "weather?"},
                    {"type": "image", "data": "aGk=", "mimeType": "image/jpeg"},
                    {"type": "image", "url": "https://x.test/a.png"},
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
            {"role": "tool", "toolCallId": "t2", "content": [{"type": "text", "text": "noon"}]},
            {"role": "assistant", "content": "Sunny at noon."},
        ],
        tools=[{"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}],
        tool_choice="required",
    )
    _, body, _ = request_of(call)
    assert body["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert [turn["role"] for turn in body["contents"]] == ["user", "model", "user", "model"]
    assert body["contents"][0]["parts"] == [
        {"text": "weather?"},
        {"inlineData": {"mimeType": "image/jpeg", "data": "aGk="}},
        {"fileData": {"fileUri": "https://x.test/a.png"}},
    ]
    assert body["contents"][1]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"name": "get_time", "args": {}}},
    ]
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"content": "sunny"}}},
        {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}},
    ]
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather",
                    "parametersJsonSchema": {"type": "object"},
                }
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert "generationConfig" not in body


def test_reused_call_ids_resolve_to_the_latest_call() -> None:
    """Ids this adapter generated (call_0) repeat across turns; the nearest call names it."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    for name in ("first", "second"):
        call: dict[str, Any] = {"id": "call_0", "name": name, "arguments": {}}
        messages += [
            {"role": "assistant", "content": "", "toolCalls": [call]},
            {"role": "tool", "toolCallId": "call_0", "content": "ok"},
        ]
    _, body, _ = request_of(ChatCall(model="m", messages=messages))
    responses = [
        part["functionResponse"]["name"]
        for turn in body["contents"]
        for part in turn["parts"]
        if "functionResponse" in part
    ]
    assert responses == ["first", "second"]


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ({"name": "get_weather"}, {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    ],
)
def test_tool_choice_becomes_a_calling_mode(choice: Any, config: dict[str, Any]) -> None:
    call = ChatCall(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        tools=[{"name": "get_weather"}],
        tool_choice=choice,
    )
    _, body, _ = request_of(call)
    assert body["toolConfig"] == {"functionCallingConfig": config}
    assert body["tools"] == [{"functionDeclarations": [{"name": "get_weather"}]}]


def test_reasoning_and_limits_go_to_the_generation_config() -> None:
    call = ChatCall(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        reasoning="medium",
        temperature=0.5,
        max_tokens=100,
    )
    _, body, _ = request_of(call)
    assert body["generationConfig"] == {
        "maxOutputTokens": 100,
        "temperature": 0.5,
        "thinkingConfig": {
            "includeThoughts": True,
            "thinkingBudget": THINKING_BUDGET["medium"],
        },
    }


def test_a_signed_call_goes_back_with_its_thought_signature() -> None:
    call = {"id": "call_1", "name": "get_country", "arguments": {}, "signature": "EpwSIG"}
    unsigned = {"id": "call_2", "name": "get_city", "arguments": {}}
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "where?"},
        {"role": "assistant", "content": "", "toolCalls": [call, unsigned]},
        {"role": "tool", "toolCallId": "call_1", "content": "Mexico"},
        {"role": "tool", "toolCallId": "call_2", "content": "Mexico City"},
    ]
    _, body, _ = request_of(ChatCall(model="m", messages=messages))
    parts = body["contents"][1]["parts"]
    signed = {"functionCall": {"name": "get_country", "args": {}}, "thoughtSignature": "EpwSIG"}
    assert parts[0] == signed
    assert "thoughtSignature" not in parts[1]
