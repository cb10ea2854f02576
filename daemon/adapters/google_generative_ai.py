"""The ``google-generative-ai`` family: ``POST {base}/models/{model}:generateContent``.

Google's Gemini API, JSON or SSE (``:streamGenerateContent?alt=sse``; events end in
``\\r\\n\\r\\n`` and no ``[DONE]`` follows the last one). System messages become
``systemInstruction``; assistant tool calls become ``functionCall`` parts of a ``model`` turn and
tool results ``functionResponse`` parts of a ``user`` turn, named after the call they answer (the
wire has no call ids); neighbouring turns of one role are merged. Gemini sends every function
call whole, often without an id: :class:`StreamParser` gives those a random one. Usage is
cumulative on every chunk: the last one wins. A ``functionCall``'s ``thoughtSignature`` becomes
the tool call's ``signature`` and goes back with the call on the next turn, as Gemini 3 needs.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from daemon.adapters import common
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
from daemon.errors import UpstreamError, UpstreamProtocol

_FINISH: Mapping[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
}
_TOOL_MODE: Mapping[str, str] = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
# Gemini answers an unknown key with 400 INVALID_ARGUMENT.
_BAD_KEY_HINTS = ("API_KEY_INVALID", "API key not valid")


def _new_call_id() -> str:
    # Gemini names calls but gives them no id; ids must stay unique across a conversation's
    # turns, so that each tool result finds its call.
    return f"call_{secrets.token_hex(8)}"


def _model_url(target: Target, method: str) -> str:
    return f"{target.base_url}/models/{target.model.removeprefix('models/')}:{method}"


def build_request(target: Target, call: ChatCall) -> HttpRequest:
    """The HTTP request for ``call`` to ``target``."""
    body = request_body(call)
    if call.stream:
        url, accept = _model_url(target, "streamGenerateContent") + "?alt=sse", "text/event-stream"
    else:
        url, accept = _model_url(target, "generateContent"), "application/json"
    headers = common.headers(target, accept=accept)
    return HttpRequest("POST", common.with_query_key(url, target), headers, orjson.dumps(body))


def request_body(call: ChatCall) -> dict[str, Any]:
    """The ``GenerateContentRequest`` for ``call``; Vertex AI takes the same body."""
    system = common.system_texts(call)
    body: dict[str, Any] = {
        "contents": _contents([m for m in call.messages if m["role"] != "system"])
    }
    if any(system):
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(t for t in system if t)}]}
    if call.tools:
        body["tools"] = [{"functionDeclarations": [_wire_tool(tool) for tool in call.tools]}]
        if call.tool_choice is not None:
            body["toolConfig"] = {"functionCallingConfig": _calling_config(call.tool_choice)}
    config: dict[str, Any] = {}
    if call.max_tokens is not None:
        config["maxOutputTokens"] = call.max_tokens
    if call.stop:
        config["stopSequences"] = list(call.stop)
    if call.temperature is not None:
        config["temperature"] = call.temperature
    if call.reasoning is not None:
        budget = THINKING_BUDGET[call.reasoning]
        config["thinkingConfig"] = {"includeThoughts": True, "thinkingBudget": budget}
    if config:
        body["generationConfig"] = config
    return body


def _part(part: Mapping[str, Any]) -> dict[str, Any]:
    if part["type"] == "text":
        return {"text": part["text"]}
    if part.get("url"):
        file_data = {"fileUri": part["url"]}
        if part.get("mimeType"):
            file_data["mimeType"] = part["mimeType"]
        return {"fileData": file_data}
    return {"inlineData": {"mimeType": part.get("mimeType", "image/png"), "data": part["data"]}}


def _parts(message: Mapping[str, Any], names: dict[str, str]) -> list[dict[str, Any]]:
    """Wire parts of one message; ``names`` maps tool call ids seen so far to function names."""
    content = message.get("content", "")
    if message["role"] == "tool":
        call_id = message.get("toolCallId", "")
        name = names.get(call_id) or message.get("name") or call_id
        response = {"name": name, "response": {"content": common.text_of(content)}}
        return [{"functionResponse": response}]
    parts: list[dict[str, Any]] = (
        [{"text": content}] if isinstance(content, str) else [_part(p) for p in content]
    )
    parts = [p for p in parts if "text" not in p or p["text"]]  # empty text parts are refused
    for call in message.get("toolCalls") or ():
        names[call["id"]] = call["name"]
        part = {"functionCall": {"name": call["name"], "args": call["arguments"]}}
        if call.get("signature"):
            part["thoughtSignature"] = call["signature"]  # Gemini 3 refuses the turn without it
        parts.append(part)
    return parts


def _contents(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gemini turns (``user``/``model``); tool results are user turns, neighbours merge."""
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for message in messages:
        role = "model" if message["role"] == "assistant" else "user"
        parts = _parts(message, names)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def _wire_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    # parametersJsonSchema takes full JSON Schema; ``parameters`` takes only an OpenAPI subset.
    wire: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        wire["description"] = tool["description"]
    if tool.get("parameters"):
        wire["parametersJsonSchema"] = tool["parameters"]
    return wire


