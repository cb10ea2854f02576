"""Amazon Bedrock Converse (``/model/{id}/converse`` and ``/converse-stream``).

Streams are AWS event-stream frames (prelude, CRC32s, string headers ``:event-type``,
``:content-type``, ``:message-type``), each JSON payload padded with ``p`` as in
``wire/bedrock_converse``: ``messageStart``, ``contentBlockStart`` (tool use),
``contentBlockDelta`` (text, ``toolUse.input`` JSON, ``reasoningContent`` text and
signature), ``contentBlockStop``, ``messageStop``, ``metadata`` (usage). A failure mid-stream is
an exception frame (``modelStreamErrorException``); error answers are ``{"message": ...}``.
The fake checks roles alternate, ``toolResult`` blocks answer ``toolUse`` blocks of the turn
before, and the model in the path is the one asked for.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

from daemon.providers.model import ApiFamily
from tests.fakes.families.script import RequestRejected, Script, ToolResult, Turn
from tests.fakes.families.wire import JSON, Request, Wire, bearer_is, dumps

PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
SIGNATURE = "Eu0CCkgIBxABGAIqQJDc"
# What Bedrock passes on from Claude when a tool loop with thinking drops the signed thinking.
UNSIGNED_THINKING = (
    "The model returned the following errors: messages.1.content.0.type: Expected `thinking` or "
    "`redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` "
    "message must start with a thinking block."
)


def _header(name: str, value: str) -> bytes:
    raw = value.encode()
    string_type = b"\x07"
    return bytes([len(name)]) + name.encode() + string_type + struct.pack(">H", len(raw)) + raw


def frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude and its CRC, string headers, payload, message CRC."""
    encoded = b"".join(_header(name, value) for name, value in headers.items())
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(event_type: str, body: Mapping[str, Any]) -> bytes:
    """The frame of one event (``messageStart``, ``contentBlockDelta``, ...), as AWS orders it."""
    headers = {":event-type": event_type, ":content-type": "application/json"}
    return frame({**headers, ":message-type": "event"}, dumps(dict(body)))


def exception_frame(exception_type: str, message: str) -> bytes:
    """The frame of a mid-stream exception (``throttlingException``, ...)."""
    headers = {":exception-type": exception_type, ":content-type": "application/json"}
    return frame({**headers, ":message-type": "exception"}, dumps({"message": message}))


def decode_frames(body: bytes) -> list[Any]:
    """Each frame's payload keyed by its event (or exception) type, for the shape check."""
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    buffer.add_data(body)
    decoded = []
    for message in buffer:
        kind = message.headers.get(":event-type") or message.headers.get(":exception-type")
        decoded.append({kind: json.loads(message.payload)})
    return decoded


def _event(kind: str, fields: JSON, padding: int) -> bytes:
    return event_frame(kind, {**fields, "p": PADDING[: 1 + padding % len(PADDING)]})


def _text(content: list[JSON]) -> str:
    return "".join(block.get("text", "") for block in content)


def _is_image(block: JSON) -> bool:
    """An ``image`` block with a format and base64 bytes (Bedrock takes no URLs)."""
    image = block.get("image") or {}
    return bool(image.get("format") and (image.get("source") or {}).get("bytes"))


def _signed_first(blocks: list[JSON]) -> bool:
    reasoning = (blocks[0] if blocks else {}).get("reasoningContent") or {}
    return bool((reasoning.get("reasoningText") or {}).get("signature") == SIGNATURE)


def _read(request: Request) -> Turn:
    model, _, operation = request.path_params["call"].partition("/")
    messages: list[JSON] = request.body["messages"]
    roles = [m["role"] for m in messages]
    if roles[:1] != ["user"] or any(a == b for a, b in zip(roles, roles[1:], strict=False)):
        raise RequestRejected("A conversation must alternate between user and assistant roles.")
    last = messages[-1]["content"]
    results = [
        ToolResult(b["toolResult"]["toolUseId"], _text(b["toolResult"]["content"]))
        for b in last
        if "toolResult" in b
    ]
    previous = messages[-2]["content"] if len(messages) > 1 else []
    thinking = (request.body.get("additionalModelRequestFields") or {}).get("thinking")
    if thinking and any("toolUse" in b for b in previous) and not _signed_first(previous):
        raise RequestRejected(UNSIGNED_THINKING)
    tools = (request.body.get("toolConfig") or {}).get("tools") or []
    return Turn(
        model=model,
        stream=operation == "converse-stream",
        user_text=_text([b for b in last if "text" in b]),
        images=sum(1 for b in last if _is_image(b)),
        stop=(request.body.get("inferenceConfig") or {}).get("stopSequences") or [],
        tool_names=[tool["toolSpec"]["name"] for tool in tools],
        tool_results=results,
        earlier_call_ids=[b["toolUse"]["toolUseId"] for b in previous if "toolUse" in b],
        system=_text(request.body.get("system") or []),
    )


