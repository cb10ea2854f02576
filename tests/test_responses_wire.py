"""The pure translations behind ``POST /v1/responses``: a Responses request becomes chat.send
params (:mod:`daemon.rpc.responses_wire`), and an answer becomes a ``response`` object or the
Responses event sequence (:mod:`daemon.rpc.responses_output`), in the recorded shapes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from daemon.adapters.types import (
    Event,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
    empty_usage,
)
from daemon.errors import InvalidParams, RateLimited, UpstreamProtocol, UpstreamUnavailable
from daemon.rpc.responses_output import StreamEncoder, response, response_head
from daemon.rpc.responses_wire import error_body, to_send_params
from tests.fakes import cassettes

RECORDED = cassettes.WIRE / "openai_responses"
SEARCH = {
    "type": "function",
    "name": "search",
    "description": "Search the web",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    "strict": True,
}
PNG = "iVBORw0KGgo="
# Event types no recording shows, each documented by OpenAI: the end of an answer cut short.
UNRECORDED_TYPES = frozenset({"response.incomplete"})
# Key paths no recording shows: why an answer ended short (recorded only as null).
UNRECORDED = frozenset({"response.incomplete_details.reason", "incomplete_details.reason"})


def params(**body: Any) -> dict[str, Any]:
    return to_send_params({"model": "m", **body}, None, "m")


def refused(**body: Any) -> InvalidParams:
    with pytest.raises(InvalidParams) as caught:
        params(**body)
    return caught.value


# --- the request ---------------------------------------------------------------------------


def test_a_codex_style_conversation_becomes_chat_send_params() -> None:
    """What Codex CLI sends with store: false: the whole conversation, every turn's items."""
    body = {
        "instructions": "You are a coding agent.",
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "parallel_tool_calls": False,
        "prompt_cache_key": "abc",
        "text": {"verbosity": "low"},
        "tools": [SEARCH],
        "tool_choice": "auto",
        "reasoning": {"effort": "high", "summary": "auto"},
        "max_output_tokens": 500,
        "temperature": 0.2,
        "input": [
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "sandbox"}],
            },
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                    {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "auto"},
                ],
            },
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [{"type": "summary_text", "text": "hm"}],
                "encrypted_content": "sig-1",
            },
            {
                "type": "message",
                "role": "assistant",
                "id": "msg_1",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Searching.", "annotations": []}],
            },
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "search",
                "arguments": '{"q": "a"}',
                "status": "completed",
            },
            {"type": "function_call", "call_id": "call_2", "name": "search", "arguments": ""},
            {"type": "function_call_output", "call_id": "call_1", "output": "found a"},
            {
                "type": "function_call_output",
                "call_id": "call_2",
                "output": [{"type": "input_text", "text": "found b"}],
            },
            {"role": "user", "content": "thanks"},
        ],
    }
    assert to_send_params(body, "openai", "gpt-fake") == {
        "model": "gpt-fake",
        "provider": "openai",
        "maxTokens": 500,
        "temperature": 0.2,
        "reasoning": "high",
        "toolChoice": "auto",
        "tools": [
            {"name": "search", "description": "Search the web", "parameters": SEARCH["parameters"]}
        ],
        "messages": [
            {"role": "system", "content": "You are a coding agent."},
            {"role": "system", "content": "sandbox"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image", "data": PNG, "mimeType": "image/png"},
                    {"type": "image", "url": "https://x.test/a.png"},
                ],
            },
            {
                "role": "assistant",
                "content": "Searching.",
                "reasoning": "hm",  # signed: it goes back to the provider that signed it
                "reasoningSignature": "sig-1",
                "toolCalls": [
                    {"id": "call_1", "name": "search", "arguments": {"q": "a"}},
                    {"id": "call_2", "name": "search", "arguments": {}},
                ],
            },
            {"role": "tool", "toolCallId": "call_1", "content": "found a"},
            {
                "role": "tool",
                "toolCallId": "call_2",
                "content": [{"type": "text", "text": "found b"}],
            },
            {"role": "user", "content": "thanks"},
        ],
    }


