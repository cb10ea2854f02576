"""``POST /v1/messages``: the official ``anthropic`` SDK against the real daemon, whose provider is
the fake OpenAI upstream, and the pure translations of :mod:`daemon.rpc.anthropic_wire` (request)
and :mod:`daemon.rpc.anthropic_output` (answer)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import anthropic
import httpx2
import orjson
import pytest
from anthropic.types import MessageParam, TextBlock, ThinkingBlock, ToolParam, ToolUseBlock

from daemon.adapters.types import (
    THINKING_BUDGET,
    Event,
    Finish,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    UsageEvent,
    empty_usage,
)
from daemon.errors import (
    CircuitOpen,
    CredentialsMissing,
    DaemonError,
    InternalError,
    InvalidParams,
    ParseError,
    RateLimited,
    RequestTooLarge,
    UnknownProvider,
    UpstreamAuthFailed,
    UpstreamProtocol,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from daemon.rpc import anthropic_output, anthropic_wire
from tests.fakes import cassettes
from tests.support.daemon import DaemonProcess, running_daemon
from tests.support.upstream import ThreadedUpstream, upstream_config
from tests.test_openai_sdk import free_port

RECORDED = cassettes.WIRE / "anthropic_messages"
UPSTREAM_KEYS = ("sk-test-key-one-0000", "sk-test-key-two-0000", "sk-test-fallback-0000")
# A route to a provider nobody configured: the only way a model string reaches UnknownProvider.
GHOST_ROUTE = '[[model_routes]]\nprefix = "ghost-"\nprovider = "nosuch"\n'
SEARCH: ToolParam = {
    "name": "search",
    "description": "Search the web",
    "input_schema": {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    },
}


def user(text: str) -> list[MessageParam]:
    return [{"role": "user", "content": text}]


def marked(model: str) -> tuple[str, str]:
    """``model`` with a unique scenario, and the marker that finds its upstream requests."""
    marker = f"anth-{uuid.uuid4().hex[:12]}"
    return f"{model}+scenario={marker}", marker


# --- pure translations -------------------------------------------------------------------------


def test_a_full_conversation_becomes_chat_send_params() -> None:
    body = {
        "model": "ignored here",
        "system": "Be brief.",
        "max_tokens": 300,
        "temperature": 0.5,
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "tools": [SEARCH],
        "tool_choice": {"type": "any"},
        "metadata": {"user_id": "u1"},
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "opaque"},
                    {"type": "text", "text": "Searching. "},
                    {"type": "text", "text": "Twice."},
                    {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"q": "a"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "search", "input": {"q": "b"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "found a"},
                    {"type": "text", "text": "between"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "is_error": True,
                        "content": [{"type": "text", "text": "boom"}],
                    },
                ],
            },
        ],
    }
    params = anthropic_wire.to_send_params(body, "openai", "gpt-fake")
    assert params == {
        "model": "gpt-fake",
        "provider": "openai",
        "maxTokens": 300,
        "temperature": 0.5,
        "reasoning": "medium",
        "tools": [
            {
                "name": "search",
                "description": "Search the web",
                "parameters": SEARCH["input_schema"],
            }
        ],
        "toolChoice": "required",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image", "data": "iVBO", "mimeType": "image/png"},
                    {"type": "image", "url": "https://x.test/a.png"},
                ],
            },
            {
                "role": "assistant",
                "reasoning": "hmm",  # signed: it goes back to the provider that signed it
                "reasoningSignature": "sig",
                "content": "Searching. Twice.",
                "toolCalls": [
                    {"id": "toolu_1", "name": "search", "arguments": {"q": "a"}},
                    {"id": "toolu_2", "name": "search", "arguments": {"q": "b"}},
                ],
            },
            {"role": "tool", "toolCallId": "toolu_1", "content": "found a"},
            {"role": "user", "content": [{"type": "text", "text": "between"}]},
            {
                "role": "tool",
                "toolCallId": "toolu_2",
                "content": [{"type": "text", "text": "Error:"}, {"type": "text", "text": "boom"}],
            },
        ],
    }


def test_system_blocks_and_plain_strings_keep_their_shape() -> None:
    body = {
        "system": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
    }
    params = anthropic_wire.to_send_params(body, None, "m")
    assert "provider" not in params
    assert params["messages"] == [
        {
            "role": "system",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        },
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo"},
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "search", "disable_parallel_tool_use": True}, {"name": "search"}),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: Any) -> None:
    body = {"messages": user("hi"), "tools": [SEARCH], "tool_choice": choice}
    assert anthropic_wire.to_send_params(body, None, "m")["toolChoice"] == expected


@pytest.mark.parametrize(
    ("thinking", "effort"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, "minimal"),
        ({"type": "enabled", "budget_tokens": 4000}, "low"),
        ({"type": "enabled", "budget_tokens": 10000}, "medium"),
        ({"type": "enabled", "budget_tokens": 31999}, "high"),
        ({"type": "adaptive"}, "medium"),
        ({"type": "disabled"}, None),
    ],
)
def test_thinking_becomes_a_reasoning_effort(thinking: dict[str, Any], effort: str | None) -> None:
    params = anthropic_wire.to_send_params(
        {"messages": user("hi"), "thinking": thinking}, None, "m"
    )
    assert params.get("reasoning") == effort


@pytest.mark.parametrize("effort", sorted(THINKING_BUDGET))
def test_effort_to_budget_and_back_is_a_round_trip(effort: str) -> None:
    """The anthropic-messages adapter turns an effort into a budget; the endpoint reads it back."""
    thinking = {"type": "enabled", "budget_tokens": THINKING_BUDGET[effort]}
    params = anthropic_wire.to_send_params(
        {"messages": user("hi"), "thinking": thinking}, None, "m"
    )
    assert params["reasoning"] == effort


def with_content(*blocks: dict[str, Any], role: str = "user") -> dict[str, Any]:
    return {"messages": [{"role": role, "content": list(blocks)}]}


PLAIN = with_content({"type": "text", "text": "x"})


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({**PLAIN, "top_k": 5}, "top_k"),
        ({**PLAIN, "top_p": 0.9}, "top_p"),
        (with_content({"type": "document", "source": {}}), "'document'"),
        (with_content({"type": "search_result", "content": []}), "'search_result'"),
        (with_content({"type": "image", "source": {"type": "file", "file_id": "f"}}), "'file'"),
        (
            with_content({"type": "server_tool_use", "id": "s"}, role="assistant"),
            "'server_tool_use'",
        ),
        (
            with_content(
                {
                    "type": "tool_result",
                    "tool_use_id": "t",
                    "content": [{"type": "document", "source": {}}],
                }
            ),
            "'document'",
        ),
        ({**PLAIN, "system": [{"type": "image"}]}, "system block type 'image'"),
        (
            {
                **PLAIN,
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            },
            "'web_search_20250305'",
        ),
        ({**PLAIN, "thinking": {"type": "sideways"}}, "'sideways'"),
        ({**PLAIN, "tool_choice": {"type": "all"}}, "'all'"),
    ],
)
def test_what_cannot_be_carried_is_refused_by_name(body: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        anthropic_wire.to_send_params(body, None, "m")
    assert named in str(caught.value.detail)
    assert "not supported" in str(caught.value.detail)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages.0.content"),
        ({"messages": [{"role": "user", "content": ["x"]}]}, "messages.0.content.0"),
        (with_content({"type": "text", "text": None}), "messages.0.content.0.text"),
        (
            with_content(
                {"type": "tool_use", "id": "a", "name": "n", "input": 3}, role="assistant"
            ),
            "messages.0.content.0.input",
        ),
        ({**with_content(), "thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
    ],
)
def test_malformed_requests_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        anthropic_wire.to_send_params(body, None, "m")
    assert caught.value.data["field"] == field


def result(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    usage = {**empty_usage(), "inputTokens": 7, "outputTokens": 5, "cacheReadTokens": 2}
    return {"message": message, "finishReason": finish, "usage": usage}


def test_a_result_becomes_an_anthropic_message() -> None:
    normalized = {
        "role": "assistant",
        "content": "Let me look.",
        "reasoning": "They want a search.",
        "toolCalls": [{"id": "call_1", "name": "search", "arguments": {"query": "cats"}}],
    }
    assert anthropic_output.message(result(normalized, "tool_calls"), "openai/m", "msg_1") == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "openai/m",
        "content": [
            {"type": "thinking", "thinking": "They want a search.", "signature": ""},
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "call_1", "name": "search", "input": {"query": "cats"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 7,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 2,
            "output_tokens": 5,
        },
    }


def test_an_empty_answer_has_no_blocks_and_a_missing_call_id_is_made_up() -> None:
    assert anthropic_output.message(result({"content": ""}), "m", "msg_1")["content"] == []
    blocks = anthropic_output.content_blocks(
        {"content": "", "toolCalls": [{"id": "", "name": "f", "arguments": {}}]}
    )
    assert blocks[0]["id"].startswith("toolu_")


@pytest.mark.parametrize(
    ("finish", "reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
        ("error", "end_turn"),
    ],
)
def test_stop_reasons(finish: str, reason: str) -> None:
    assert anthropic_output.stop_reason(finish) == reason


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, payload) for every SSE event; each must be ``event:`` then ``data:``."""
    events = []
    for chunk in raw.decode().split("\n\n"):
        if not chunk:
            continue
        match = re.fullmatch(r"event: (\w+)\ndata: (.+)", chunk)
        assert match is not None, chunk
        events.append((match[1], orjson.loads(match[2])))
    return events


