"""The openai-completions adapter's pure functions, against real recorded provider traffic."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from daemon.adapters import openai_completions as adapter
from daemon.adapters.types import Assembly, ChatCall, Event, Target
from daemon.errors import (
    ContextTooLong,
    RateLimited,
    UpstreamAuthFailed,
    UpstreamProtocol,
    UpstreamRejected,
    UpstreamUnavailable,
)
from daemon.providers.model import ApiFamily, AuthStyle, Provider, Quirk
from tests.fakes import cassettes

RECORDED = cassettes.WIRE / "openai_chat"


def recorded(name: str) -> cassettes.Interaction:
    return cassettes.load(RECORDED / name)[-1]


def assemble_stream(body: str | bytes) -> Assembly:
    assembly = Assembly()
    for payload in cassettes.sse_payloads(body):
        events = adapter.parse_chunk(payload.encode())
        if events is None:
            break
        for event in events:
            assembly.add(event)
    return assembly


def assemble_body(body: Any) -> Assembly:
    assembly = Assembly()
    raw = body if isinstance(body, bytes | str) else orjson.dumps(body)
    for event in adapter.parse_body(raw.encode() if isinstance(raw, str) else raw):
        assembly.add(event)
    return assembly


def test_a_recorded_text_stream_assembles_into_the_recorded_text_and_usage() -> None:
    interaction = recorded("test_chat_completion_streaming.yaml")
    payloads = [
        orjson.loads(p) for p in cassettes.sse_payloads(interaction.body or "") if p != "[DONE]"
    ]
    expected = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in payloads if c["choices"]
    )
    usage = next(c["usage"] for c in payloads if c.get("usage"))
    assembly = assemble_stream(interaction.body or "")
    assert assembly.message()["content"] == expected
    assert assembly.finish_reason() == "stop"
    assert assembly.usage["inputTokens"] == usage["prompt_tokens"]
    assert assembly.usage["outputTokens"] == usage["completion_tokens"]


def test_recorded_parallel_tool_call_fragments_assemble_into_two_calls() -> None:
    interaction = recorded("test_chat_completion_multiple_tools_streaming_no_content.yaml")
    assembly = assemble_stream(interaction.body or "")
    calls = assembly.message()["toolCalls"]
    assert [c["name"] for c in calls] == ["get_current_weather", "get_current_weather"]
    assert [c["arguments"] for c in calls] == [
        {"location": "Seattle, WA"},
        {"location": "San Francisco, CA"},
    ]
    assert all(c["id"].startswith("call_") for c in calls)
    assert assembly.finish_reason() == "tool_calls"


def test_a_stream_without_usage_still_assembles() -> None:
    assembly = assemble_stream(
        recorded("test_chat_completion_streaming_not_complete.yaml").body or ""
    )
    assert assembly.message()["content"]
    assert assembly.usage["outputTokens"] == 0


def test_a_recorded_json_completion_parses() -> None:
    interaction = recorded("test_chat_completion_with_content.yaml")
    body = interaction.parsed_body or orjson.loads(interaction.body or b"")
    assembly = assemble_body(body)
    assert assembly.message()["content"] == body["choices"][0]["message"]["content"]
    assert assembly.usage["inputTokens"] == body["usage"]["prompt_tokens"]


def test_recorded_json_tool_calls_parse() -> None:
    first = cassettes.load(RECORDED / "test_chat_completion_tool_calls_no_content.yaml")[0]
    body = first.parsed_body or orjson.loads(first.body or b"")
    calls = assemble_body(body).message()["toolCalls"]
    assert len(calls) == len(body["choices"][0]["message"]["tool_calls"])
    assert calls[0]["arguments"] == orjson.loads(
        body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    )


@pytest.mark.parametrize(
    "name", ["test_chat_completion_404.yaml", "test_model_name_suggestion[openai-chat].yaml"]
)
def test_a_recorded_404_becomes_upstream_rejected_with_the_providers_words(name: str) -> None:
    interaction = recorded(name)
    raw = (
        interaction.body if interaction.body is not None else orjson.dumps(interaction.parsed_body)
    )
    error = adapter.map_error(
        interaction.status or 0, {}, raw.encode() if isinstance(raw, str) else raw
    )
    assert isinstance(error, UpstreamRejected)
    assert error.data["status"] == 404
    assert error.data["upstreamCode"] == "model_not_found"
    assert "does not exist" in (error.detail or "")


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (
            401,
            {},
            b'{"error":{"message":"bad key sk-fake-test-key-0000","code":"invalid_api_key"}}',
            UpstreamAuthFailed,
        ),
        (429, {"Retry-After": "3"}, b'{"error":{"message":"slow down"}}', RateLimited),
        (503, {}, b"<html>overloaded</html>", UpstreamUnavailable),
        (529, {}, b"", UpstreamUnavailable),
        (
            400,
            {},
            b'{"error":{"message":"maximum context length is 8192 tokens",'
            b'"code":"context_length_exceeded"}}',
            ContextTooLong,
        ),
        (422, {}, b'{"detail":"unprocessable"}', UpstreamRejected),
    ],
)
def test_error_answers_map_to_typed_errors(
    status: int, headers: dict[str, str], body: bytes, expected: type
) -> None:
    error = adapter.map_error(status, headers, body)
    assert type(error) is expected
    assert "sk-fake-test-key-0000" not in str(error.to_rpc()), (
        "keys echoed by a provider are scrubbed"
    )
    if headers:
        assert error.data["retryAfterMs"] == 3000


def test_a_chunk_that_is_not_json_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocol):
        adapter.parse_chunk(b"{not json")


def test_an_error_object_inside_a_stream_is_raised() -> None:
    with pytest.raises(UpstreamRejected):
        adapter.parse_chunk(b'{"error":{"message":"content policy","code":"content_filter"}}')


ROW = Provider(
    "acme",
    "Acme",
    ApiFamily.OPENAI_COMPLETIONS,
    "https://api.acme.test/v1",
    headers=(("X-Title", "switchboard"),),
)
CALL = ChatCall(
    model="m",
    messages=[{"role": "user", "content": "hi"}],
    tools=[{"name": "f", "parameters": {"type": "object"}}],
    tool_choice={"name": "f"},
    max_tokens=10,
    stream=True,
)


def body_of(target: Target, call: ChatCall = CALL) -> dict[str, Any]:
    request = adapter.build_request(target, call)
    assert request.body is not None
    return dict(orjson.loads(request.body))


def test_a_request_carries_the_openai_shape() -> None:
    request = adapter.build_request(Target(ROW, ROW.base_url or "", "m", "k-1"), CALL)
    assert request.url == "https://api.acme.test/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer k-1"
    assert request.headers["X-Title"] == "switchboard"
    body = body_of(Target(ROW, ROW.base_url or "", "m", "k-1"))
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 10
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}


def test_quirks_change_the_request() -> None:
    quirky = Provider(
        "q",
        "Q",
        ApiFamily.OPENAI_COMPLETIONS,
        "https://q.test/v1",
        quirks=frozenset(
            {Quirk.NO_STREAM_USAGE, Quirk.MAX_COMPLETION_TOKENS, Quirk.NO_TOOL_CHOICE}
        ),
    )
    body = body_of(Target(quirky, "https://q.test/v1", "m", "k"))
    assert "stream_options" not in body
    assert "tool_choice" not in body
    assert (body.get("max_tokens"), body["max_completion_tokens"]) == (None, 10)


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [
        (AuthStyle.X_API_KEY, "x-api-key", "k"),
        (AuthStyle.API_KEY, "api-key", "k"),
        (AuthStyle.X_GOOG_API_KEY, "x-goog-api-key", "k"),
    ],
)
def test_the_key_goes_where_the_provider_wants_it(auth: AuthStyle, header: str, value: str) -> None:
    row = Provider("a", "A", ApiFamily.OPENAI_COMPLETIONS, "https://a.test/v1", auth=auth)
    request = adapter.build_request(Target(row, "https://a.test/v1", "m", value), CALL)
    assert request.headers[header] == value
    assert "Authorization" not in request.headers


def test_a_query_key_goes_in_the_url_and_no_key_means_no_header() -> None:
    row = Provider(
        "a", "A", ApiFamily.OPENAI_COMPLETIONS, "https://a.test/v1", auth=AuthStyle.QUERY_KEY
    )
    assert adapter.build_request(Target(row, "https://a.test/v1", "m", "k/1"), CALL).url.endswith(
        "?key=k%2F1"
    )
    local = Provider(
        "l", "L", ApiFamily.OPENAI_COMPLETIONS, "http://127.0.0.1:1/v1", auth=AuthStyle.NONE
    )
    assert (
        "Authorization"
        not in adapter.build_request(
            Target(local, "http://127.0.0.1:1/v1", "m", None), CALL
        ).headers
    )


def events_of(payloads: list[bytes]) -> list[Event]:
    events: list[Event] = []
    for payload in payloads:
        parsed = adapter.parse_chunk(payload)
        events.extend(parsed or [])
    return events


def test_reasoning_deltas_in_both_spellings() -> None:
    events = events_of(
        [
            b'{"choices":[{"index":0,"delta":{"reasoning_content":"think"}}]}',
            b'{"choices":[{"index":0,"delta":{"reasoning":" more"}}]}',
            b'{"choices":[{"index":0,"delta":{"content":"answer"},"finish_reason":"stop"}]}',
        ]
    )
    assembly = Assembly()
    for event in events:
        assembly.add(event)
    assert assembly.message() == {
        "role": "assistant",
        "content": "answer",
        "reasoning": "think more",
    }