def test_a_string_input_is_one_user_message_and_unsigned_reasoning_stays_out() -> None:
    assert params(input="hi")["messages"] == [{"role": "user", "content": "hi"}]
    conversation = params(
        input=[
            {"role": "user", "content": "hi"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "mine"}]},
            {"role": "assistant", "content": "yo"},
        ]
    )["messages"]
    assert conversation[1] == {"role": "assistant", "content": "yo"}


@pytest.mark.parametrize(
    ("effort", "sent"),
    [
        ("minimal", "minimal"),
        ("low", "low"),
        ("medium", "medium"),
        ("high", "high"),
        ("xhigh", "high"),
        ("none", None),
        (None, None),
    ],
)
def test_reasoning_effort(effort: str | None, sent: str | None) -> None:
    assert params(input="x", reasoning={"effort": effort}).get("reasoning") == sent


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ({"type": "function", "name": "search"}, {"name": "search"}),
    ],
)
def test_tool_choice(choice: Any, sent: Any) -> None:
    assert params(input="x", tools=[SEARCH], tool_choice=choice)["toolChoice"] == sent


# (request fields, the field the 400 names): what needs state, or tools OpenAI's servers run.
REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"previous_response_id": "resp_1"}, "previous_response_id"),
    ({"store": True}, "store"),
    ({"background": True}, "background"),
    ({"conversation": "conv_1"}, "conversation"),
    ({"prompt": {"id": "pmpt_1"}}, "prompt"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"tools": [SEARCH, {"type": "file_search", "vector_store_ids": ["vs"]}]}, "tools[1].type"),
    ({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}, "tools[0].type"),
    ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice.type"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ({"include": ["message.output_text.logprobs"]}, "include[0]"),
    ({"text": {"format": {"type": "json_schema", "name": "x", "schema": {}}}}, "text.format"),
    ({"top_p": 0.5}, "top_p"),
    ({"top_logprobs": 3}, "top_logprobs"),
]
# Malformed requests: each a 400 naming the field.
MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({"input": 7}, "input"),
    ({"input": ["hi"]}, "input[0]"),
    ({"input": [{"type": "banana"}]}, "input[0].type"),
    ({"input": [{"role": "wizard", "content": "x"}]}, "input[0].role"),
    ({"input": [{"role": "user", "content": 5}]}, "input[0].content"),
    (
        {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
        "input[0].content[0].type",
    ),
    (
        {"input": [{"role": "user", "content": [{"type": "input_text"}]}]},
        "input[0].content[0].text",
    ),
    (
        {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]},
        "input[0].content[0].file_id",
    ),
    (
        {"input": [{"role": "user", "content": [{"type": "input_image"}]}]},
        "input[0].content[0].image_url",
    ),
    ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
    (
        {"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{no"}]},
        "input[0].arguments",
    ),
    (
        {"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]},
        "input[0].arguments",
    ),
    (
        {"input": [{"type": "function_call_output", "call_id": "nobody", "output": "x"}]},
        "input[0].call_id",
    ),
    ({"input": [{"type": "reasoning", "summary": "x"}]}, "input[0].summary"),
    ({"instructions": ["x"]}, "instructions"),
    ({"reasoning": {"effort": "max"}}, "reasoning.effort"),
    ({"tool_choice": "sometimes"}, "tool_choice"),
    ({"include": "everything"}, "include"),
]


@pytest.mark.parametrize(("body", "field"), REFUSED + MALFORMED)
def test_what_cannot_be_carried_is_a_400_naming_the_field(body: dict[str, Any], field: str) -> None:
    error = refused(**{"input": "x", **body})
    assert error.data["field"] == field
    assert (error.detail or "").startswith(field)