def encode(events: list[Event], finish: str = "stop") -> list[tuple[str, dict[str, Any]]]:
    encoder = anthropic_output.StreamEncoder("msg_1", "m")
    frames = [encoder.start(), *encoder.feed(events)]
    frames.append(encoder.finish(result({}, finish)))
    return parse_sse(b"".join(frames))


def test_the_stream_opens_one_block_at_a_time() -> None:
    events: list[Event] = [
        ReasoningDelta("hm"),
        ReasoningDelta("m"),
        TextDelta(""),
        TextDelta("Hi"),
        ToolCallDelta(0, "call_a", "search", ""),
        ToolCallDelta(0, arguments='{"query":'),
        ToolCallDelta(0, arguments='"x"}'),
        ToolCallDelta(1, "call_b", "clock", "{}"),
        UsageEvent(empty_usage()),
        Finish("tool_calls"),
    ]
    sse = encode(events, "tool_calls")
    assert all(name == payload["type"] for name, payload in sse)
    summary = [
        (name, payload.get("index"), (payload.get("delta") or payload.get("content_block") or {}))
        for name, payload in sse[2:]
    ]
    assert summary == [
        ("content_block_start", 0, {"type": "thinking", "thinking": "", "signature": ""}),
        ("content_block_delta", 0, {"type": "thinking_delta", "thinking": "hm"}),
        ("content_block_delta", 0, {"type": "thinking_delta", "thinking": "m"}),
        ("content_block_stop", 0, {}),
        ("content_block_start", 1, {"type": "text", "text": ""}),
        ("content_block_delta", 1, {"type": "text_delta", "text": "Hi"}),
        ("content_block_stop", 1, {}),
        (
            "content_block_start",
            2,
            {"type": "tool_use", "id": "call_a", "name": "search", "input": {}},
        ),
        ("content_block_delta", 2, {"type": "input_json_delta", "partial_json": '{"query":'}),
        ("content_block_delta", 2, {"type": "input_json_delta", "partial_json": '"x"}'}),
        ("content_block_stop", 2, {}),
        (
            "content_block_start",
            3,
            {"type": "tool_use", "id": "call_b", "name": "clock", "input": {}},
        ),
        ("content_block_delta", 3, {"type": "input_json_delta", "partial_json": "{}"}),
        ("content_block_stop", 3, {}),
        ("message_delta", None, {"stop_reason": "tool_use", "stop_sequence": None}),
        ("message_stop", None, {}),
    ]
    assert sse[0][1]["message"]["id"] == "msg_1"
    assert sse[-2][1]["usage"]["input_tokens"] == 7


