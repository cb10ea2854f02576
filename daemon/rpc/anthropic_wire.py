"""Pure conversions from Anthropic's Messages API requests to chat.send's params, and errors back.

Used by the Anthropic-compatible endpoint (:mod:`daemon.rpc.anthropic_http`): a request body
becomes chat.send params (then checked by the same schema), and a DaemonError becomes Anthropic's
error body and status; the answer's shapes, whole and streamed, are in
:mod:`daemon.rpc.anthropic_output`. What the normalized shapes cannot carry (documents, server
tools, ``top_k``, ...) is refused with a 400 naming it, never dropped; only unsigned (or
redacted) earlier thinking is left out of the conversation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.adapters.types import THINKING_BUDGET
from daemon.errors import (
    CircuitOpen,
    DaemonError,
    InternalError,
    InvalidParams,
    ShuttingDown,
    UpstreamUnavailable,
)
from daemon.rpc import openai_wire

# Anthropic's error type per HTTP status; another 4xx is a request error, another 5xx api_error.
_ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_OVERLOADED = 529
_TOOL_CHOICES: Mapping[str, str] = {"auto": "auto", "any": "required", "none": "none"}
# Sampling controls chat.send cannot pass on: refused, since ignoring them changes the answer.
_UNSUPPORTED_FIELDS = ("top_p", "top_k")
# Thinking budget -> effort: the largest whose floor the budget reaches. The floors are the
# adapters' budgets, so effort -> budget -> effort is a round trip; below the lowest is
# "minimal". Claude Code's 4000/10000/31999 give low/medium/high.
_EFFORT_FLOORS = sorted(
    ((budget, effort) for effort, budget in THINKING_BUDGET.items() if effort != "minimal"),
    reverse=True,
)
_ADAPTIVE_EFFORT = "medium"  # "the model decides": thinking on, at the middle setting
_OWN_REASONING = frozenset({"thinking", "redacted_thinking"})


def error_body(exc: DaemonError) -> tuple[int, dict[str, Any]]:
    """Anthropic's ``{"type": "error", "error": {...}}`` and HTTP status for a daemon error.

    The status and message are the OpenAI endpoint's (one reading of the error tree for both),
    except that an overloaded or paused provider (or a draining daemon) is Anthropic's retryable
    529 and a fault of the daemon itself a 500.
    """
    status, _ = openai_wire.http_status(exc)
    if _overloaded(exc):
        status = _OVERLOADED
    elif isinstance(exc, InternalError):
        status = 500
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    message = exc.detail or exc.message
    return status, {"type": "error", "error": {"type": kind, "message": message}}


def _overloaded(exc: DaemonError) -> bool:
    if isinstance(exc, CircuitOpen | ShuttingDown):
        return True
    return isinstance(exc, UpstreamUnavailable) and exc.data.get("status") in (503, _OVERLOADED)


def _unsupported(what: str, field: str) -> InvalidParams:
    return InvalidParams(f"{what} is not supported by /v1/messages", field=field, reason=what)


def _invalid(field: str, must: str) -> InvalidParams:
    return InvalidParams(f"{field} {must}", field=field, reason=must)


def to_send_params(body: Mapping[str, Any], provider: str | None, model: str) -> dict[str, Any]:
    """chat.send params for an Anthropic Messages request (validated afterwards by its schema)."""
    for name in _UNSUPPORTED_FIELDS:
        if body.get(name) not in (None, []):
            raise _unsupported(name, name)
    messages = body.get("messages")
    params: dict[str, Any] = {
        "model": model,
        "messages": [*_system(body.get("system")), *_messages(messages)]
        if isinstance(messages, list)
        else messages,  # the schema names the problem
    }
    if provider is not None:
        params["provider"] = provider
    choice = body.get("tool_choice")
    optional = {
        "tools": _tools(body.get("tools")),
        "toolChoice": None if choice is None else _tool_choice(choice),
        "maxTokens": body.get("max_tokens"),
        "temperature": body.get("temperature"),
        "reasoning": _reasoning(body.get("thinking")),
        "stopSequences": body.get("stop_sequences") or None,
    }
    params.update({key: value for key, value in optional.items() if value is not None})
    return params


def _blocks(content: Any, field: str) -> list[Mapping[str, Any]]:
    """``content`` as a list of block objects; a 400 naming ``field`` otherwise."""
    if not isinstance(content, list):
        raise _invalid(field, "must be a string or an array of content blocks")
    for index, block in enumerate(content):
        if not isinstance(block, dict):
            raise _invalid(f"{field}.{index}", "must be a content block object")
    return content


def _text(block: Mapping[str, Any], field: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise _invalid(f"{field}.text", "must be a string")
    return text


def _system(system: Any) -> list[dict[str, Any]]:
    if not system:  # None, "" or []
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    parts = []
    for index, block in enumerate(_blocks(system, "system")):
        if block.get("type") != "text":
            raise _unsupported(f"system block type {block.get('type')!r}", f"system.{index}.type")
        parts.append({"type": "text", "text": _text(block, f"system.{index}")})
    return [{"role": "system", "content": parts}]


def _messages(messages: list[Any]) -> list[dict[str, Any]]:
    normalized: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        field = f"messages.{index}"
        if not isinstance(message, dict):
            raise _invalid(field, "must be an object")
        role, content = message.get("role"), message.get("content")
        if role == "user":
            normalized.extend(_user_turn(content, field))
        elif role == "assistant":
            normalized.append(_assistant_turn(content, field))
        else:
            raise _invalid(f"{field}.role", "must be 'user' or 'assistant' (system goes on top)")
    return normalized


def _user_turn(content: Any, field: str) -> list[dict[str, Any]]:
    """A user turn: its tool results become tool messages, in place among its other parts."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    turn: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(_blocks(content, f"{field}.content")):
        where = f"{field}.content.{index}"
        if block.get("type") != "tool_result":
            parts.append(_part(block, where))
            continue
        if parts:
            turn.append({"role": "user", "content": parts})
            parts = []
        turn.append(_tool_result(block, where))
    if parts or not turn:
        turn.append({"role": "user", "content": parts})
    return turn


