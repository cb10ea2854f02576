"""The openai-responses adapter's pure functions, against OpenAI's recorded Responses traffic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from daemon.adapters import openai_responses as adapter
from daemon.adapters.types import (
    Assembly,
    ChatCall,
    Finish,
    ReasoningDelta,
    Target,
    ToolCallDelta,
    UsageEvent,
    empty_usage,
)
from daemon.errors import RateLimited, UpstreamProtocol, UpstreamRejected, UpstreamUnavailable
from daemon.providers.model import ApiFamily, Provider
from tests.fakes import cassettes
from tests.support import replay
from tests.support.local_server import serving
from tests.support.replay import Recordings, raw_body

recorded = Recordings("openai_responses")
PHASES = "test_openai_responses_phase_streamed_on_part_start.yaml"


def replay_stream(body: bytes, cuts: list[int] | None = None) -> tuple[Assembly, bool]:
    """The recorded body through this adapter's stream parser; and whether it saw the end."""
    return replay.replay_done(adapter.StreamParser(), body, cuts)


def parsed(name: str) -> Assembly:
    assembly = Assembly()
    for event in adapter.parse_body(raw_body(recorded(name))):
        assembly.add(event)
    return assembly


def usage_of(assembly: Assembly) -> tuple[int, int, int, int]:
    u = assembly.usage
    return (u["inputTokens"], u["outputTokens"], u["cacheReadTokens"], u["reasoningTokens"])


def test_a_recorded_text_stream() -> None:
    name = "test_openai_instructions_with_responses_logprobs_streaming.yaml"
    assembly, done = replay_stream(raw_body(recorded(name)))
    assert done
    assert assembly.message() == {
        "role": "assistant",
        "content": "The capital of Minas Gerais is Belo Horizonte.",
    }
    assert assembly.finish_reason() == "stop"
    assert usage_of(assembly) == (25, 10, 0, 0)


def test_a_recorded_stream_with_commentary_then_a_tool_call() -> None:
    assembly, done = replay_stream(raw_body(recorded(PHASES, 0)))
    message = assembly.message()
    assert done
    assert (
        message["content"] == "I\u2019ll check the capital lookup tool for \u201cPotatoLand.\u201d"
    )
    assert message["toolCalls"] == [
        {
            "id": "call_LabG58Uhrq9kZvR52BYKjToD",
            "name": "get_capital",
            "arguments": {"country": "PotatoLand"},
        }
    ]
    assert assembly.finish_reason() == "tool_calls"
    assert usage_of(assembly) == (63, 69, 0, 26)


def test_the_recorded_answer_after_the_tool_result() -> None:
    assembly, done = replay_stream(raw_body(recorded(PHASES, 1)))
    assert done
    assert assembly.message()["content"] == "The capital of PotatoLand is **Potato City**."
    assert assembly.finish_reason() == "stop"
    assert usage_of(assembly) == (147, 16, 0, 0)


def test_a_recorded_reasoning_stream_with_only_a_tool_call() -> None:
    name = "test_openai_responses_streaming_usage.yaml"
    assembly, done = replay_stream(raw_body(recorded(name)))
    message = assembly.message()
    assert done
    assert message["content"] == ""
    assert "reasoning" not in message  # encrypted reasoning only, no summary
    assert message["toolCalls"] == [
        {
            "id": "call_CWXgs68YprAjp6t0371hiPOI",
            "name": "final_result",
            "arguments": {"result": 6666},
        }
    ]
    assert assembly.finish_reason() == "tool_calls"
    assert usage_of(assembly) == (53, 469, 0, 448)


def test_a_recorded_reasoning_summary_stream_keeps_reasoning_apart() -> None:
    name = "test_openai_responses_thinking_part_iter.yaml"
    assembly, done = replay_stream(raw_body(recorded(name)))
    message = assembly.message()
    assert done
    assert message["content"].startswith(
        "I'm not a road safety professional, but here are some generally accepted guidelines"
    )
    assert len(message["content"]) == 1251
    assert message["reasoning"].startswith("**Providing street crossing instructions**\n\n")
    # Four summary parts, joined by blank lines as the non-streamed parse joins them.
    expected = adapter.SUMMARY_BREAK.join(
        part["text"]
        for event in cassettes.sse_events(raw_body(recorded(name)))
        if event["type"] == "response.reasoning_summary_part.done"
        for part in [event["part"]]
    )
    assert message["reasoning"] == expected
    assert assembly.finish_reason() == "stop"
    assert usage_of(assembly) == (13, 1680, 0, 1408)


def test_every_byte_offset_gives_the_same_message() -> None:
    body = raw_body(recorded(PHASES, 0))
    whole, _ = replay_stream(body)
    assert whole.message()["toolCalls"][0]["arguments"] == {"country": "PotatoLand"}
    for cut in range(len(body) + 1):
        split, done = replay_stream(body, [cut])
        assert (split.message(), split.usage, split.finish, done) == (
            whole.message(),
            whole.usage,
            whole.finish,
            True,
        ), cut