def test_a_tool_result_must_answer_an_earlier_call() -> None:
    error = refused(
        input=[
            {"type": "function_call_output", "call_id": "call_9", "output": "early"},
            {"type": "function_call", "call_id": "call_9", "name": "f", "arguments": "{}"},
        ]
    )
    assert error.data["field"] == "input[0].call_id"
    assert "'call_9' answers no function_call before it" in (error.detail or "")


def test_stateless_requests_pass() -> None:
    """``store: false`` and a null previous_response_id are what stateless clients send."""
    assert params(input="x", store=False, previous_response_id=None, background=False)


@pytest.mark.parametrize(
    ("field", "named"),
    [
        ("maxTokens", "max_output_tokens"),
        ("tools.0.name", "tools[0].name"),
        ("toolChoice", "tool_choice"),
        ("reasoning.effort", "reasoning.effort"),
        ("messages.3.content", "input"),
        ("temperature", "temperature"),
    ],
)
def test_a_schema_error_names_the_responses_field(field: str, named: str) -> None:
    status, body = error_body(InvalidParams(f"{field} is wrong", field=field, reason="is wrong"))
    assert status == 400
    assert body["error"]["param"] == named
    assert body["error"]["message"].startswith(named)


# --- the answer ----------------------------------------------------------------------------


def result(message: dict[str, Any], finish: str = "stop", usage: Usage | None = None) -> Any:
    return {
        "message": {"role": "assistant", "content": "", **message},
        "finishReason": finish,
        "usage": usage or empty_usage(),
    }


HEAD = response_head({"model": "m", "tools": [SEARCH], "instructions": "be"}, "p/m", "resp_1")


def test_a_result_becomes_a_response() -> None:
    usage: Usage = {
        **empty_usage(),
        "inputTokens": 9,
        "outputTokens": 4,
        "cacheReadTokens": 2,
        "reasoningTokens": 1,
    }
    message = {
        "content": "Hi",
        "reasoning": "hm",
        "reasoningSignature": "sig",
        "toolCalls": [{"id": "", "name": "search", "arguments": {"q": "a"}}],
    }
    answer = response(result(message, "tool_calls", usage), HEAD)
    assert (answer["id"], answer["model"], answer["status"], answer["store"]) == (
        "resp_1",
        "p/m",
        "completed",
        False,
    )
    reasoning, text, call = answer["output"]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "hm"}]
    assert reasoning["encrypted_content"] == "sig"
    assert text["content"][0]["text"] == "Hi"
    assert (call["name"], orjson.loads(call["arguments"])) == ("search", {"q": "a"})
    assert call["call_id"].startswith("call_")  # the provider gave none: one is made up
    assert answer["usage"] == {
        "input_tokens": 9,
        "input_tokens_details": {"cached_tokens": 2},
        "output_tokens": 4,
        "output_tokens_details": {"reasoning_tokens": 1},
        "total_tokens": 13,
    }


@pytest.mark.parametrize(
    ("finish", "status", "reason"),
    [
        ("stop", "completed", None),
        ("tool_calls", "completed", None),
        ("length", "incomplete", "max_output_tokens"),
        ("content_filter", "incomplete", "content_filter"),
    ],
)
def test_how_an_answer_ends(finish: str, status: str, reason: str | None) -> None:
    answer = response(result({"content": "x"}, finish), HEAD)
    assert answer["status"] == status
    assert answer["incomplete_details"] == (None if reason is None else {"reason": reason})


def encode(events: list[Event], finish: str = "stop", **message: Any) -> list[dict[str, Any]]:
    """The payloads of a whole stream: opening, the events', and the ending."""
    encoder = StreamEncoder(HEAD)
    frames = [*encoder.start(), *encoder.feed(events), *encoder.finish(result(message, finish))]
    raw = b"".join(frames)
    payloads = cassettes.sse_events(raw)
    names = [line[7:] for line in raw.decode().splitlines() if line.startswith("event: ")]
    assert names == [p["type"] for p in payloads]  # each event named after its type
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    return payloads


