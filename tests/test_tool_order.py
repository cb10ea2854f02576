"""Tool calls in any order the upstream's wire allows, in the order each output's wire needs.

The fake OpenAI upstream streams two tool calls the ways the Chat Completions wire allows
(fragments keyed by index): interleaved (0, 0, 1, 0, 1, ...), named only after the arguments
began, with ids on the first fragment only, or with no arguments at all. Through the real
daemon, the official ``anthropic`` SDK (``/v1/messages`` SSE), the official ``openai`` SDK
(``/v1/chat/completions`` SSE, its stream helper included) and ``chat.delta`` over a WebSocket
must each get both calls whole: right names, ids and inputs, each call's fragments together.
First the pure :class:`~daemon.rpc.tool_order.ToolCallOrder` these outputs share.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import anthropic
import httpx2
import openai
import orjson
import pytest
from anthropic.types import ToolParam, ToolUseBlock
from openai.types.chat import ChatCompletionFunctionToolParam

from daemon.adapters.types import Event, Finish, ReasoningDelta, TextDelta, ToolCallDelta
from daemon.errors import UpstreamProtocol, UpstreamUnavailable
from daemon.rpc.tool_order import JsonEnd, ToolCallOrder
from tests.support.daemon import DaemonProcess
from tests.support.sse import sse_events
from tests.support.wsrpc import Rpc, websocket

# --- the order, pure -----------------------------------------------------------------------------


def fragments(events: list[Event]) -> list[tuple[int, str | None, str | None, str]]:
    return [(e.index, e.id, e.name, e.arguments) for e in events if isinstance(e, ToolCallDelta)]


def test_interleaved_calls_come_out_one_after_the_other() -> None:
    order = ToolCallOrder()
    out = order.feed(
        [
            ToolCallDelta(0, "call_a", "weather", ""),
            ToolCallDelta(0, arguments='{"city":'),
            ToolCallDelta(1, "call_b", "clock", ""),
            ToolCallDelta(1, arguments='{"zone":'),
            ToolCallDelta(0, arguments='"Paris"}'),
            ToolCallDelta(1, arguments='"CET"}'),
        ]
    )
    assert fragments(out) == [
        (0, "call_a", "weather", ""),
        (0, None, None, '{"city":'),
        (0, None, None, '"Paris"}'),
        (1, "call_b", "clock", '{"zone":'),  # held while call 0 ran, then all at once
        (1, None, None, '"CET"}'),  # and live from then on
    ]
    assert order.end() == []


def test_a_later_call_waits_for_the_stream_end_when_the_earlier_never_completes() -> None:
    order = ToolCallOrder()
    out = order.feed(
        [
            ToolCallDelta(0, "call_a", "weather", '{"city":'),
            ToolCallDelta(1, "call_b", "clock", '{"zone":'),
            ToolCallDelta(1, arguments='"CET"}'),
            ToolCallDelta(0, arguments='"Par'),
        ]
    )
    assert fragments(out) == [(0, "call_a", "weather", '{"city":'), (0, None, None, '"Par')]
    assert fragments(order.end()) == [(1, "call_b", "clock", '{"zone":"CET"}')]


def test_a_call_waits_for_its_name_and_keeps_the_id_of_its_first_fragment() -> None:
    order = ToolCallOrder()
    first = order.feed([ToolCallDelta(0, "call_a", None, '{"ci')])
    second = order.feed([ToolCallDelta(0, None, "weather", 'ty":"Oslo"}')])
    assert first == []
    assert fragments(second) == [(0, "call_a", "weather", '{"city":"Oslo"}')]


def test_upstream_indexes_are_renumbered_in_the_order_calls_begin() -> None:
    order = ToolCallOrder()
    out = order.feed([ToolCallDelta(7, "b", "g", "{}"), ToolCallDelta(3, "a", "f", "{}")])
    assert fragments(out) == [(0, "b", "g", "{}"), (1, "a", "f", "{}")]


def test_a_call_without_arguments_gets_an_empty_object() -> None:
    order = ToolCallOrder()
    out = order.feed([ToolCallDelta(0, "a", "f"), ToolCallDelta(1, "b", "g", "")])
    # Call 0 never became whole JSON, so call 1 waited for the end of the stream.
    assert fragments(out) == [(0, "a", "f", "")]
    assert fragments(order.end()) == [
        (0, None, None, "{}"),
        (1, "b", "g", ""),
        (1, None, None, "{}"),
    ]


def test_text_streams_live_except_inside_an_open_call_on_a_one_block_wire() -> None:
    events: list[Event] = [
        TextDelta("Let me look. "),
        ToolCallDelta(0, "a", "f", '{"q":'),
        TextDelta("(still typing)"),
        ToolCallDelta(0, arguments='"x"}'),
        Finish("tool_calls"),
    ]
    keyed = ToolCallOrder().feed(events)
    assert keyed == [
        events[0],
        ToolCallDelta(0, "a", "f", '{"q":'),
        events[2],
        ToolCallDelta(0, arguments='"x"}'),
        events[4],
    ]
    blocks = ToolCallOrder(blocks=True).feed(events)
    assert blocks == [
        events[0],
        ToolCallDelta(0, "a", "f", '{"q":'),
        ToolCallDelta(0, arguments='"x"}'),
        events[2],  # waited until the call's arguments were whole
        events[4],
    ]


def test_reasoning_after_a_whole_call_closes_it_at_once() -> None:
    order = ToolCallOrder(blocks=True)
    order.feed([ToolCallDelta(0, "a", "f", "{}")])
    assert order.feed([ReasoningDelta("hm")]) == [ReasoningDelta("hm")]
    with pytest.raises(UpstreamProtocol, match="tool call 0 went on"):
        order.feed([ToolCallDelta(0, arguments='{"more":1}')])
    assert order.feed([ToolCallDelta(0, arguments="\n")]) == []  # blanks change nothing


def test_a_call_never_named_goes_out_at_the_end_as_the_answer_has_it() -> None:
    order = ToolCallOrder()
    assert order.feed([ToolCallDelta(0, "a", None, '{"q":1}')]) == []
    assert fragments(order.end()) == [(0, "a", "", '{"q":1}')]


@pytest.mark.parametrize(
    ("pieces", "complete"),
    [
        (['{"a":', "1}"], True),
        (['{"a":"}', '"'], False),  # a brace inside a string closes nothing
        (['{"a":"\\', '"}"'], False),  # the escaped quote comes in the next piece
        (['{"a":"\\', '""}'], True),
        (['{"a":[1,', "{}]}"], True),
        (["  "], False),
        (['"text"'], False),  # no object or array: whole only when the stream ends
        (['{"a":"\\\\', '"}'], True),  # an escaped backslash escapes nothing after it
    ],
)
def test_json_end_follows_nesting_across_pieces(pieces: list[str], complete: bool) -> None:
    shape = JsonEnd()
    for piece in pieces:
        shape.feed(piece)
    assert shape.complete is complete


# --- through the real daemon ---------------------------------------------------------------------

ASKED = "the weather and the local time in Paris, please"
SCHEMAS = {
    "get_weather": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "get_time": {
        "type": "object",
        "properties": {"zone": {"type": "string"}},
        "required": ["zone"],
        "additionalProperties": False,
    },
}
ANTHROPIC_TOOLS: list[ToolParam] = [
    {"name": name, "description": f"{name} tool", "input_schema": schema}
    for name, schema in SCHEMAS.items()
]
# strict: the SDK's stream helper parses each call's arguments when it thinks the call is done.
OPENAI_TOOLS: list[ChatCompletionFunctionToolParam] = [
    {"type": "function", "function": {"name": name, "parameters": schema, "strict": True}}
    for name, schema in SCHEMAS.items()
]
CHAT_TOOLS = [{"name": name, "parameters": schema} for name, schema in SCHEMAS.items()]
# The four contract cases, as the fake streams them. The id case names the call only after its
# arguments began, interleaved: the id comes on a fragment the daemon must hold, and only there.
CASES = {
    "interleaved": "+interleave",
    "name_after_arguments": "+late_name",
    "id_on_the_first_fragment_only": "+interleave+late_name",
    "empty_arguments": "+no_args",
}
_scenarios = itertools.count()


@dataclass(frozen=True)
class Seen:
    """One tool call as a client saw it."""

    id: str
    name: str
    arguments: dict[str, Any]


def expected(case: str) -> list[tuple[str, dict[str, Any]]]:
    if case == "empty_arguments":
        return [("get_weather", {}), ("get_time", {})]
    return [("get_weather", {"city": ASKED}), ("get_time", {"zone": ASKED})]


def fake_model(flags: str) -> str:
    return f"gpt-fake+tools{flags}+scenario=order-{next(_scenarios)}"


def contiguous(indexes: list[int]) -> bool:
    """Each index forms one run (no interleaving), and runs go 0, 1, 2, ..."""
    runs = [index for index, _ in itertools.groupby(indexes)]
    return runs == list(range(len(runs)))


def assert_the_fakes_calls(seen: list[Seen], case: str) -> None:
    assert [(call.name, call.arguments) for call in seen] == expected(case)
    # The fake's own ids (call_ and 24 characters), not ones the daemon made up for lost ones.
    assert all(call.id.startswith("call_") and len(call.id) == 29 for call in seen)
    assert len({call.id for call in seen}) == len(seen)


@pytest.fixture(scope="module")
def daemon(chat_daemon: DaemonProcess) -> DaemonProcess:
    return chat_daemon


def anthropic_client(daemon: DaemonProcess) -> anthropic.Anthropic:
    transport = httpx2.HTTPTransport(uds=str(daemon.socket))
    return anthropic.Anthropic(
        base_url="http://switchboard",
        api_key="unused",
        max_retries=0,
        http_client=httpx2.Client(transport=transport),
    )


def openai_client(daemon: DaemonProcess) -> openai.OpenAI:
    transport = httpx2.HTTPTransport(uds=str(daemon.socket))
    return openai.OpenAI(
        base_url="http://switchboard/v1",
        api_key="unused",
        max_retries=0,
        http_client=httpx2.Client(transport=transport),
    )


def through_messages(daemon: DaemonProcess, flags: str) -> list[Seen]:
    """The anthropic SDK streaming through /v1/messages: one tool_use block per call."""
    with (
        anthropic_client(daemon) as client,
        client.messages.stream(
            model=f"openai/{fake_model(flags)}",
            max_tokens=200,
            messages=[{"role": "user", "content": ASKED}],
            tools=ANTHROPIC_TOOLS,
        ) as stream,
    ):
        starts = [e.index for e in stream if e.type == "content_block_start"]
        final = stream.get_final_message()
    assert starts == list(range(len(final.content)))
    assert final.stop_reason == "tool_use"
    blocks = [cast(ToolUseBlock, block) for block in final.content]
    assert {block.type for block in blocks} == {"tool_use"}
    return [Seen(b.id, b.name, cast(dict[str, Any], b.input)) for b in blocks]


def through_completions(daemon: DaemonProcess, flags: str) -> list[Seen]:
    """The openai SDK's stream helper through /v1/chat/completions: each call's arguments are
    done (and parsed, the tools being strict) before the next call's begin."""
    with (
        openai_client(daemon) as client,
        client.chat.completions.stream(
            model=f"openai/{fake_model(flags)}",
            messages=[{"role": "user", "content": ASKED}],
            tools=OPENAI_TOOLS,
        ) as stream,
    ):
        done = [
            (e.index, e.name, e.parsed_arguments)
            for e in stream
            if e.type == "tool_calls.function.arguments.done"
        ]
        final = stream.get_final_completion()
    [choice] = final.choices
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    seen = [
        Seen(c.id, c.function.name, orjson.loads(c.function.arguments))
        for c in calls
        if c.type == "function"
    ]
    assert done == [(i, call.name, call.arguments) for i, call in enumerate(seen)]
    return seen