def test_a_tool_call_cannot_go_on_once_its_whole_arguments_closed_its_block() -> None:
    encoder = anthropic_output.StreamEncoder("msg_1", "m")
    encoder.feed([ToolCallDelta(0, "a", "f", "{}"), ToolCallDelta(1, "b", "g")])
    with pytest.raises(UpstreamProtocol):
        encoder.feed([ToolCallDelta(0, arguments='{"more": 1}')])


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (InvalidParams("bad"), 400, "invalid_request_error"),
        (ParseError("not JSON"), 400, "invalid_request_error"),
        (UpstreamRejected("no", status=422), 422, "invalid_request_error"),
        (CredentialsMissing("no key"), 401, "authentication_error"),
        (UpstreamAuthFailed("bad key", status=403), 401, "authentication_error"),
        (UnknownProvider("who"), 404, "not_found_error"),
        (UpstreamRejected("gone", status=404), 404, "not_found_error"),
        (RequestTooLarge("big"), 413, "request_too_large"),
        (RateLimited("slow down"), 429, "rate_limit_error"),
        (InternalError("oops"), 500, "api_error"),
        (UpstreamProtocol("garbled"), 502, "api_error"),
        (UpstreamUnavailable("refused"), 502, "api_error"),
        (UpstreamUnavailable("busy", status=529), 529, "overloaded_error"),
        (UpstreamUnavailable("busy", status=503), 529, "overloaded_error"),
        (CircuitOpen("paused"), 529, "overloaded_error"),
        (UpstreamTimeout("late"), 504, "timeout_error"),
    ],
)
def test_error_bodies(error: DaemonError, status: int, kind: str) -> None:
    assert anthropic_wire.error_body(error) == (
        status,
        {"type": "error", "error": {"type": kind, "message": error.detail}},
    )