def test_recorded_json_responses_parse() -> None:
    simple = parsed("test_openai_responses_model_simple_response.yaml")
    assert simple.message() == {"role": "assistant", "content": "The capital of France is Paris."}
    assert simple.finish_reason() == "stop"
    assert usage_of(simple) == (14, 8, 0, 0)
    tool = parsed("test_openai_responses_output_type.yaml")
    assert tool.message()["toolCalls"] == [
        {
            "id": "call_Ve7O5nYyD0JkuZuqOwBVkNe0",
            "name": "final_result",
            "arguments": {"name": "Brazil", "age": 2023},
        }
    ]
    assert tool.finish_reason() == "tool_calls"
    assert usage_of(tool) == (286, 11, 0, 0)


def test_a_json_body_with_reasoning_summaries_and_an_incomplete_status() -> None:
    body = {
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "error": None,
        "output": [
            {
                "type": "reasoning",
                "summary": [
                    {"type": "summary_text", "text": "one"},
                    {"type": "summary_text", "text": "two"},
                ],
            },
            {"type": "message", "content": [{"type": "output_text", "text": "partial"}]},
        ],
        "usage": {"input_tokens": 3, "output_tokens": 5},
    }
    assembly = Assembly()
    for event in adapter.parse_body(orjson.dumps(body)):
        assembly.add(event)
    assert assembly.message() == {
        "role": "assistant",
        "content": "partial",
        "reasoning": "one\n\ntwo",
    }
    assert assembly.finish_reason() == "length"
    with pytest.raises(UpstreamProtocol):
        adapter.parse_body(b'{"status":"completed","error":null}')


QUOTA = "You exceeded your current quota"


def test_a_recorded_mid_stream_error_is_raised() -> None:
    body = raw_body(recorded("openai-error.1.chunks.txt"))
    with pytest.raises(UpstreamRejected) as caught:
        replay_stream(body)
    assert QUOTA in (caught.value.detail or "")
    assert caught.value.data["upstreamCode"] == "insufficient_quota"
    # response.failed alone (the error event lost) raises the same error.
    (failed,) = [
        orjson.dumps(event)
        for event in cassettes.sse_events(body)
        if event["type"] == "response.failed"
    ]
    with pytest.raises(UpstreamRejected) as again:
        adapter.StreamParser().feed(failed)
    assert QUOTA in (again.value.detail or "")


def test_the_recorded_error_body() -> None:
    body = raw_body(recorded("openai-error.1.json"))
    with pytest.raises(UpstreamRejected) as caught:
        adapter.parse_body(body)
    assert QUOTA in (caught.value.detail or "")
    error = adapter.map_error(429, {"Retry-After": "2"}, body)
    assert type(error) is RateLimited
    assert error.data["retryAfterMs"] == 2000


@pytest.mark.parametrize(
    ("name", "expected", "words", "code"),
    [
        (
            "test_openai_responses_model_http_error.yaml",
            UpstreamRejected,
            "Invalid 'temperature': decimal below minimum value",
            "decimal_below_min_value",
        ),
        (
            "test_model_name_suggestion[openai-responses].yaml",
            UpstreamRejected,
            "The requested model 'gpt-5.2-proo' does not exist.",
            "model_not_found",
        ),
    ],
)
def test_recorded_errors_map_to_typed_errors(
    name: str, expected: type, words: str, code: str
) -> None:
    interaction = recorded(name)
    assert interaction.status == 400
    error = adapter.map_error(interaction.status, {}, raw_body(interaction))
    assert type(error) is expected
    assert words in (error.detail or "")
    assert (error.data["status"], error.data["upstreamCode"]) == (400, code)


def test_stream_events_without_recordings() -> None:
    parser = adapter.StreamParser()
    with pytest.raises(UpstreamProtocol):
        parser.feed(b'{"type":"response.function_call_arguments.delta","output_index":4}')
    assert parser.feed(b'{"type":"response.reasoning_text.delta","delta":"hm"}') == [
        ReasoningDelta("hm")
    ]
    assert parser.feed(b'{"type":"response.some_new_event","x":1}') == []
    incomplete = adapter.StreamParser()
    events = incomplete.feed(
        b'{"type":"response.incomplete","response":{"status":"incomplete",'
        b'"incomplete_details":{"reason":"content_filter"},"usage":{"input_tokens":2}}}'
    )
    assert incomplete.done
    assert events == [
        UsageEvent({**empty_usage(), "inputTokens": 2}),
        Finish("content_filter"),
    ]
    whole = adapter.StreamParser()
    added = whole.feed(
        b'{"type":"response.output_item.added","output_index":0,'
        b'"item":{"type":"function_call","call_id":"c1","name":"f","arguments":""}}'
    )
    done = whole.feed(
        b'{"type":"response.output_item.done","output_index":0,'
        b'"item":{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"}}'
    )
    assert added + done == [ToolCallDelta(0, "c1", "f"), ToolCallDelta(0, arguments="{}")]
    # Later deltas are not doubled by the whole arguments in output_item.done.
    assert whole.feed(b'{"type":"response.output_item.done","output_index":0,"item":{}}') == []


