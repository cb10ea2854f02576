"""The ``bedrock-converse`` family: Amazon Bedrock's Converse API, JSON or binary event stream.

``POST {base}/model/{modelId}/converse`` answers one JSON message; ``/converse-stream`` answers
``application/vnd.amazon.eventstream`` frames, one JSON event each. System messages move to
``system``; tool results become ``toolResult`` blocks of a user turn; neighbouring turns of one
role merge, as Converse wants roles to alternate. A Bedrock API key (``target.key``) is sent as
a bearer token; without one the request is signed with SigV4 from the AWS credential chain.
botocore (the ``bedrock`` extra) signs, finds credentials and reads frames; it is imported on
first use, so a daemon without it starts and fails only Bedrock calls, with the fix.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncGenerator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import orjson

from daemon.adapters import aws, common
from daemon.adapters.aws import AwsKeys, Frame
from daemon.adapters.types import (
    THINKING_BUDGET,
    ChatCall,
    Event,
    Finish,
    FinishReason,
    HttpRequest,
    ReasoningDelta,
    Target,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
    empty_usage,
)
from daemon.errors import RequestInvalid, Unsupported, UpstreamAuthFailed, UpstreamProtocol
from daemon.providers.catalog import CLAUDE_MODEL_MARKER

EVENTSTREAM = "application/vnd.amazon.eventstream"
SERVICE = "bedrock"  # the SigV4 signing name of bedrock-runtime
DEFAULT_REGION = "us-east-1"
DEFAULT_MAX_TOKENS = 4096
CREDENTIAL_HINT = (
    "set AWS_BEARER_TOKEN_BEDROCK (a Bedrock API key), or AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary keys), or AWS_PROFILE"
)
# bedrock-runtime[-fips].<region>.amazonaws.com[.cn], or a VPC endpoint's ...<region>.vpce...
_REGION_HOST = re.compile(r"bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.(vpce\.)?amazonaws\.com")
_IMAGE_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "gif": "gif", "webp": "webp"}
_FINISH: Mapping[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


# --- the request -------------------------------------------------------------------------


def build_request(target: Target, call: ChatCall, keys: AwsKeys | None = None) -> HttpRequest:
    """The request for ``call``: bearer with ``target.key``, else SigV4-signed with ``keys``
    (with neither it goes unsigned, for tests and fakes).

    The model id is percent-encoded (``:`` as ``%3A``, as AWS SDKs send it); the URL must go
    out as it is (``exact_url``), since the signature covers it.
    """
    base_url, region = endpoint(target)
    action = "converse-stream" if call.stream else "converse"
    url = f"{base_url}/model/{quote(target.model, safe='')}/{action}"
    headers = common.headers(target, accept=EVENTSTREAM if call.stream else "application/json")
    body = orjson.dumps(converse_body(target.model, call))
    if keys is not None and not target.key:  # no Bedrock API key: sign with AWS credentials
        headers = aws.sign(HttpRequest("POST", url, headers, body), keys, SERVICE, region)
    return HttpRequest("POST", url, headers, body)


def converse_body(model: str, call: ChatCall) -> dict[str, Any]:
    """The Converse request body (the same for ``converse`` and ``converse-stream``)."""
    system = common.system_texts(call)
    turns = [m for m in call.messages if m["role"] != "system"]
    body: dict[str, Any] = {"messages": common.merged_turns(turns, _blocks)}
    if any(system):
        body["system"] = [{"text": text} for text in system if text]
    config: dict[str, Any] = {}
    if call.max_tokens is not None:
        config["maxTokens"] = call.max_tokens
    if call.stop:
        config["stopSequences"] = list(call.stop)
    if call.temperature is not None:
        config["temperature"] = call.temperature
    # Claude takes a thinking budget; other models reason (or not) on their own.
    if call.reasoning is not None and CLAUDE_MODEL_MARKER in model.lower():
        budget = THINKING_BUDGET[call.reasoning]
        thinking = {"type": "enabled", "budget_tokens": budget}
        body["additionalModelRequestFields"] = {"thinking": thinking}
        config["maxTokens"] = max(config.get("maxTokens", 0), budget + DEFAULT_MAX_TOKENS)
        config.pop("temperature", None)  # thinking requires the default temperature
    if config:
        body["inferenceConfig"] = config
    tools = _tool_config(call)
    if tools is not None:
        body["toolConfig"] = tools
    return body


def _tool_config(call: ChatCall) -> dict[str, Any] | None:
    choice = call.tool_choice
    history = any(m["role"] == "tool" or m.get("toolCalls") for m in call.messages)
    # Converse has no "none" choice: leave tools out, unless earlier turns used them (then
    # Bedrock wants them declared, and the model may call again).
    if not call.tools or (choice == "none" and not history):
        return None
    config: dict[str, Any] = {"tools": [{"toolSpec": _tool_spec(t)} for t in call.tools]}
    if isinstance(choice, dict):
        config["toolChoice"] = {"tool": {"name": choice["name"]}}
    elif choice in ("auto", "required"):
        config["toolChoice"] = {"auto": {}} if choice == "auto" else {"any": {}}
    return config


def _tool_spec(tool: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        spec["description"] = tool["description"]
    spec["inputSchema"] = {"json": tool.get("parameters") or {"type": "object"}}
    return spec


def _image(part: Mapping[str, Any]) -> dict[str, Any]:
    data, mime = part.get("data"), part.get("mimeType") or "image/png"
    if not data:  # a data: URL carries the bytes; any other URL Bedrock cannot fetch
        head, _, data = str(part.get("url", "")).partition(",")
        if not (head.startswith("data:image/") and head.endswith(";base64") and data):
            raise RequestInvalid(
                "Amazon Bedrock takes images as bytes, not URLs: send the image's base64 data",
                field="messages",
            )
        mime = head[5:-7]
    kind = _IMAGE_FORMATS.get(mime.lower().removeprefix("image/"))
    if kind is None:
        raise Unsupported(
            f"Amazon Bedrock takes png, jpeg, gif or webp images, not {mime}", field="messages"
        )
    return {"image": {"format": kind, "source": {"bytes": data}}}


def _blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content", "")
    if message["role"] == "tool":
        text = common.text_of(content)
        result = {"toolUseId": message["toolCallId"], "content": [{"text": text}]}
        return [{"toolResult": {**result, "status": "success"}}]
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
    blocks = [
        {"text": p["text"]} if p["type"] == "text" else _image(p)
        for p in parts
        if p["type"] != "text" or p["text"]  # blank text blocks are refused
    ]
    if message.get("reasoningSignature"):
        # With thinking on, Claude wants the turn's signed reasoning back before its tool
        # calls; unsigned reasoning (another family's) cannot be sent as reasoning at all.
        thought = {"text": message.get("reasoning", ""), "signature": message["reasoningSignature"]}
        blocks.insert(0, {"reasoningContent": {"reasoningText": thought}})
    for call in message.get("toolCalls") or ():
        use = {"toolUseId": call["id"], "name": call["name"], "input": call["arguments"]}
        blocks.append({"toolUse": use})
    return blocks


def endpoint(target: Target) -> tuple[str, str]:
    """The base URL and SigV4 region of ``target``.

    The ``region`` option wins, and moves a standard regional host (the catalog's is
    us-east-1) to that region, as the signature must name the host's region; else the host's
    region (VPC endpoints included); else us-east-1.
    """
    host = urlsplit(target.base_url).hostname or ""
    found = _REGION_HOST.search(host)
    region = target.options.get("region") or (found.group(1) if found else DEFAULT_REGION)
    if found and found.start() == 0 and not found.group(2) and found.group(1) != region:
        moved = host[: found.start(1)] + region + host[found.end(1) :]
        return target.base_url.replace(host, moved, 1), region
    return target.base_url, region


# --- the answer --------------------------------------------------------------------------


def finish_reason(stop_reason: Any) -> FinishReason:
    """The normalized finish reason of a Converse ``stopReason``."""
    return _FINISH.get(str(stop_reason), "stop")


def parse_usage(raw: Mapping[str, Any]) -> Usage:
    """Converse usage counts (``inputTokens``, ``cacheReadInputTokens``, ...), normalized."""
    usage = empty_usage()
    usage["inputTokens"] = int(raw.get("inputTokens") or 0)
    usage["outputTokens"] = int(raw.get("outputTokens") or 0)
    usage["cacheReadTokens"] = int(raw.get("cacheReadInputTokens") or 0)
    usage["cacheWriteTokens"] = int(raw.get("cacheWriteInputTokens") or 0)
    return usage


class StreamParser:
    """Turns ConverseStream bytes into events; ``done`` once the closing ``metadata`` came."""

    def __init__(self) -> None:
        self.frames = aws.FrameReader()
        self.tools: dict[int, int] = {}  # content block index -> tool call ordinal
        self.done = False

    def feed(self, data: bytes) -> list[Event]:
        """The events of the frames ``data`` completes."""
        return [event for frame in self.frames.feed(data) for event in self._events(frame)]

    def _events(self, frame: Frame) -> list[Event]:
        message_type = frame.headers.get(":message-type")
        if message_type in ("exception", "error"):
            raise aws.frame_error(frame)
        if message_type != "event":
            raise UpstreamProtocol("an event stream frame of no known type")
        kind = frame.headers.get(":event-type")
        body = common.json_object(frame.payload)
        if kind == "contentBlockStart":
            use = (body.get("start") or {}).get("toolUse")
            if not isinstance(use, dict):
                return []
            ordinal = self.tools.setdefault(_block_index(body), len(self.tools))
            return [ToolCallDelta(ordinal, use.get("toolUseId"), use.get("name"))]
        if kind == "contentBlockDelta":
            return self._delta(body)
        if kind == "messageStop":
            return [Finish(finish_reason(body.get("stopReason")))]
        if kind == "metadata":
            self.done = True
            return [UsageEvent(parse_usage(body.get("usage") or {}))]
        return []  # messageStart, contentBlockStop, and event types added later

    def _delta(self, body: Mapping[str, Any]) -> list[Event]:
        delta = body.get("delta") or {}
        if "text" in delta:
            return [TextDelta(str(delta["text"]))]
        if isinstance(delta.get("toolUse"), dict):
            ordinal = self.tools.get(_block_index(body))
            if ordinal is None:
                raise UpstreamProtocol("tool input for a content block that is not a tool call")
            return [ToolCallDelta(ordinal, arguments=str(delta["toolUse"].get("input") or ""))]
        reasoning = delta.get("reasoningContent") or {}
        if reasoning.get("text") or reasoning.get("signature"):
            text, signature = str(reasoning.get("text") or ""), reasoning.get("signature")
            return [ReasoningDelta(text, signature=signature)]
        return []  # redacted reasoning, citations


def _block_index(body: Mapping[str, Any]) -> int:
    index = body.get("contentBlockIndex")
    if not isinstance(index, int):
        raise UpstreamProtocol("a content block event without its contentBlockIndex")
    return index


def parse_body(payload: bytes) -> list[Event]:
    """Events equivalent to a whole ``/converse`` answer."""
    body = common.json_object(payload)
    content = ((body.get("output") or {}).get("message") or {}).get("content")
    if not isinstance(content, list):
        raise UpstreamProtocol("the answer has no output message")
    events: list[Event] = []
    tools = 0
    for block in content:
        if block.get("text"):
            events.append(TextDelta(str(block["text"])))
        elif isinstance(
            thought := (block.get("reasoningContent") or {}).get("reasoningText"), dict
        ):
            text, signature = str(thought.get("text") or ""), thought.get("signature")
            events.append(ReasoningDelta(text, signature=signature))
        elif isinstance(use := block.get("toolUse"), dict):
            arguments = orjson.dumps(use.get("input") or {}).decode()
            events.append(ToolCallDelta(tools, use.get("toolUseId"), use.get("name"), arguments))
            tools += 1
    events.append(UsageEvent(parse_usage(body.get("usage") or {})))
    events.append(Finish(finish_reason(body.get("stopReason"))))
    return events


# The typed error for an HTTP error answer (``x-amzn-ErrorType`` names the exception).
map_error = aws.map_error


# --- I/O ---------------------------------------------------------------------------------


async def stream(
    session: aiohttp.ClientSession, target: Target, call: ChatCall, connect_timeout: float
) -> AsyncGenerator[list[Event], None]:
    """Send ``call``; yield its events, one list per network read (the whole answer once).

    A stream ends with ``metadata``, or when the connection closes after ``messageStop``;
    closing before one is a truncated answer.
    """
    parser = StreamParser() if call.stream else None  # needs botocore: fail before sending
    keys = None
    if not target.key:  # no Bedrock API key: sign with the AWS credential chain
        keys = await aws.find_keys(
            target.provider.id, hint=CREDENTIAL_HINT, env_keys=target.provider.env_keys
        )
    events = common.relay(
        session,
        build_request(target, call, keys),
        stream=call.stream,
        connect_timeout=connect_timeout,
        map_error=map_error,
        parse_body=parse_body,
        parser=parser,
        raw=EVENTSTREAM,
        exact_url=True,
    )
    try:
        async with contextlib.aclosing(events):
            async for batch in events:
                yield batch
    except UpstreamAuthFailed:
        if keys is not None:  # keys rotated since (a new ~/.aws/credentials): look again next time
            aws.forget_credentials()
        raise


async def models(
    session: aiohttp.ClientSession, target: Target, connect_timeout: float
) -> list[str]:
    """Unsupported: Bedrock lists models on its control plane, not on bedrock-runtime."""
    raise Unsupported(
        "Amazon Bedrock lists models on its control plane (ListFoundationModels), not on "
        "bedrock-runtime: name a model id or inference profile from the Bedrock console"
    )