def test_a_mid_stream_error_is_an_error_event() -> None:
    [(name, payload)] = parse_sse(anthropic_output.error_frame(RateLimited("slow down")))
    assert (name, payload) == (
        "error",
        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
    )


# --- the real daemon through the SDK -----------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """How an SDK client reaches the daemon: base URL, credentials, and (socket) a transport."""

    name: str
    base_url: str
    uds: str | None
    token: str | None

    def options(self) -> dict[str, Any]:
        # TCP wants the daemon's bearer token, sent as ANTHROPIC_AUTH_TOKEN sends it; the socket
        # needs none, but the SDK insists on one credential.
        credential = {"auth_token": self.token} if self.token else {"api_key": "not-needed"}
        return {"base_url": self.base_url, "max_retries": 0, **credential}

    def sync(self) -> anthropic.Anthropic:
        transport = httpx2.HTTPTransport(uds=self.uds) if self.uds else None
        return anthropic.Anthropic(http_client=httpx2.Client(transport=transport), **self.options())

    def asynchronous(self) -> anthropic.AsyncAnthropic:
        transport = httpx2.AsyncHTTPTransport(uds=self.uds) if self.uds else None
        client = httpx2.AsyncClient(transport=transport)
        return anthropic.AsyncAnthropic(http_client=client, **self.options())

    def raw(self) -> httpx2.Client:
        transport = httpx2.HTTPTransport(uds=self.uds) if self.uds else None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx2.Client(base_url=self.base_url, transport=transport, headers=headers)


def on_the_socket(process: DaemonProcess) -> Endpoint:
    return Endpoint("unix", "http://switchboard", str(process.socket), None)


@pytest.fixture(scope="module")
def daemon(upstream: ThreadedUpstream) -> Iterator[tuple[DaemonProcess, int]]:
    port = free_port()
    config = f'[daemon]\ntcp = "127.0.0.1:{port}"\n' + upstream_config(
        upstream.base_url, extra=GHOST_ROUTE
    )
    with running_daemon(config=config) as process:
        yield process, port


@pytest.fixture(scope="module")
def unix(daemon: tuple[DaemonProcess, int]) -> Endpoint:
    return on_the_socket(daemon[0])


@pytest.fixture(params=["unix", "tcp"])
def endpoint(request: pytest.FixtureRequest, daemon: tuple[DaemonProcess, int]) -> Endpoint:
    process, port = daemon
    if request.param == "unix":
        return on_the_socket(process)
    token = (process.state_dir / "tcp-token").read_text().strip()
    return Endpoint("tcp", f"http://127.0.0.1:{port}", None, token)


def test_text_answer(endpoint: Endpoint) -> None:
    with endpoint.sync() as client:
        answer = client.messages.create(
            model="openai/gpt-fake", max_tokens=50, messages=user("hi claude")
        )
    assert [block.type for block in answer.content] == ["text"]
    assert cast(TextBlock, answer.content[0]).text == "Echo: hi claude"
    assert answer.stop_reason == "end_turn"
    assert answer.model == "openai/gpt-fake"
    assert answer.id.startswith("msg_")
    assert answer.usage.input_tokens == 2  # the fake counts the words of the prompt
    assert answer.usage.output_tokens > 0