def types(payloads: list[dict[str, Any]]) -> list[str]:
    return [p["type"].removeprefix("response.") for p in payloads]


def test_text_streams_as_one_message_item() -> None:
    payloads = encode([TextDelta("Hel"), TextDelta("lo")])
    assert types(payloads) == [
        "created",
        "in_progress",
        "output_item.added",
        "content_part.added",
        "output_text.delta",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
        "output_item.done",
        "completed",
    ]
    assert payloads[-2]["item"]["content"][0]["text"] == "Hello"
    completed = payloads[-1]["response"]
    assert completed["output"] == [payloads[-2]["item"]]
    assert completed["id"] == payloads[0]["response"]["id"] == "resp_1"


def test_reasoning_closes_before_text_and_keeps_its_signature() -> None:
    events: list[Event] = [
        ReasoningDelta("Let me"),
        ReasoningDelta(" think"),
        ReasoningDelta("", signature="sig-9"),
        TextDelta("Hi"),
    ]
    payloads = encode(events)
    assert types(payloads)[2:10] == [
        "output_item.added",
        "reasoning_summary_part.added",
        "reasoning_summary_text.delta",
        "reasoning_summary_text.delta",
        "reasoning_summary_text.done",
        "reasoning_summary_part.done",
        "output_item.done",
        "output_item.added",
    ]
    reasoning = payloads[8]["item"]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Let me think"}]
    assert reasoning["encrypted_content"] == "sig-9"
    assert [item["type"] for item in payloads[-1]["response"]["output"]] == ["reasoning", "message"]


def test_interleaved_tool_calls_stream_as_items_of_their_own() -> None:
    """Fragments keyed by index arrive in any order (0, 0, 1, 0, 1); each call is an item."""
    events: list[Event] = [
        ToolCallDelta(0, "call_a", "search", '{"q":'),
        ToolCallDelta(0, arguments=' "x'),
        ToolCallDelta(1, "call_b", "search", '{"q":'),
        ToolCallDelta(0, arguments='"}'),
        ToolCallDelta(1, arguments=' "y"}'),
    ]
    payloads = encode(events, "tool_calls")
    deltas: dict[int, str] = {}
    for p in payloads:
        if p["type"] == "response.function_call_arguments.delta":
            deltas[p["output_index"]] = deltas.get(p["output_index"], "") + p["delta"]
    assert {i: orjson.loads(text) for i, text in deltas.items()} == {0: {"q": "x"}, 1: {"q": "y"}}
    calls = payloads[-1]["response"]["output"]
    assert [(c["call_id"], orjson.loads(c["arguments"])) for c in calls] == [
        ("call_a", {"q": "x"}),
        ("call_b", {"q": "y"}),
    ]


def test_a_call_is_announced_once_its_name_arrives() -> None:
    events: list[Event] = [
        ToolCallDelta(0, arguments='{"q": '),
        ToolCallDelta(0, name="search"),
        ToolCallDelta(0, arguments='"z"}'),
    ]
    payloads = encode(events, "tool_calls")
    assert types(payloads)[2:5] == [
        "output_item.added",
        "function_call_arguments.delta",
        "function_call_arguments.delta",
    ]
    added = payloads[2]["item"]
    assert added["name"] == "search"
    assert added["call_id"].startswith("call_")  # ids only come on first fragments; none here
    assert payloads[3]["delta"] == '{"q": '


def test_an_empty_argument_call_and_text_after_a_call() -> None:
    payloads = encode([ToolCallDelta(0, "call_e", "now"), TextDelta("done")], "tool_calls")
    output = payloads[-1]["response"]["output"]
    assert [(i["type"], i.get("arguments")) for i in output] == [
        ("function_call", ""),
        ("message", None),
    ]


def test_a_call_that_never_got_a_name_is_a_protocol_error() -> None:
    encoder = StreamEncoder(HEAD)
    encoder.feed([ToolCallDelta(0, "call_x", arguments="{}")])
    with pytest.raises(UpstreamProtocol, match="tool call 0 ended without a function name"):
        encoder.finish(result({}, "tool_calls"))


