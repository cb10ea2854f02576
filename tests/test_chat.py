"""chat.send through the real daemon to the fake provider, over every transport."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.conftest import result_validator
from tests.support.transports import Session, collect
from tests.support.upstream import ThreadedUpstream

_ids = itertools.count(1)
HELLO = [{"role": "user", "content": "hello there"}]
SEARCH_TOOL = {
    "name": "search",
    "description": "Search the web",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
}


def send(params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": next(_ids), "method": "chat.send", "params": params}


async def chat(session: Session, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    notes, answer = await collect(session, send(params))
    return [n["params"] for n in notes if n["method"] == "chat.delta"], answer


async def test_a_plain_chat_returns_the_whole_message_usage_and_route(
    chat_session: Session,
) -> None:
    deltas, answer = await chat(chat_session, messages=HELLO)
    result = answer["result"]
    result_validator("chat.send")(result)
    assert deltas == []
    assert result["message"] == {"role": "assistant", "content": "Echo: hello there"}
    assert (result["provider"], result["model"], result["finishReason"]) == (
        "openai",
        "gpt-fake",
        "stop",
    )
    assert result["usage"]["outputTokens"] > 0
    assert [(a["provider"], a["outcome"]) for a in result["route"]] == [("openai", "ok")]


async def test_streaming_sends_deltas_first_then_the_whole_answer(chat_session: Session) -> None:
    deltas, answer = await chat(chat_session, messages=HELLO, stream=True)
    text = answer["result"]["message"]["content"]
    assert text == "Echo: hello there"
    if chat_session.name == "http":
        assert deltas == [], "plain HTTP has no notifications: the answer carries everything"
        return
    assert len(deltas) >= 3
    assert all(d["requestId"] == answer["id"] and d["type"] == "text" for d in deltas)
    assert "".join(d["text"] for d in deltas) == text


async def test_tool_calls_come_back_with_parsed_arguments(chat_session: Session) -> None:
    deltas, answer = await chat(
        chat_session, messages=HELLO, model="gpt-fake+tools", tools=[SEARCH_TOOL], stream=True
    )
    result = answer["result"]
    assert result["finishReason"] == "tool_calls"
    (call,) = result["message"]["toolCalls"]
    assert call["name"] == "search"
    assert isinstance(call["arguments"], dict)
    assert call["id"].startswith("call_")
    if chat_session.name != "http":
        assert {d["type"] for d in deltas} == {"toolCall"}
        assert deltas[0]["name"] == "search"


async def test_openai_shaped_tools_are_accepted(
    chat_session: Session, upstream: ThreadedUpstream
) -> None:
    openai_tool = {"type": "function", "function": SEARCH_TOOL}
    _, answer = await chat(
        chat_session,
        messages=HELLO,
        model="gpt-fake+tools+scenario=oaitool",
        tools=[openai_tool],
        toolChoice="auto",
    )
    assert answer["result"]["message"]["toolCalls"][0]["name"] == "search"
    sent = upstream.requests_for("scenario=oaitool")[-1].body
    assert sent["tools"][0] == {"type": "function", "function": SEARCH_TOOL}
    assert sent["tool_choice"] == "auto"


async def test_a_tool_result_goes_back_to_the_provider(
    chat_session: Session, upstream: ThreadedUpstream
) -> None:
    history = [
        *HELLO,
        {
            "role": "assistant",
            "content": "",
            "toolCalls": [{"id": "call_1", "name": "search", "arguments": {"q": "x"}}],
        },
        {"role": "tool", "toolCallId": "call_1", "content": "42 results"},
    ]
    _, answer = await chat(
        chat_session, messages=history, model="gpt-fake+scenario=toolresult", tools=[SEARCH_TOOL]
    )
    assert answer["result"]["message"]["content"] == "Echo: tool said 42 results"
    sent = upstream.requests_for("scenario=toolresult")[-1].body["messages"]
    assert sent[1]["tool_calls"][0]["function"] == {"name": "search", "arguments": '{"q":"x"}'}
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "42 results"}


async def test_reasoning_is_kept_apart_from_the_text(chat_session: Session) -> None:
    deltas, answer = await chat(
        chat_session, messages=HELLO, model="gpt-fake+reasoning", stream=True
    )
    message = answer["result"]["message"]
    assert message["reasoning"]
    assert message["content"] == "Echo: hello there"
    if chat_session.name != "http":
        assert deltas[0]["type"] == "reasoning"


async def test_request_options_reach_the_provider(
    chat_session: Session, upstream: ThreadedUpstream
) -> None:
    await chat(
        chat_session,
        messages=[{"role": "system", "content": "be brief"}, *HELLO],
        model="gpt-fake+scenario=options",
        maxTokens=64,
        temperature=0.25,
        stream=True,
    )
    request = upstream.requests_for("scenario=options")[-1]
    body = request.body
    assert (body["max_tokens"], body["temperature"]) == (64, 0.25)
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    assert request.headers["authorization"] == "Bearer sk-test-key-one-0000"
    if chat_session.name != "http":
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}


async def test_image_parts_are_sent_as_image_urls(
    chat_session: Session, upstream: ThreadedUpstream
) -> None:
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image", "data": "aGVsbG8=", "mimeType": "image/png"},
    ]
    _, answer = await chat(
        chat_session,
        messages=[{"role": "user", "content": content}],
        model="gpt-fake+scenario=image",
    )
    assert "result" in answer
    parts = upstream.requests_for("scenario=image")[-1].body["messages"][0]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}}


async def test_a_key_in_the_request_wins_and_is_never_echoed(
    chat_session: Session, upstream: ThreadedUpstream
) -> None:
    _, answer = await chat(
        chat_session,
        messages=HELLO,
        model="gpt-fake+scenario=reqkey",
        apiKey="sk-request-only-0001",
    )
    assert "sk-request-only-0001" not in str(answer)
    assert (
        upstream.requests_for("scenario=reqkey")[-1].headers["authorization"]
        == "Bearer sk-request-only-0001"
    )


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"messages": "hello"}, -32602, "messages"),
        ({"messages": []}, -32602, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, -32602, "messages.0.role"),
        ({"messages": [{"role": "tool", "content": "x"}]}, -32602, "messages.0.toolCallId"),
        ({"messages": HELLO, "tools": [{"description": "no name"}]}, -32602, "tools.0"),
        ({"messages": HELLO, "temperature": 9}, -32602, "temperature"),
    ],
)
async def test_malformed_chat_requests_name_the_field(
    chat_session: Session, params: dict[str, Any], code: int, field: str
) -> None:
    _, answer = await chat(chat_session, **params)
    assert answer["error"]["code"] == code
    assert answer["error"]["data"]["field"] == field


async def test_an_unknown_provider_suggests_close_ones(chat_session: Session) -> None:
    _, answer = await chat(chat_session, messages=HELLO, provider="opnai")
    assert answer["error"]["code"] == -32010
    assert "openai" in answer["error"]["data"]["suggestions"]


async def test_images_for_a_text_only_provider_are_refused_clearly(chat_session: Session) -> None:
    image = [{"role": "user", "content": [{"type": "image", "url": "https://example.com/cat.png"}]}]
    _, answer = await chat(chat_session, messages=image, provider="deepseek", model="deepseek-chat")
    assert answer["error"]["code"] == -32013
    assert "images" in answer["error"]["data"]["detail"]


async def test_a_provider_without_credentials_says_where_to_put_one(chat_session: Session) -> None:
    _, answer = await chat(
        chat_session, messages=HELLO, provider="groq", model="llama-3.3-70b-versatile"
    )
    error = answer["error"]
    assert error["code"] == -32012
    assert "GROQ_API_KEY" in error["data"]["envKeys"]


async def test_a_provider_without_a_bridge_refuses_the_bridge_route(chat_session: Session) -> None:
    _, answer = await chat(chat_session, messages=HELLO, route="bridge")
    assert answer["error"]["code"] == -32013
    assert "bridge" in answer["error"]["data"]["detail"]


async def test_a_model_route_picks_the_provider_when_none_is_named(chat_session: Session) -> None:
    _, answer = await chat(chat_session, messages=HELLO, model="routed-model")
    assert (answer["result"]["provider"], answer["result"]["model"]) == ("fake", "routed-model")


async def test_without_provider_or_route_the_default_provider_answers(
    chat_session: Session,
) -> None:
    _, answer = await chat(chat_session, messages=HELLO, model="gpt-fake")
    assert answer["result"]["provider"] == "openai"


async def test_a_provider_nobody_answers_for_is_unavailable_after_retries(
    chat_session: Session,
) -> None:
    _, answer = await chat(chat_session, messages=HELLO, provider="dead")
    error = answer["error"]
    assert error["code"] == -32024
    assert "connection failed" in error["data"]["detail"]
    assert [attempt["outcome"] for attempt in error["data"]["route"]] == ["UpstreamUnavailable"] * 3