def completion_chunks(daemon: DaemonProcess, flags: str) -> list[dict[str, Any]]:
    """The raw ``tool_calls`` entries of a streamed completion, in order."""
    with openai_client(daemon) as client:
        stream = client.chat.completions.create(
            model=f"openai/{fake_model(flags)}",
            messages=[{"role": "user", "content": ASKED}],
            tools=OPENAI_TOOLS,
            stream=True,
        )
        return [
            call.model_dump(exclude_none=True)
            for chunk in stream
            for choice in chunk.choices
            for call in choice.delta.tool_calls or ()
        ]


async def through_deltas(daemon: DaemonProcess, flags: str) -> list[Seen]:
    """chat.delta over a WebSocket: each call's deltas together, its first with id and name;
    they add up to the calls of the answer."""
    params = {
        "provider": "openai",
        "model": fake_model(flags),
        "messages": [{"role": "user", "content": ASKED}],
        "tools": CHAT_TOOLS,
        "stream": True,
    }
    async with websocket(daemon) as rpc:
        call = await rpc.send("chat.send", params)
        answer = await rpc.answer(call)
        deltas = rpc.deltas.get(call, [])
    assert "result" in answer, answer
    assert {d["type"] for d in deltas} == {"toolCall"}
    assert contiguous([d["index"] for d in deltas])
    seen: list[Seen] = []
    for _, run in itertools.groupby(deltas, key=lambda d: d["index"]):
        first, *rest = list(run)
        assert all("name" not in d and "id" not in d for d in rest), rest
        joined = first["arguments"] + "".join(d["arguments"] for d in rest)
        seen.append(Seen(first["id"], first["name"], orjson.loads(joined)))
    answered = answer["result"]["message"]["toolCalls"]
    assert [Seen(c["id"], c["name"], c["arguments"]) for c in answered] == seen
    return seen