def _call_id(turn: Turn, index: int) -> str:
    digest = hashlib.sha256(f"{turn.model}{turn.user_text}{index}".encode()).hexdigest()
    return f"tooluse_{digest[:22]}"


def _usage(script: Script) -> JSON:
    total = script.input_tokens + script.output_tokens
    return {
        "inputTokens": script.input_tokens,
        "outputTokens": script.output_tokens,
        "totalTokens": total,
    }


def _stop_reason(script: Script) -> str:
    return "tool_use" if script.calls else "end_turn"


def _json_body(script: Script, turn: Turn) -> bytes:
    content: list[JSON] = []
    if script.reasoning:
        text = {"text": "".join(script.reasoning), "signature": SIGNATURE}
        content.append({"reasoningContent": {"reasoningText": text}})
    if script.text:
        content.append({"text": script.whole_text()})
    for index, call in enumerate(script.calls):
        tool_use = {"input": call.arguments, "name": call.name, "toolUseId": _call_id(turn, index)}
        content.append({"toolUse": tool_use})
    return dumps(
        {
            "metrics": {"latencyMs": 120},
            "output": {"message": {"content": content, "role": "assistant"}},
            "stopReason": _stop_reason(script),
            "usage": _usage(script),
        }
    )


def _block_frames(script: Script, turn: Turn) -> list[tuple[str, JSON]]:
    events: list[tuple[str, JSON]] = []
    if script.reasoning:
        for piece in script.reasoning:
            events.append(("contentBlockDelta", {"delta": {"reasoningContent": {"text": piece}}}))
        signed = {"delta": {"reasoningContent": {"signature": SIGNATURE}}}
        events += [("contentBlockDelta", signed), ("contentBlockStop", {})]
    for piece in script.text:
        events.append(("contentBlockDelta", {"delta": {"text": piece}}))
    if script.text:
        events.append(("contentBlockStop", {}))
    for ordinal, call in enumerate(script.calls):
        start = {"toolUse": {"name": call.name, "toolUseId": _call_id(turn, ordinal)}}
        delta = {"toolUse": {"input": json.dumps(call.arguments)}}
        events += [("contentBlockStart", {"start": start}), ("contentBlockDelta", {"delta": delta})]
        events.append(("contentBlockStop", {}))
    return _numbered(events)


def _numbered(events: list[tuple[str, JSON]]) -> list[tuple[str, JSON]]:
    """Give each event its ``contentBlockIndex``: a new block after each stop."""
    block, numbered = 0, []
    for kind, fields in events:
        numbered.append((kind, {"contentBlockIndex": block, **fields}))
        block += kind == "contentBlockStop"
    return numbered


def _stream_frames(script: Script, turn: Turn) -> list[bytes]:
    events = [("messageStart", {"role": "assistant"}), *_block_frames(script, turn)]
    events.append(("messageStop", {"stopReason": _stop_reason(script)}))
    events.append(("metadata", {"metrics": {"latencyMs": 120}, "usage": _usage(script)}))
    return [_event(kind, fields, n * 7) for n, (kind, fields) in enumerate(events)]


def _stream_error(message: str) -> bytes:
    return exception_frame("modelStreamErrorException", message)


def _error_body(status: int, message: str) -> bytes:
    return dumps({"message": message})


def _authorized(headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
    return bearer_is(headers, key)  # a Bedrock API key; SigV4 is checked by the adapter's tests


WIRE = Wire(
    family=ApiFamily.BEDROCK_CONVERSE,
    provider="amazon-bedrock",
    mount="/bedrock",
    base_path="",
    routes=(("POST", "/model/{call:.+}"),),
    authorized=_authorized,
    read=_read,
    json_body=_json_body,
    stream_frames=_stream_frames,
    error_body=_error_body,
    stream_content_type="application/vnd.amazon.eventstream",
    stream_error=_stream_error,
    recordings="bedrock_converse",
    model="anthropic.claude-fake-v1:0",
    image_urls=False,  # a Claude id: the adapter then asks for thinking
    decode_frames=decode_frames,
    corrupt=lambda frame: frame[:-1] + bytes([frame[-1] ^ 0xFF]),  # a wrong message CRC
    free_form=("output.message.content[].toolUse.input",),
    # The recordings' whole answers have no reasoning; Bedrock documents
    # reasoningContent.reasoningText {text, signature} there, the stream's fields.
    unrecorded=frozenset(
        {
            "output.message.content[].reasoningContent",
            "output.message.content[].reasoningContent.reasoningText",
            "output.message.content[].reasoningContent.reasoningText.text",
            "output.message.content[].reasoningContent.reasoningText.signature",
        }
    ),
)
