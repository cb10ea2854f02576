"""Pure conversions between OpenAI's Chat Completions shapes and chat.send's.

Used by the OpenAI-compatible endpoint: a request body becomes chat.send params (then checked
by the same schema), a result becomes a ``chat.completion``, events become
``chat.completion.chunk`` objects, and a DaemonError becomes OpenAI's error body and status.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from daemon.adapters.openai_shapes import wire_tool_calls
from daemon.adapters.types import Event, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from daemon.errors import (
    AccessDenied,
    CircuitOpen,
    ContextTooLong,
    CredentialsMissing,
    DaemonError,
    InvalidParams,
    ParseError,
    RateLimited,
    RequestInvalid,
    RequestTooLarge,
    ShuttingDown,
    UnknownModel,
    UnknownProvider,
    Unsupported,
    UpstreamAuthFailed,
    UpstreamRejected,
    UpstreamTimeout,
)

# (HTTP status, OpenAI error type) per error class; anything else is a 502 from upstream.
_STATUS: Mapping[type[DaemonError], tuple[int, str]] = {
    ParseError: (400, "invalid_request_error"),
    InvalidParams: (400, "invalid_request_error"),
    RequestInvalid: (400, "invalid_request_error"),
    Unsupported: (400, "invalid_request_error"),
    ContextTooLong: (400, "invalid_request_error"),
    UpstreamRejected: (400, "invalid_request_error"),
    UnknownProvider: (404, "invalid_request_error"),
    UnknownModel: (404, "invalid_request_error"),
    CredentialsMissing: (401, "authentication_error"),
    UpstreamAuthFailed: (401, "authentication_error"),
    AccessDenied: (401, "authentication_error"),
    RequestTooLarge: (413, "invalid_request_error"),
    RateLimited: (429, "rate_limit_error"),
    CircuitOpen: (503, "server_error"),
    ShuttingDown: (503, "server_error"),
    UpstreamTimeout: (504, "server_error"),
}
_ROLES = {"developer": "system"}


def http_status(exc: DaemonError) -> tuple[int, str]:
    """The HTTP status and OpenAI error type for a daemon error (both /v1 endpoints' reading)."""
    status, kind = next(
        (pair for cls, pair in _STATUS.items() if isinstance(exc, cls)), (502, "api_error")
    )
    upstream_status = exc.data.get("status")
    if (
        isinstance(exc, UpstreamRejected)
        and isinstance(upstream_status, int)
        and 400 <= upstream_status < 500
    ):
        status = upstream_status  # the provider's own 4xx (404 model_not_found, 422, ...)
    return status, kind


def error_body(exc: DaemonError) -> tuple[int, dict[str, Any]]:
    """OpenAI's ``{"error": {...}}`` and HTTP status for a daemon error."""
    status, kind = http_status(exc)
    error = {
        "message": exc.detail or exc.message,
        "type": kind,
        "param": exc.data.get("field"),
        "code": type(exc).__name__,
    }
    return status, {"error": error}


def _part(part: Mapping[str, Any]) -> dict[str, Any]:
    if part.get("type") == "image_url":
        image = part.get("image_url") or {}
        return {"type": "image", "url": image.get("url") if isinstance(image, dict) else image}
    return {"type": "text", "text": part.get("text", "")}


def _message(wire: Mapping[str, Any]) -> dict[str, Any]:
    role = _ROLES.get(wire.get("role", ""), wire.get("role"))
    content = wire.get("content")
    message: dict[str, Any] = {
        "role": role,
        "content": [_part(p) for p in content] if isinstance(content, list) else content or "",
    }
    if wire.get("tool_calls"):
        message["toolCalls"] = [
            {
                "id": call.get("id", ""),
                "name": (call.get("function") or {}).get("name", ""),
                "arguments": _arguments((call.get("function") or {}).get("arguments")),
            }
            for call in wire["tool_calls"]
        ]
    if role == "tool":
        message["toolCallId"] = wire.get("tool_call_id", "")
    return message


def _arguments(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = orjson.loads(text or "{}")
    except (orjson.JSONDecodeError, TypeError):
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_value": value}


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict):
        return {"name": (choice.get("function") or {}).get("name", "")}
    return choice


def to_send_params(body: Mapping[str, Any], provider: str | None, model: str) -> dict[str, Any]:
    """chat.send params for an OpenAI request body (validated afterwards by its schema)."""
    messages = body.get("messages")
    params: dict[str, Any] = {
        "model": model,
        "messages": [_message(m) for m in messages] if isinstance(messages, list) else messages,
    }
    if provider is not None:
        params["provider"] = provider
    optional = {
        "tools": body.get("tools"),
        "toolChoice": _tool_choice(body.get("tool_choice")) if "tool_choice" in body else None,
        "maxTokens": body.get("max_completion_tokens") or body.get("max_tokens"),
        "temperature": body.get("temperature"),
        "reasoning": body.get("reasoning_effort"),
        "stopSequences": _stop(body.get("stop")),
    }
    params.update({key: value for key, value in optional.items() if value is not None})
    return params


def _stop(stop: Any) -> Any:
    """OpenAI's ``stop``: one string or a list (anything else is left for the schema)."""
    return [stop] if isinstance(stop, str) else stop


def wire_usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage["inputTokens"],
        "completion_tokens": usage["outputTokens"],
        "total_tokens": usage["inputTokens"] + usage["outputTokens"],
        "prompt_tokens_details": {"cached_tokens": usage["cacheReadTokens"]},
        "completion_tokens_details": {"reasoning_tokens": usage["reasoningTokens"]},
    }