def _calling_config(choice: Any) -> dict[str, Any]:
    if isinstance(choice, dict):
        return {"mode": "ANY", "allowedFunctionNames": [choice["name"]]}
    return {"mode": _TOOL_MODE[choice]}


def parse_usage(raw: Mapping[str, Any]) -> Usage:
    """``usageMetadata`` in the normalized shape; output tokens include the thinking tokens."""
    thoughts = int(raw.get("thoughtsTokenCount") or 0)
    usage = empty_usage()
    usage["inputTokens"] = int(raw.get("promptTokenCount") or 0)
    usage["outputTokens"] = int(raw.get("candidatesTokenCount") or 0) + thoughts
    usage["cacheReadTokens"] = int(raw.get("cachedContentTokenCount") or 0)
    usage["reasoningTokens"] = thoughts
    return usage


class StreamParser:
    """Turns ``GenerateContentResponse`` chunks into events. Gemini has no end marker, so
    ``done`` stays False: the stream ends when the connection does."""

    def __init__(self) -> None:
        self.calls = 0  # function calls seen so far: the next one's index
        self.usage = empty_usage()
        self.done = False

    def feed(self, payload: bytes) -> list[Event]:
        """Events in one SSE ``data`` payload."""
        return self.feed_object(common.json_object(payload))

    def feed_object(self, chunk: Mapping[str, Any]) -> list[Event]:
        """Events in one parsed response chunk (or a whole non-streamed response)."""
        if "error" in chunk:
            raise _error_in_body(chunk)
        candidates = chunk.get("candidates") or [{}]
        candidate = candidates[0] if isinstance(candidates[0], dict) else {}
        events: list[Event] = []
        for part in (candidate.get("content") or {}).get("parts") or ():
            events.extend(self._part_events(part))
        if isinstance(chunk.get("usageMetadata"), dict):
            self.usage = parse_usage(chunk["usageMetadata"])
            events.append(UsageEvent(self.usage))
        reason = candidate.get("finishReason")
        if (chunk.get("promptFeedback") or {}).get("blockReason"):
            reason = "SAFETY"  # the prompt itself was blocked: no candidate comes
        if reason:
            events.append(Finish(self.finish_for(reason)))
        return events

    def _part_events(self, part: Mapping[str, Any]) -> list[Event]:
        call = part.get("functionCall")
        if isinstance(call, dict):
            index = self.calls
            self.calls += 1
            arguments = orjson.dumps(call.get("args") or {}).decode()
            call_id = call.get("id") or _new_call_id()
            signature = part.get("thoughtSignature")
            return [ToolCallDelta(index, call_id, call.get("name"), arguments, signature)]
        text = part.get("text")
        if not text:
            return []
        return [ReasoningDelta(text) if part.get("thought") else TextDelta(text)]

    def finish_for(self, reason: str) -> FinishReason:
        finish = _FINISH.get(reason, "stop")
        return "tool_calls" if finish == "stop" and self.calls else finish