OPENAI = Provider("openai", "OpenAI", ApiFamily.OPENAI_RESPONSES, "https://api.openai.com/v1")


def request_of(call: ChatCall) -> tuple[dict[str, str], dict[str, Any], str]:
    request = adapter.build_request(Target(OPENAI, OPENAI.base_url or "", "gpt-x", "k-1"), call)
    assert request.method == "POST"
    assert request.body is not None
    return request.headers, orjson.loads(request.body), request.url


def test_the_request_maps_messages_to_input_items() -> None:
    call = ChatCall(
        model="gpt-x",
        messages=[
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "weather?"},
                    {"type": "image", "data": "aGk=", "mimeType": "image/jpeg"},
                    {"type": "image", "url": "https://example.com/a.png"},
                ],
            },
            {
                "role": "assistant",
                "content": "let me look",
                "toolCalls": [
                    {"id": "t1", "name": "get_weather", "arguments": {"city": "Paris"}},
                    {"id": "t2", "name": "get_time", "arguments": {}},
                ],
            },
            {"role": "tool", "toolCallId": "t1", "content": "sunny"},
            {"role": "tool", "toolCallId": "t2", "content": [{"type": "text", "text": "noon"}]},
        ],
        tools=[
            {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}},
            {"name": "get_time"},
        ],
        tool_choice="required",
        max_tokens=200,
        temperature=0.2,
        stream=True,
    )
    headers, body, url = request_of(call)
    assert url == "https://api.openai.com/v1/responses"
    assert (headers["Authorization"], headers["Accept"]) == ("Bearer k-1", "text/event-stream")
    assert body["instructions"] == "be brief"
    assert body["input"] == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "weather?"},
                {"type": "input_image", "image_url": "data:image/jpeg;base64,aGk="},
                {"type": "input_image", "image_url": "https://example.com/a.png"},
            ],
        },
        {"role": "assistant", "content": [{"type": "output_text", "text": "let me look"}]},
        {
            "type": "function_call",
            "call_id": "t1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "function_call", "call_id": "t2", "name": "get_time", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "t1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "t2", "output": "noon"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {"type": "object"},
            "description": "Weather",
        },
        {"type": "function", "name": "get_time", "parameters": {"type": "object"}},
    ]
    assert body["tool_choice"] == "required"
    assert (body["max_output_tokens"], body["temperature"]) == (200, 0.2)
    assert (body["model"], body["stream"], body["store"]) == ("gpt-x", True, False)
    assert "reasoning" not in body


def test_a_plain_request_with_reasoning_and_a_named_tool_choice() -> None:
    call = ChatCall(
        model="gpt-x",
        messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}],
        tools=[{"name": "f", "parameters": {"type": "object", "properties": {}}}],
        tool_choice={"name": "f"},
        reasoning="high",
        temperature=0.3,
    )
    headers, body, _ = request_of(call)
    assert "temperature" not in body, "reasoning models refuse a temperature"
    assert headers["Accept"] == "application/json"
    assert body["input"] == [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["tool_choice"] == {"type": "function", "name": "f"}
    assert "instructions" not in body
    assert "max_output_tokens" not in body
    assert (body["stream"], body["store"]) == (False, False)


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    """A local server answering ``POST /v1/responses`` with the recording its model names
    (``name#index``; a ``cut:`` prefix sends only the first half of the body)."""

    async def responses(request: web.Request) -> web.Response:
        model = (await request.json())["model"]
        name, _, index = model.removeprefix("cut:").partition("#")
        interaction = recorded(name, int(index or -1))
        body = raw_body(interaction)
        if model.startswith("cut:"):
            body = body[: len(body) // 2]
        kind = (interaction.header("content-type") or "application/json").split(";")[0]
        return web.Response(status=interaction.status or 200, body=body, content_type=kind)

    app = web.Application()
    app.router.add_post("/v1/responses", responses)
    async with serving(app) as origin:
        yield f"{origin}/v1"


async def streamed(base_url: str, model: str, *, stream: bool) -> Assembly:
    assembly = Assembly()
    target = Target(OPENAI, base_url, model, "k-1")
    call = ChatCall(model=model, messages=[{"role": "user", "content": "hi"}], stream=stream)
    async with aiohttp.ClientSession() as session:
        async for batch in adapter.stream(session, target, call, 5.0):
            for event in batch:
                assembly.add(event)
    return assembly


async def test_stream_against_a_local_replay(upstream: str) -> None:
    tool = await streamed(upstream, f"{PHASES}#0", stream=True)
    assert tool.message()["toolCalls"][0]["name"] == "get_capital"
    assert tool.finish_reason() == "tool_calls"
    whole = await streamed(
        upstream, "test_openai_responses_model_simple_response.yaml", stream=False
    )
    assert whole.message()["content"] == "The capital of France is Paris."
    with pytest.raises(UpstreamRejected, match="decimal below minimum value"):
        await streamed(upstream, "test_openai_responses_model_http_error.yaml", stream=True)
    with pytest.raises(UpstreamUnavailable, match="ended before"):
        await streamed(upstream, f"cut:{PHASES}#0", stream=True)