Output = Callable[[DaemonProcess, str], list[Seen]]
SYNC_OUTPUTS: dict[str, Output] = {"messages": through_messages, "completions": through_completions}


def test_the_anthropic_sdk_streams_two_interleaved_tool_calls_from_an_openai_provider(
    daemon: DaemonProcess,
) -> None:
    # The report's case: index 0, 0, 1, 0, 1, ... broke the stream with an api_error.
    seen = through_messages(daemon, "+interleave")
    assert [(call.name, call.arguments) for call in seen] == [
        ("get_weather", {"city": ASKED}),
        ("get_time", {"zone": ASKED}),
    ]


@pytest.mark.parametrize("output", list(SYNC_OUTPUTS))
@pytest.mark.parametrize("case", list(CASES))
def test_every_sdk_gets_both_calls_whole(daemon: DaemonProcess, output: str, case: str) -> None:
    assert_the_fakes_calls(SYNC_OUTPUTS[output](daemon, CASES[case]), case)


@pytest.mark.parametrize("case", list(CASES))
async def test_chat_deltas_carry_both_calls_one_after_the_other(
    daemon: DaemonProcess, case: str
) -> None:
    assert_the_fakes_calls(await through_deltas(daemon, CASES[case]), case)


@pytest.mark.parametrize("case", list(CASES))
def test_completion_chunks_name_each_call_first_and_keep_it_together(
    daemon: DaemonProcess, case: str
) -> None:
    entries = completion_chunks(daemon, CASES[case])
    assert contiguous([entry["index"] for entry in entries])
    firsts = [next(e for e in entries if e["index"] == i) for i in (0, 1)]
    for first in firsts:
        assert first["type"] == "function"
        assert first["id"].startswith("call_")
        assert first["function"]["name"] in SCHEMAS
    later = [e for e in entries if e not in firsts]
    assert all(
        set(e) == {"index", "function"} and set(e["function"]) == {"arguments"} for e in later
    )