def completion(result: Mapping[str, Any], model: str, completion_id: str) -> dict[str, Any]:
    """A ``chat.completion`` object for a chat.send result."""
    normalized = result["message"]
    message: dict[str, Any] = {"role": "assistant", "content": normalized.get("content") or None}
    if normalized.get("reasoning"):
        message["reasoning_content"] = normalized["reasoning"]
    if normalized.get("toolCalls"):
        message["tool_calls"] = wire_tool_calls(normalized["toolCalls"])
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": result["finishReason"],
                "logprobs": None,
            }
        ],
        "usage": wire_usage(result["usage"]),
    }


def chunk(
    completion_id: str, model: str, delta: dict[str, Any], finish: str | None = None
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` with a single choice."""
    choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
    }


def chunk_head(completion_id: str, model: str) -> bytes:
    """The bytes every chunk of one stream starts with, up to its choice's delta."""
    head = orjson.dumps(
        {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
    )
    return b"data: " + head[:-1] + b',"choices":[{"index":0,"delta":'


_OPEN_TAIL = b',"finish_reason":null,"logprobs":null}]}\n\n'


def chunk_frame(head: bytes, delta: Mapping[str, Any], finish: str | None = None) -> bytes:
    """One SSE ``data:`` frame: the :func:`chunk` for ``delta``, built on a stream's head."""
    tail = _OPEN_TAIL
    if finish is not None:
        tail = b',"finish_reason":' + orjson.dumps(finish) + b',"logprobs":null}]}\n\n'
    return head + orjson.dumps(delta) + tail


def delta_of(event: Event) -> dict[str, Any] | None:
    """The chunk ``delta`` for one event; None for events that are not deltas."""
    if isinstance(event, TextDelta):
        return {"content": event.text}
    if isinstance(event, ReasoningDelta):
        return {"reasoning_content": event.text}
    if isinstance(event, ToolCallDelta):
        # A call's first fragment (the one with its name, as ToolCallOrder makes them) says
        # what it is; the SDKs take its type and name from that fragment alone.
        call: dict[str, Any] = {"index": event.index, "function": {"arguments": event.arguments}}
        if event.id:
            call["id"] = event.id
        if event.name is not None:
            call["type"] = "function"
            call["function"]["name"] = event.name
        return {"tool_calls": [call]}
    return None