def test_an_answer_cut_short_ends_with_response_incomplete() -> None:
    payloads = encode([TextDelta("Hi")], "length")
    assert payloads[-1]["type"] == "response.incomplete"
    assert payloads[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_a_failure_in_band_is_an_error_then_response_failed() -> None:
    encoder = StreamEncoder(HEAD)
    frames = [*encoder.start(), *encoder.feed([TextDelta("Hi")])]
    frames.append(encoder.fail(RateLimited("slow down")))
    error, failed = cassettes.sse_events(b"".join(frames))[-2:]
    assert error["type"] == "error"
    assert error["error"] == {
        "message": "slow down",
        "type": "rate_limit_error",
        "param": None,
        "code": "RateLimited",
    }
    assert failed["type"] == "response.failed"
    assert failed["response"]["id"] == "resp_1"
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {"code": "RateLimited", "message": "slow down"}


# --- the recorded wire ---------------------------------------------------------------------


def recorded_shapes() -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """(key paths of each recorded event type, key paths of recorded whole responses).

    The response object is one shape on every lifecycle event (created ... failed), so those
    events share the union of their paths; a whole response may have any path a recorded
    ``response.completed`` carries under ``response``."""
    events: dict[str, set[str]] = {}
    bodies: set[str] = set()
    for path in sorted(RECORDED.iterdir()):
        for exchange in cassettes.load(path):
            if exchange.body is not None and "data:" in str(exchange.body)[:300]:
                for event in cassettes.sse_events(exchange.body):
                    events.setdefault(event["type"], set()).update(cassettes.key_paths(event))
            elif isinstance(exchange.parsed_body, dict) and "output" in exchange.parsed_body:
                bodies |= cassettes.key_paths(exchange.parsed_body)
    lifecycle = set().union(*(paths for paths in events.values() if "response.id" in paths))
    shapes = {
        kind: frozenset(lifecycle if "response.id" in paths else paths)
        for kind, paths in events.items()
    }
    completed = {p.removeprefix("response.") for p in shapes["response.completed"]}
    return shapes, frozenset(bodies | completed)


def own_paths(value: Any) -> frozenset[str]:
    """Key paths, without the inside of a tool's own parameter schema (the client's data)."""
    return frozenset(p for p in cassettes.key_paths(value) if "tools[].parameters." not in p)


def unrecorded_paths(payload: dict[str, Any], shapes: dict[str, frozenset[str]]) -> set[str]:
    """What ``payload`` (a streamed event) has that no recording of its type shows."""
    kind = payload["type"]
    reference = shapes["response.completed" if kind in UNRECORDED_TYPES else kind]
    return set(own_paths(payload) - reference - UNRECORDED)


def test_every_event_and_field_emitted_was_seen_from_the_real_api() -> None:
    shapes, bodies = recorded_shapes()
    streams = [
        encode(
            [
                ReasoningDelta("a"),
                ReasoningDelta("", signature="s"),
                TextDelta("b"),
                ToolCallDelta(0, "c", "search", "{}"),
            ],
            "tool_calls",
        ),
        encode([TextDelta("cut")], "length"),
    ]
    encoder = StreamEncoder(HEAD)
    failed = b"".join([*encoder.start(), encoder.fail(UpstreamUnavailable("gone"))])
    for payload in [*(p for s in streams for p in s), *cassettes.sse_events(failed)]:
        assert payload["type"] in shapes or payload["type"] in UNRECORDED_TYPES
        assert unrecorded_paths(payload, shapes) == set(), payload["type"]
    whole = response(
        result(
            {
                "content": "x",
                "reasoning": "r",
                "reasoningSignature": "s",
                "toolCalls": [{"id": "c", "name": "search", "arguments": {}}],
            },
            "length",
        ),
        HEAD,
    )
    assert own_paths(whole) - bodies - UNRECORDED == frozenset()