# --- an upstream that ends in the middle of a call -----------------------------------------------

TRUNCATED = "+interleave+fault=truncated"


@pytest.fixture
def raw(daemon: DaemonProcess) -> Iterator[httpx2.Client]:
    transport = httpx2.HTTPTransport(uds=str(daemon.socket))
    with httpx2.Client(base_url="http://switchboard", transport=transport) as client:
        yield client


def test_a_stream_cut_mid_call_ends_in_an_error_event_on_v1_messages(raw: httpx2.Client) -> None:
    body = {
        "model": f"openai/{fake_model(TRUNCATED)}",
        "max_tokens": 200,
        "stream": True,
        "messages": [{"role": "user", "content": ASKED}],
        "tools": ANTHROPIC_TOOLS,
    }
    response = raw.post("/v1/messages", json=body)
    assert response.status_code == 200
    events = sse_events(response.content)
    assert ("content_block_start", "tool_use") in [
        (name, data.get("content_block", {}).get("type")) for name, data in events
    ]
    assert events[-1] == (
        "error",
        {
            "type": "error",
            "error": {
                "type": "api_error",
                "message": "the stream ended before the answer was complete",
            },
        },
    )
    assert "message_stop" not in [name for name, _ in events]


def test_a_stream_cut_mid_call_ends_in_an_error_chunk_on_chat_completions(
    raw: httpx2.Client, daemon: DaemonProcess
) -> None:
    body = {
        "model": f"openai/{fake_model(TRUNCATED)}",
        "stream": True,
        "messages": [{"role": "user", "content": ASKED}],
        "tools": OPENAI_TOOLS,
    }
    response = raw.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    payloads = [data for _, data in sse_events(response.content)]
    assert any(p["choices"][0]["delta"].get("tool_calls") for p in payloads[:-1])
    assert payloads[-1]["error"]["code"] == "UpstreamUnavailable"
    assert "[DONE]" not in payloads
    with openai_client(daemon) as client, pytest.raises(openai.APIError) as caught:
        with client.chat.completions.stream(
            model=f"openai/{fake_model(TRUNCATED)}",
            messages=[{"role": "user", "content": ASKED}],
            tools=OPENAI_TOOLS,
        ) as stream:
            stream.until_done()
    assert "ended before the answer was complete" in caught.value.message


async def test_a_stream_cut_mid_call_fails_chat_send_after_its_deltas(
    daemon: DaemonProcess,
) -> None:
    params = {
        "provider": "openai",
        "model": fake_model(TRUNCATED),
        "messages": [{"role": "user", "content": ASKED}],
        "tools": CHAT_TOOLS,
        "stream": True,
    }
    async with websocket(daemon) as rpc:
        call = await rpc.send("chat.send", params)
        answer = await rpc.answer(call)
        assert rpc.deltas.get(call), "the call had begun before the stream ended"
        error = answer["error"]
        assert (error["code"], error["data"]["provider"]) == (UpstreamUnavailable.code, "openai")
        assert error["data"]["detail"] == "the stream ended before the answer was complete"
        await still_serving(rpc)


async def still_serving(rpc: Rpc) -> None:
    params = {"provider": "openai", "model": fake_model("+interleave"), "tools": CHAT_TOOLS}
    params["messages"] = [{"role": "user", "content": ASKED}]
    result = (await rpc.call("chat.send", params))["result"]
    assert [call["name"] for call in result["message"]["toolCalls"]] == list(SCHEMAS)