def test_streamed_text(endpoint: Endpoint) -> None:
    with (
        endpoint.sync() as client,
        client.messages.stream(
            model="gpt-fake+chunks=3", max_tokens=50, messages=user("stream this please")
        ) as stream,
    ):
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) == 3
    assert "".join(pieces) == "Echo: stream this please"
    assert cast(TextBlock, final.content[0]).text == "Echo: stream this please"
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 3
    assert final.usage.output_tokens == 3


def test_the_system_prompt_reaches_the_upstream(unix: Endpoint, upstream: ThreadedUpstream) -> None:
    model, marker = marked("openai/gpt-fake")
    with unix.sync() as client:
        client.messages.create(
            model=model, max_tokens=50, system="You are terse.", messages=user("hi")
        )
    [sent] = upstream.requests_for(marker)
    assert sent.body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert sent.body["max_tokens"] == 50


def test_stop_sequences_reach_the_upstream_in_its_own_shape(
    unix: Endpoint, upstream: ThreadedUpstream
) -> None:
    model, marker = marked("openai/gpt-fake")
    with unix.sync() as client:
        client.messages.create(
            model=model, max_tokens=50, stop_sequences=["END", "###"], messages=user("hi")
        )
    [sent] = upstream.requests_for(marker)
    assert sent.body["stop"] == ["END", "###"]


def test_tool_use_and_a_tool_round_trip(unix: Endpoint, upstream: ThreadedUpstream) -> None:
    model, marker = marked("openai/gpt-fake+tools")
    asked = user("cats near me")
    with unix.sync() as client:
        first = client.messages.create(model=model, max_tokens=50, messages=asked, tools=[SEARCH])
        assert first.stop_reason == "tool_use"
        [call] = [block for block in first.content if isinstance(block, ToolUseBlock)]
        assert (call.name, call.input) == ("search", {"query": "cats near me"})
        assert call.id
        conversation: list[MessageParam] = [
            *asked,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "3 cats"}],
            },
        ]
        second = client.messages.create(
            model=model, max_tokens=50, messages=conversation, tools=[SEARCH]
        )
    assert cast(TextBlock, second.content[0]).text == "Echo: tool said 3 cats"
    assert second.stop_reason == "end_turn"
    sent = upstream.requests_for(marker)[-1].body["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == call.id
    assert sent[-1] == {"role": "tool", "tool_call_id": call.id, "content": "3 cats"}


def test_streamed_tool_use(unix: Endpoint) -> None:
    with (
        unix.sync() as client,
        client.messages.stream(
            model="openai/gpt-fake+tools", max_tokens=50, messages=user("dogs"), tools=[SEARCH]
        ) as stream,
    ):
        fragments = [event.partial_json for event in stream if event.type == "input_json"]
        final = stream.get_final_message()
    [call] = final.content
    assert isinstance(call, ToolUseBlock)
    assert (call.name, call.input) == ("search", {"query": "dogs"})
    assert len(fragments) > 1
    assert orjson.loads("".join(fragments)) == {"query": "dogs"}
    assert final.stop_reason == "tool_use"


def test_thinking_asks_for_reasoning_and_comes_back_as_thinking(
    unix: Endpoint, upstream: ThreadedUpstream
) -> None:
    model, marker = marked("openai/gpt-fake+reasoning")
    thinking: Any = {"type": "enabled", "budget_tokens": 4000}
    with unix.sync() as client:
        answer = client.messages.create(
            model=model, max_tokens=50, messages=user("why"), thinking=thinking
        )
        with client.messages.stream(
            model=model, max_tokens=50, messages=user("why"), thinking=thinking
        ) as stream:
            streamed = stream.get_final_message()
    for message in (answer, streamed):
        assert [block.type for block in message.content] == ["thinking", "text"]
        assert cast(ThinkingBlock, message.content[0]).thinking == "Thinking about: why"
        assert cast(TextBlock, message.content[1]).text == "Echo: why"
    assert [r.body["reasoning_effort"] for r in upstream.requests_for(marker)] == ["low", "low"]


async def test_async_stream(unix: Endpoint) -> None:
    async with unix.asynchronous() as client:
        async with client.messages.stream(
            model="openai/gpt-fake", max_tokens=50, messages=user("async hello")
        ) as stream:
            text = "".join([piece async for piece in stream.text_stream])
            final = await stream.get_final_message()
    assert text == "Echo: async hello"
    assert final.stop_reason == "end_turn"


def daemon_message(error: anthropic.APIStatusError) -> str:
    body = cast(dict[str, Any], error.body)
    assert body["type"] == "error"
    return str(body["error"]["message"])


def test_an_unknown_provider_is_not_found(endpoint: Endpoint) -> None:
    with endpoint.sync() as client, pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="ghost-model", max_tokens=50, messages=user("hi"))
    assert daemon_message(caught.value) == "no provider is called 'nosuch'"


