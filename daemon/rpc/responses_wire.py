"""Pure conversions from OpenAI's Responses API requests to chat.send's params, and errors back.

Used by ``POST /v1/responses`` (:mod:`daemon.rpc.responses_http`): a request body becomes
chat.send params (then checked by the same schema); the answer's shapes, whole and streamed, are
in :mod:`daemon.rpc.responses_output`. The daemon keeps nothing between requests, so what needs
stored state (``previous_response_id``, ``store: true``, ``background``, stored prompts and
conversations, ``item_reference``) and what only OpenAI's servers run (web search, file search,
code interpreter, ...) is refused with a 400 naming the field; ``store: false`` with the whole
conversation in ``input`` (what Codex CLI sends) is the way in. Field names follow the
recordings in ``../shared/fixtures/wire/openai_responses``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from daemon.errors import DaemonError, InvalidParams
from daemon.rpc import openai_wire

_ENDPOINT = "/v1/responses"
# Between a reasoning item's summary parts, as the openai-responses adapter joins them (not
# imported: the adapters load with their first call, not with the daemon).
_SUMMARY_BREAK = "\n\n"
_STATELESS = "the daemon stores no responses; send the whole conversation in input (store: false)"
# Reasoning efforts as chat.send takes them: "none" is no reasoning, "xhigh" the highest it has.
_EFFORTS: Mapping[str, str | None] = {
    "none": None,
    "minimal": "minimal",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
}
_TOOL_CHOICES = frozenset({"auto", "none", "required"})
_INCLUDES = frozenset({"reasoning.encrypted_content"})  # signed reasoning: it goes out and back
_TEXT_PARTS = frozenset({"input_text", "output_text"})
_ASSISTANT_PARTS = frozenset({"input_text", "output_text", "refusal"})
# chat.send's param names as the Responses request names them, for the schema's errors (the
# effort is checked here, so "reasoning" is always the request's own field).
_FIELDS: Mapping[str, str] = {
    "maxTokens": "max_output_tokens",
    "toolChoice": "tool_choice",
    "messages": "input",
}


def _given(value: Any) -> bool:
    return value is not None


def _not_false(value: Any) -> bool:
    return value not in (None, False)


def _positive(value: Any) -> bool:
    return value not in (None, 0)


# Request fields the daemon cannot honour: (field, refused when, why). Those that need state
# kept between requests are refused on every path; the others only where the request becomes
# chat.send params (a Responses provider takes them when the request goes on whole).
_NEEDS_STATE: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("previous_response_id", _given, _STATELESS),
    ("conversation", _given, _STATELESS),
    ("prompt", _given, "stored prompts live on OpenAI's servers; send the text as instructions"),
    ("store", _not_false, _STATELESS),
    ("background", _not_false, "a background response is polled from storage; " + _STATELESS),
)
_REFUSED = (
    *_NEEDS_STATE,
    ("top_p", _given, "chat.send has no nucleus sampling"),
    ("top_logprobs", _positive, "log probabilities are not carried"),
)


def _unsupported(what: str, field: str, why: str = "") -> InvalidParams:
    """A 400 whose message starts with the field: ``tools[0].type: tool type 'x' is ...``."""
    message = ("" if what == field else f"{field}: ") + f"{what} is not supported by {_ENDPOINT}"
    message += f": {why}" if why else ""
    return InvalidParams(message, field=field, reason=why or "not supported")


def _invalid(field: str, must: str) -> InvalidParams:
    return InvalidParams(f"{field} {must}", field=field, reason=must)


def responses_field(field: str) -> str:
    """A chat.send param path (``maxTokens``, ``tools.0.name``) as the Responses request
    names it (``max_output_tokens``, ``tools[0].name``); messages become ``input`` (their
    indices differ)."""
    head, *rest = field.split(".")
    if head == "messages":
        return "input"
    path = _FIELDS.get(head, head)
    for segment in rest:
        path += f"[{segment}]" if segment.isdigit() else f".{segment}"
    return path


def error_body(exc: DaemonError) -> tuple[int, dict[str, Any]]:
    """OpenAI's ``{"error": {...}}`` and HTTP status (the Responses API shares them with Chat
    Completions), a chat.send field named the way the Responses request names it."""
    status, body = openai_wire.error_body(exc)
    error = body["error"]
    field = error["param"]
    if isinstance(field, str) and (named := responses_field(field)) != field:
        error["param"] = named
        if error["message"].startswith(field):
            error["message"] = named + error["message"][len(field) :]
    return status, body


# --- the request ---------------------------------------------------------------------------


def to_send_params(body: Mapping[str, Any], provider: str | None, model: str) -> dict[str, Any]:
    """chat.send params for a Responses request (validated afterwards by its schema)."""
    _check_refused(body)
    messages = [*_instructions(body.get("instructions")), *_conversation(body.get("input"))]
    params: dict[str, Any] = {"model": model, "messages": messages}
    if provider is not None:
        params["provider"] = provider
    optional = {
        "tools": _tools(body.get("tools")),
        "toolChoice": _tool_choice(body.get("tool_choice")),
        "maxTokens": body.get("max_output_tokens"),
        "temperature": body.get("temperature"),
        "reasoning": _effort(body.get("reasoning")),
    }
    params.update({key: value for key, value in optional.items() if value is not None})
    return params


def check_refused(body: Mapping[str, Any]) -> None:
    """Refuse what the daemon cannot honour even when a request goes on whole to a Responses
    provider: what needs state kept between requests, and server tools (the daemon runs
    neither; :func:`to_send_params` refuses these and what chat.send cannot carry)."""
    _refuse(body, _NEEDS_STATE)
    tools = body.get("tools")
    for index, tool in enumerate(tools if isinstance(tools, list) else ()):
        _function_only(tool, f"tools[{index}]")


def _refuse(
    body: Mapping[str, Any], fields: tuple[tuple[str, Callable[[Any], bool], str], ...]
) -> None:
    for field, refused, why in fields:
        if refused(body.get(field)):
            raise _unsupported(field, field, why)


def _check_refused(body: Mapping[str, Any]) -> None:
    _refuse(body, _REFUSED)
    include = body.get("include") or []
    if not isinstance(include, list):
        raise _invalid("include", "must be an array")
    for index, value in enumerate(include):
        if value not in _INCLUDES:
            raise _unsupported(f"include {value!r}", f"include[{index}]")
    text = body.get("text") or {}
    kind = (text.get("format") or {}).get("type", "text") if isinstance(text, dict) else None
    if kind != "text":
        raise _unsupported(f"text.format type {kind!r}", "text.format", "only plain text output")


def _instructions(instructions: Any) -> list[dict[str, Any]]:
    if instructions is None or instructions == "":
        return []
    if not isinstance(instructions, str):
        raise _invalid("instructions", "must be a string")
    return [{"role": "system", "content": instructions}]


def _conversation(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise _invalid("input", "must be a string or an array of input items")
    return _Conversation().read(raw)


class _Conversation:
    """Input items folded into chat.send messages: an assistant turn's text, function calls and
    signed reasoning become one assistant message, each function_call_output a tool message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.called: set[str] = set()
        self.reasoning: tuple[str, str] | None = None  # signed, for the next assistant turn

    def read(self, items: list[Any]) -> list[dict[str, Any]]:
        for index, item in enumerate(items):
            field = f"input[{index}]"
            if not isinstance(item, dict):
                raise _invalid(field, "must be an input item object")
            kind = item.get("type", "message")
            reader = _READERS.get(kind) if isinstance(kind, str) else None
            if reader is None:
                raise _unsupported(f"input item type {kind!r}", f"{field}.type", _ITEM_HINT)
            reader(self, item, field)
        return self.messages

    def _assistant(self) -> dict[str, Any]:
        """The assistant message the next assistant item belongs to (the last one, or new)."""
        last = self.messages[-1] if self.messages else None
        if last is None or last["role"] != "assistant":
            last = {"role": "assistant", "content": ""}
            self.messages.append(last)
        if self.reasoning is not None and "reasoning" not in last:
            last["reasoning"], last["reasoningSignature"] = self.reasoning
        self.reasoning = None
        return last

    def message(self, item: Mapping[str, Any], field: str) -> None:
        role, content = item.get("role"), item.get("content")
        where = f"{field}.content"
        if role == "assistant":
            turn = self._assistant()
            turn["content"] += _joined_text(content, where, _ASSISTANT_PARTS)
        elif role in ("system", "developer"):
            self.messages.append({"role": "system", "content": _joined_text(content, where)})
        elif role == "user":
            parts = content if isinstance(content, str) else _user_parts(content, where)
            self.messages.append({"role": "user", "content": parts})
        else:
            raise _invalid(f"{field}.role", "must be 'user', 'assistant', 'system' or 'developer'")

    def function_call(self, item: Mapping[str, Any], field: str) -> None:
        call_id = _name(item, "call_id", field)
        name = _name(item, "name", field)
        arguments = _arguments(item.get("arguments"), f"{field}.arguments")
        call = {"id": call_id, "name": name, "arguments": arguments}
        self._assistant().setdefault("toolCalls", []).append(call)
        self.called.add(call_id)

    def function_call_output(self, item: Mapping[str, Any], field: str) -> None:
        call_id = _name(item, "call_id", field)
        if call_id not in self.called:
            raise _invalid(f"{field}.call_id", f"{call_id!r} answers no function_call before it")
        output = item.get("output")
        content = output if isinstance(output, str) else _user_parts(output, f"{field}.output")
        self.messages.append({"role": "tool", "toolCallId": call_id, "content": content})

    def reasoning_item(self, item: Mapping[str, Any], field: str) -> None:
        """Signed reasoning (the signature rides in ``encrypted_content``) goes back to the
        provider that signed it; unsigned summaries are the model's notes and stay out."""
        summary = item.get("summary")
        if not isinstance(summary, list) or not all(_has_text(part) for part in summary):
            raise _invalid(f"{field}.summary", "must be an array of summary_text parts")
        signature = item.get("encrypted_content")
        if isinstance(signature, str) and signature:
            text = _SUMMARY_BREAK.join(part["text"] for part in summary)
            self.reasoning = (text, signature)


