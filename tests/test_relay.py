"""The relay of a same-wire stream, read by read: ordinary events go on byte for byte, the
model is renamed where an event names it, the end and errors are read, garbage is an error."""

from __future__ import annotations

import orjson
import pytest

from daemon.adapters.relay import CHAT_STREAM, MESSAGES_STREAM, Relay, StreamForm
from daemon.errors import UpstreamProtocol, UpstreamUnavailable

ASKED = "anthropic/claude-x"


def event(kind: str, **data: object) -> bytes:
    return f"event: {kind}\n".encode() + b"data: " + orjson.dumps({"type": kind, **data}) + b"\n\n"


def chunk(text: str, finish: str | None = None, model: str = "gpt-x-2024") -> bytes:
    choice = {"index": 0, "delta": {"content": text}, "finish_reason": finish}
    body = {"id": "c1", "object": "chat.completion.chunk", "model": model, "choices": [choice]}
    return b"data: " + orjson.dumps(body) + b"\n\n"


START = event("message_start", message={"id": "m1", "model": "claude-x", "content": []})
DELTA = event("content_block_delta", index=0, delta={"type": "text_delta", "text": "Hi"})
STOP = event("message_stop")


def test_ordinary_events_go_on_as_they_came_and_the_model_is_renamed_where_named() -> None:
    relay = Relay(MESSAGES_STREAM, ASKED)
    out = b"".join(relay.frames([START + DELTA]) + relay.frames([DELTA + STOP]))
    started = orjson.loads(out.split(b"\n\n")[0].split(b"data: ")[1])
    assert started["message"]["model"] == ASKED
    assert out.count(DELTA) == 2  # byte for byte
    assert out.endswith(STOP)
    assert relay.done


def test_an_event_cut_between_reads_goes_on_once_it_is_whole() -> None:
    relay = Relay(MESSAGES_STREAM, ASKED)
    relay.frames([START])
    assert relay.frames([DELTA[:20]]) == []
    assert b"".join(relay.frames([DELTA[20:]])) == DELTA


def test_a_chat_chunk_cut_anywhere_goes_on_whole_once_it_is_whole() -> None:
    relay = Relay(CHAT_STREAM, "openai/gpt-x")
    renamed = [c.replace(b"gpt-x-2024", b"openai/gpt-x") for c in (chunk("a"), chunk("b"))]
    assert relay.frames([chunk("a")]) == renamed[:1]
    for cut in (1, 7, len(chunk("b")) - 1):
        assert relay.frames([chunk("b")[:cut]]) == []
        assert relay.frames([chunk("b")[cut:]]) == renamed[1:]


def test_a_stream_with_cr_line_ends_is_read_exactly() -> None:
    relay = Relay(MESSAGES_STREAM, ASKED)
    crlf = (START + DELTA + STOP).replace(b"\n", b"\r\n")
    out = b"".join(relay.frames([crlf[:50]]) + relay.frames([crlf[50:]]))
    assert out.count(b"event: ") == 3
    assert ASKED.encode() in out
    assert relay.done


def test_chat_chunks_are_renamed_each_and_nothing_after_done_goes_on() -> None:
    relay = Relay(CHAT_STREAM, "openai/gpt-x")
    reads = [chunk("a") + chunk("b"), chunk("c", "stop") + b"data: [DONE]\n\n" + chunk("late")]
    out = b"".join(relay.frames([reads[0]]) + relay.frames([reads[1]]))
    assert out.count(b'"model":"openai/gpt-x"') == 3
    assert b"gpt-x-2024" not in out
    assert out.endswith(b"data: [DONE]\n\n")
    assert relay.done


def test_a_chat_stream_closed_after_its_finish_reason_is_complete_without_done() -> None:
    relay = Relay(CHAT_STREAM, "openai/gpt-x")
    relay.frames([chunk("a")])
    relay.frames([chunk("b")])
    before = relay.complete
    relay.frames([chunk("", "stop")])  # passed on unread: the relay looks at it at the end
    assert (before, relay.complete, relay.done) == (False, True, False)


def test_garbage_after_good_events_waits_until_they_went_out() -> None:
    relay = Relay(MESSAGES_STREAM, ASKED)
    out = relay.frames([START + DELTA + b'event: content_block_delta\ndata: {"ty\n\n'])
    assert b"".join(out).endswith(DELTA)
    assert isinstance(relay.failure, UpstreamProtocol)


def test_an_error_event_first_is_the_providers_typed_error() -> None:
    error = event("error", error={"type": "overloaded_error", "message": "Overloaded"})
    with pytest.raises(UpstreamUnavailable) as raised:
        Relay(MESSAGES_STREAM, ASKED).frames([error])
    assert raised.value.detail == "Overloaded"


def test_a_chat_chunk_that_does_not_name_the_model_is_read_and_still_named_as_asked() -> None:
    relay = Relay(CHAT_STREAM, "openai/gpt-x")
    unnamed = b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"b"}}]}\n\n'
    out = b"".join(relay.frames([chunk("a") + unnamed + chunk("c", "stop")]))
    texts = [orjson.loads(line[6:]) for line in out.split(b"\n\n") if line]
    assert [t["choices"][0]["delta"]["content"] for t in texts] == ["a", "b", "c"]
    assert [t.get("model") for t in texts] == ["openai/gpt-x", None, "openai/gpt-x"]
    assert relay.complete


def test_an_error_chunk_amid_good_chunks_waits_until_they_went_out() -> None:
    relay = Relay(CHAT_STREAM, "openai/gpt-x")
    error = b'data: {"error":{"message":"Overloaded","type":"server_error"}}\n\n'
    out = b"".join(relay.frames([chunk("a") + chunk("b") + error + chunk("late")]))
    assert out.count(b'"model":"openai/gpt-x"') == 2
    assert b"late" not in out
    assert isinstance(relay.failure, UpstreamUnavailable)


def test_comments_and_id_lines_are_read_and_every_event_still_goes_on() -> None:
    relay = Relay(MESSAGES_STREAM, ASKED)
    odd = b": keep-alive\n\nid: 7\n" + DELTA
    out = b"".join(relay.frames([START + odd + STOP]))
    assert out.count(b"event: ") == 3
    assert out.count(DELTA) == 1
    assert ASKED.encode() in out
    assert relay.done


def test_event_types_that_share_a_prefix_are_told_apart() -> None:
    form = StreamForm(
        named=True,
        holder="message",
        ends=frozenset({"stop"}),
        named_model=frozenset({"st", "start"}),
    )
    relay = Relay(form, ASKED)
    start = event("start", message={"model": "claude-x"})
    ordinary = event("sta", text="x") + event("starts", text="y")
    out = b"".join(relay.frames([start + event("st", message={"model": "claude-x"}) + ordinary]))
    assert out.count(ASKED.encode()) == 2  # both types that name the model were renamed
    assert out.endswith(ordinary)  # the near-misses went on as they came
    assert not relay.done
    assert b"".join(relay.frames([event("stop")])) == event("stop")
    assert relay.done