def test_an_upstream_404_is_not_found(unix: Endpoint) -> None:
    with unix.sync() as client, pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(
            model="openai/gpt-fake+fault=http_404", max_tokens=50, messages=user("hi")
        )
    assert "does not exist" in daemon_message(caught.value)


def test_an_upstream_429_is_a_rate_limit_error_streamed_or_not(unix: Endpoint) -> None:
    with unix.sync() as client:
        with pytest.raises(anthropic.RateLimitError) as caught:
            client.messages.create(
                model="openai/gpt-fake+fault=http_429", max_tokens=50, messages=user("hi")
            )
        assert "Rate limit reached" in daemon_message(caught.value)
        with (
            pytest.raises(anthropic.RateLimitError),
            client.messages.stream(
                model="openai/gpt-fake+fault=http_429", max_tokens=50, messages=user("hi")
            ) as stream,
        ):
            stream.until_done()


def test_an_unsupported_block_is_a_bad_request_naming_it(unix: Endpoint) -> None:
    document: Any = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "hello"},
    }
    with unix.sync() as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            client.messages.create(
                model="openai/gpt-fake",
                max_tokens=50,
                messages=[{"role": "user", "content": [document]}],
            )
        assert "'document'" in daemon_message(caught.value)
        with pytest.raises(anthropic.BadRequestError) as caught:
            client.messages.create(
                model="openai/gpt-fake",
                max_tokens=50,
                messages=user("hi"),
                extra_body={"top_k": 5},
            )
        assert "top_k" in daemon_message(caught.value)


def test_a_failure_after_the_first_event_is_an_error_event(unix: Endpoint) -> None:
    # With tools the fake's first chunk already names the tool call, so the stream is open when
    # the fake goes silent; the daemon's idle timeout (1.5 s in upstream_config) ends it.
    model = "openai/gpt-fake+tools+fault=stall_after_first_chunk"
    body = {"model": model, "max_tokens": 50, "stream": True, "messages": user("x")}
    with unix.raw() as raw:
        response = raw.post("/v1/messages", json={**body, "tools": [SEARCH]})
    assert response.status_code == 200
    events = parse_sse(response.content)
    assert [name for name, _ in events[:3]] == ["message_start", "ping", "content_block_start"]
    assert events[2][1]["content_block"]["name"] == "search"
    assert events[-1] == (
        "error",
        {
            "type": "error",
            "error": {
                "type": "timeout_error",
                "message": "no data from the provider (idle timeout)",
            },
        },
    )
    with unix.sync() as client, pytest.raises(anthropic.APIStatusError) as caught:
        with client.messages.stream(
            model=model, max_tokens=50, messages=user("x"), tools=[SEARCH]
        ) as stream:
            stream.until_done()
    assert cast(dict[str, Any], caught.value.body)["error"]["type"] == "timeout_error"


def test_bodies_that_are_not_messages_requests(unix: Endpoint) -> None:
    with unix.raw() as raw:
        not_json = raw.post(
            "/v1/messages", content=b"{nope", headers={"content-type": "application/json"}
        )
        no_model = raw.post("/v1/messages", json={"max_tokens": 5, "messages": user("hi")})
        unversioned = raw.post(
            "/v1/messages", json={"model": "openai/gpt-fake", "messages": user("plain")}
        )
    assert not_json.status_code == 400
    assert not_json.json()["error"]["type"] == "invalid_request_error"
    assert no_model.status_code == 400
    assert "model" in no_model.json()["error"]["message"]
    assert "anthropic-version" not in unversioned.request.headers
    assert unversioned.json()["content"] == [{"type": "text", "text": "Echo: plain"}]


def test_an_oversized_body_is_refused_with_413(unix: Endpoint) -> None:
    with unix.sync() as client, pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(
            model="openai/gpt-fake", max_tokens=5, messages=user("x" * (9 << 20))
        )
    assert caught.value.status_code == 413
    assert cast(dict[str, Any], caught.value.body)["error"]["type"] == "request_too_large"