def _part(block: Mapping[str, Any], field: str) -> dict[str, Any]:
    """A text or image block as a normalized part; any other block type is a 400."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": _text(block, field)}
    if kind != "image":
        raise _unsupported(f"content block type {kind!r}", f"{field}.type")
    source = block.get("source")
    source = source if isinstance(source, dict) else {}
    if source.get("type") == "base64":
        return {"type": "image", "data": source.get("data"), "mimeType": source.get("media_type")}
    if source.get("type") == "url":
        return {"type": "image", "url": source.get("url")}
    raise _unsupported(f"image source type {source.get('type')!r}", f"{field}.source.type")


def _tool_result(block: Mapping[str, Any], field: str) -> dict[str, Any]:
    content = block.get("content")
    if content is None:
        content = ""
    elif not isinstance(content, str):
        content = [
            _part(part, f"{field}.content.{index}")
            for index, part in enumerate(_blocks(content, f"{field}.content"))
        ]
    if block.get("is_error"):
        # The normalized tool message has no error flag; saying it in the text keeps it.
        content = (
            f"Error: {content}"
            if isinstance(content, str)
            else [{"type": "text", "text": "Error:"}, *content]
        )
    return {"role": "tool", "toolCallId": block.get("tool_use_id"), "content": content}


def _assistant_turn(content: Any, field: str) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    message: dict[str, Any] = {"role": "assistant"}
    for index, block in enumerate(_blocks(content, f"{field}.content")):
        kind, where = block.get("type"), f"{field}.content.{index}"
        if kind == "text":
            texts.append(_text(block, where))
        elif kind == "tool_use":
            calls.append(_tool_use(block, where))
        elif kind == "thinking" and block.get("signature"):
            # Signed thinking goes back to the provider that signed it (Anthropic needs it in
            # tool loops with thinking on); other families' adapters leave it out.
            message["reasoning"] = str(block.get("thinking", ""))
            message["reasoningSignature"] = str(block["signature"])
        elif kind not in _OWN_REASONING:
            raise _unsupported(f"content block type {kind!r}", f"{where}.type")
    message["content"] = "".join(texts)
    if calls:
        message["toolCalls"] = calls
    return message


def _tool_use(block: Mapping[str, Any], field: str) -> dict[str, Any]:
    arguments = block.get("input")
    if not isinstance(arguments, dict):
        raise _invalid(f"{field}.input", "must be an object")
    return {"id": block.get("id"), "name": block.get("name"), "arguments": arguments}


def _tools(tools: Any) -> Any:
    if not isinstance(tools, list):
        return tools  # None, or something the schema names
    return [_tool(tool, f"tools.{index}") for index, tool in enumerate(tools)]


def _tool(tool: Any, field: str) -> Any:
    if not isinstance(tool, dict):
        return tool
    if tool.get("type") not in (None, "custom"):
        raise _unsupported(f"tool type {tool['type']!r}", f"{field}.type")
    normalized = {"name": tool.get("name"), "parameters": tool.get("input_schema")}
    if normalized["parameters"] is None:
        normalized["parameters"] = {"type": "object"}
    if tool.get("description") is not None:
        normalized["description"] = tool["description"]
    return normalized


def _tool_choice(choice: Any) -> Any:
    """chat.send's toolChoice; ``disable_parallel_tool_use`` has no counterpart and is a hint."""
    if not isinstance(choice, dict):
        raise _invalid("tool_choice", "must be an object")
    kind = choice.get("type")
    if kind == "tool":
        return {"name": choice.get("name")}
    if isinstance(kind, str) and kind in _TOOL_CHOICES:
        return _TOOL_CHOICES[kind]
    raise _unsupported(f"tool_choice type {kind!r}", "tool_choice.type")


def _reasoning(thinking: Any) -> str | None:
    """The reasoning effort for Anthropic's ``thinking`` setting."""
    if thinking is None:
        return None
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "disabled":
        return None
    if kind == "adaptive":
        return _ADAPTIVE_EFFORT
    if kind != "enabled":
        raise _unsupported(f"thinking type {kind!r}", "thinking.type")
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise _invalid("thinking.budget_tokens", "must be a positive integer")
    return next((effort for floor, effort in _EFFORT_FLOORS if budget >= floor), "minimal")