_Reader = Callable[[_Conversation, Mapping[str, Any], str], None]
_READERS: Mapping[str, _Reader] = {
    "message": _Conversation.message,
    "function_call": _Conversation.function_call,
    "function_call_output": _Conversation.function_call_output,
    "reasoning": _Conversation.reasoning_item,
}
_ITEM_HINT = "input items are messages, function_call, function_call_output and reasoning"


def _has_text(part: Any) -> bool:
    return isinstance(part, dict) and isinstance(part.get("text"), str)


def _name(item: Mapping[str, Any], key: str, field: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise _invalid(f"{field}.{key}", "must be a non-empty string")
    return value


def _arguments(raw: Any, field: str) -> dict[str, Any]:
    if not isinstance(raw, str):
        raise _invalid(field, "must be a string holding a JSON object")
    try:
        arguments = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise _invalid(field, "must be a string holding a JSON object") from None
    if not isinstance(arguments, dict):
        raise _invalid(field, "must be a string holding a JSON object")
    return arguments


def _parts(content: Any, field: str) -> list[tuple[str, Mapping[str, Any]]]:
    """``content`` as (field, part object) pairs; a 400 naming ``field`` otherwise."""
    if not isinstance(content, list):
        raise _invalid(field, "must be a string or an array of content parts")
    pairs = [(f"{field}[{index}]", part) for index, part in enumerate(content)]
    for where, part in pairs:
        if not isinstance(part, dict):
            raise _invalid(where, "must be a content part object")
    return pairs


def _text(part: Mapping[str, Any], field: str) -> str:
    text = part.get("text", part.get("refusal"))
    if not isinstance(text, str):
        raise _invalid(f"{field}.text", "must be a string")
    return text


def _joined_text(content: Any, field: str, kinds: frozenset[str] = _TEXT_PARTS) -> str:
    """The text of a system or assistant message (text parts only)."""
    if isinstance(content, str):
        return content
    texts = []
    for where, part in _parts(content, field):
        if part.get("type") not in kinds:
            raise _unsupported(f"content part type {part.get('type')!r}", f"{where}.type")
        texts.append(_text(part, where))
    return "".join(texts)


def _user_parts(content: Any, field: str) -> list[dict[str, Any]]:
    """Text and image parts of a user message or a tool's output."""
    parts = []
    for where, part in _parts(content, field):
        kind = part.get("type")
        if kind in _TEXT_PARTS:
            parts.append({"type": "text", "text": _text(part, where)})
        elif kind == "input_image":
            parts.append(_image(part, where))
        else:
            raise _unsupported(f"content part type {kind!r}", f"{where}.type")
    return parts


def _image(part: Mapping[str, Any], field: str) -> dict[str, Any]:
    """An ``input_image`` as a normalized image: a data URL's bytes, or the URL."""
    url = part.get("image_url")
    if part.get("file_id") is not None:
        raise _unsupported("file_id", f"{field}.file_id", "uploaded files live on OpenAI's side")
    if not isinstance(url, str) or not url:
        raise _invalid(f"{field}.image_url", "must be a URL or a data: URL")
    head, comma, data = url.partition(",")
    if url.startswith("data:") and head.endswith(";base64") and comma and data:
        return {"type": "image", "data": data, "mimeType": head[5:].removesuffix(";base64")}
    return {"type": "image", "url": url}


def _tools(tools: Any) -> Any:
    if not isinstance(tools, list):
        return tools  # None, or something the schema names
    return [_tool(tool, f"tools[{index}]") for index, tool in enumerate(tools)]


def _tool(tool: Any, field: str) -> Any:
    if not isinstance(tool, dict):
        return tool
    _function_only(tool, field)
    normalized = {"name": tool.get("name"), "parameters": tool.get("parameters")}
    if normalized["parameters"] is None:
        normalized["parameters"] = {"type": "object"}
    if tool.get("description"):
        normalized["description"] = tool["description"]
    return normalized


def _function_only(tool: Any, field: str) -> None:
    """Refuse a server tool (anything but ``function``; what is not an object is the schema's)."""
    kind = tool.get("type") if isinstance(tool, dict) else "function"
    if kind != "function":
        raise _unsupported(f"tool type {kind!r}", f"{field}.type", _TOOL_HINT)


_TOOL_HINT = "only function tools: the daemon runs no server tools (web or file search, ...)"


def _tool_choice(choice: Any) -> Any:
    if choice is None or (isinstance(choice, str) and choice in _TOOL_CHOICES):
        return choice
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "function":
        return {"name": choice.get("name")}
    if kind is None:
        raise _invalid("tool_choice", "must be 'auto', 'none', 'required' or a function")
    raise _unsupported(f"tool_choice type {kind!r}", "tool_choice.type", _TOOL_HINT)


def _effort(reasoning: Any) -> str | None:
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise _invalid("reasoning", "must be an object")
    effort = reasoning.get("effort")
    if effort is None:
        return None  # a summary asked for at the model's own effort
    if not isinstance(effort, str) or effort not in _EFFORTS:
        raise _invalid("reasoning.effort", f"must be one of {', '.join(_EFFORTS)}")
    return _EFFORTS[effort]