def test_keys_stay_where_they_belong(unix: Endpoint, upstream: ThreadedUpstream) -> None:
    """The upstream's keys never reach a client; a client's own key never reaches the upstream."""
    client_key = "sk-ant-client-own-key-0000"
    model, marker = marked("openai/gpt-fake")
    bodies = [
        {"model": model, "max_tokens": 5, "messages": user("hi")},
        {"model": model, "max_tokens": 5, "messages": user("hi"), "stream": True},
        {"model": model + "+tools", "max_tokens": 5, "messages": user("hi"), "tools": [SEARCH]},
        {"model": model + "+fault=http_401", "max_tokens": 5, "messages": user("hi")},
        {"model": model + "+fault=http_429", "max_tokens": 5, "messages": user("hi")},
        {
            "model": model + "+fault=http_429",
            "max_tokens": 5,
            "messages": user("hi"),
            "stream": True,
        },
        {"model": model, "max_tokens": 5, "messages": with_content({"type": "x"})["messages"]},
    ]
    with unix.raw() as raw:
        answers = [
            raw.post("/v1/messages", json=body, headers={"x-api-key": client_key})
            for body in bodies
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 401, 429, 429, 400]
    for answer in answers:
        seen = answer.content.decode() + str(answer.headers)
        assert not any(key in seen for key in UPSTREAM_KEYS)
    sent = upstream.requests_for(marker)
    assert sent
    for request in sent:
        assert client_key not in str(request.headers)
        assert request.headers["authorization"] in {f"Bearer {key}" for key in UPSTREAM_KEYS}


# --- the recorded Anthropic wire ---------------------------------------------------------------


def recorded_shapes() -> dict[str, frozenset[str]]:
    """Every key path each event type (and ``message``) has in the real recordings."""
    shapes: dict[str, set[str]] = {}
    for path in sorted(RECORDED.glob("*.yaml")):
        for exchange in cassettes.load(path):
            if "event-stream" in (exchange.header("content-type") or ""):
                assert exchange.body is not None
                for event in cassettes.sse_events(exchange.body):
                    shapes.setdefault(event["type"], set()).update(cassettes.key_paths(event))
            elif isinstance(exchange.parsed_body, dict):
                kind = str(exchange.parsed_body.get("type"))
                shapes.setdefault(kind, set()).update(cassettes.key_paths(exchange.parsed_body))
    return {kind: frozenset(paths) for kind, paths in shapes.items()}


def own_shape(value: Any) -> frozenset[str]:
    """Key paths, without the inside of tool inputs (the tool's own data)."""
    return frozenset(p for p in cassettes.key_paths(value) if ".input." not in p)


def test_streams_and_messages_have_the_recorded_shapes(unix: Endpoint) -> None:
    shapes = recorded_shapes()
    streams = [
        {"model": "openai/gpt-fake+reasoning", "messages": user("hi"), "max_tokens": 9},
        {
            "model": "openai/gpt-fake+tools",
            "messages": user("hi"),
            "tools": [SEARCH],
            "max_tokens": 9,
        },
    ]
    with unix.raw() as raw:
        answers = [raw.post("/v1/messages", json=body).json() for body in streams]
        events = [
            event
            for body in streams
            for event in parse_sse(raw.post("/v1/messages", json={**body, "stream": True}).content)
        ]
    for answer in answers:
        assert own_shape(answer) <= shapes["message"] | {
            "content[].thinking",
            "content[].signature",
        }
    seen_types = set()
    for name, payload in events:
        assert name == payload["type"]
        assert own_shape(payload) <= shapes[name], name
        seen_types.add(name)
    assert seen_types == {
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    }


def test_signed_thinking_keeps_its_signature_streamed_and_whole() -> None:
    sse = encode([ReasoningDelta("hm"), ReasoningDelta("", signature="sig-1"), TextDelta("Hi")])
    deltas = [p["delta"] for name, p in sse if name == "content_block_delta"]
    assert deltas[:2] == [
        {"type": "thinking_delta", "thinking": "hm"},
        {"type": "signature_delta", "signature": "sig-1"},
    ]
    whole = {"reasoning": "hm", "reasoningSignature": "sig-1", "content": "Hi"}
    assert anthropic_output.content_blocks(whole)[0] == {
        "type": "thinking",
        "thinking": "hm",
        "signature": "sig-1",
    }