def parse_body(payload: bytes) -> list[Event]:
    """Events of a whole response: one object, or the JSON array that
    ``:streamGenerateContent`` returns without ``alt=sse``."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise UpstreamProtocol("the provider sent something that is not JSON") from None
    chunks = value if isinstance(value, list) else [value]
    if not chunks or not all(isinstance(chunk, dict) for chunk in chunks):
        raise UpstreamProtocol("the provider sent JSON that is not a response object")
    parser = StreamParser()
    events = [event for chunk in chunks for event in parser.feed_object(chunk)]
    if not parser.done:
        events.append(Finish(parser.finish_for("STOP")))
    return events


def _error_in_body(body: Mapping[str, Any]) -> UpstreamError:
    """An ``{"error": {...}}`` object inside a 200 answer, typed by its own code."""
    error = body.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    status = code if isinstance(code, int) and code >= 400 else 200
    return map_error(status, {}, orjson.dumps(body))


def map_error(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """The typed error for Google's ``{"error": {"code", "message", "status"}}`` answers."""
    try:
        parsed: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return common.error_from_status(status, headers, body)
    message = str(error.get("message") or "")
    if status == 400 and any(hint in body.decode(errors="replace") for hint in _BAD_KEY_HINTS):
        status = 401  # Google reports a bad key as 400 INVALID_ARGUMENT
    # Google's status word (INVALID_ARGUMENT, NOT_FOUND) says more than the repeated HTTP code.
    words = {"error": {"message": message, "code": error.get("status") or error.get("code")}}
    return common.error_from_body(words, status=status, headers=headers)


# Send a call and yield its events as they arrive, one list per network read.
stream = common.streamer(build_request, parse_body, StreamParser, map_error)


def parse_models(payload: bytes) -> list[str]:
    """Model ids (``models/`` stripped) that can ``generateContent``, from ``GET /models``."""
    try:
        listing = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise UpstreamProtocol("the model list is not JSON") from None
    items = listing.get("models") if isinstance(listing, dict) else None
    return sorted(
        str(item["name"]).removeprefix("models/")
        for item in items or ()
        if isinstance(item, dict)
        and "name" in item
        and "generateContent" in item.get("supportedGenerationMethods", ["generateContent"])
    )


async def models(
    session: aiohttp.ClientSession, target: Target, connect_timeout: float
) -> list[str]:
    """Model ids from ``GET {base}/models``, every page (1000 a page, the API's maximum)."""
    headers = common.headers(target, accept="application/json")

    def page(token: str | None) -> HttpRequest:
        url = f"{target.base_url}/models?pageSize=1000"
        if token:
            url += f"&pageToken={quote(token, safe='')}"
        return HttpRequest("GET", common.with_query_key(url, target), headers)

    return await common.paged_models(
        session, page, parse_models, common.token_in("nextPageToken"), connect_timeout, map_error
    )


async def count_tokens(
    session: aiohttp.ClientSession, target: Target, call: ChatCall, connect_timeout: float
) -> int:
    """The provider's count of ``call``'s input tokens: ``POST {base}/models/{model}:countTokens``
    with the whole ``generateContentRequest`` (so the system instruction and tools count too)."""
    body = request_body(call)
    body.pop("generationConfig", None)  # it shapes the answer; the input is the same without it
    model = f"models/{target.model.removeprefix('models/')}"
    wire = orjson.dumps({"generateContentRequest": {"model": model, **body}})
    url = common.with_query_key(_model_url(target, "countTokens"), target)
    headers = common.headers(target, accept="application/json")
    answer = await common.fetch_json(
        session, HttpRequest("POST", url, headers, wire), connect_timeout, map_error
    )
    return common.count_in(answer, "totalTokens", default=0)
