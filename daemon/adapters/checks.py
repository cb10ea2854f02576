"""What a call must satisfy before it is translated: refused here, clearly, never dropped.

A conversation whose tool results answer no earlier tool call cannot be translated faithfully
to any family (Gemini pairs results by name, Anthropic and OpenAI by id), so it is refused for
all. Tool definitions are checked against the target family's rules, which differ; the rules
are data, one row per family that differs from the common one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from daemon.errors import RequestInvalid
from daemon.providers.model import ApiFamily

# OpenAI, Anthropic, Bedrock and Cohere allow 1-64 of [A-Za-z0-9_-].
COMMON_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Gemini (on Vertex and behind Code Assist too): a letter or underscore first; dots and colons
# allowed too.
GEMINI_TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
TOOL_NAME: Mapping[ApiFamily, re.Pattern[str]] = {
    ApiFamily.GOOGLE_GENERATIVE_AI: GEMINI_TOOL_NAME,
    ApiFamily.GOOGLE_VERTEX: GEMINI_TOOL_NAME,
    ApiFamily.GOOGLE_GEMINI_CLI: GEMINI_TOOL_NAME,
}


def check_conversation(messages: Iterable[Mapping[str, Any]]) -> None:
    """RequestInvalid when a tool result answers no tool call made earlier in ``messages``."""
    called: set[str] = set()
    for index, message in enumerate(messages):
        for call in message.get("toolCalls") or ():
            called.add(call["id"])
        if message.get("role") == "tool" and message.get("toolCallId") not in called:
            raise RequestInvalid(
                f"messages[{index}] answers tool call {message.get('toolCallId')!r}, which no "
                "earlier assistant message made; give the id of the call it answers",
                field=f"messages[{index}].toolCallId",
            )


# How many stop sequences each family takes (0: none at all); families not listed take many.
STOP_LIMIT: Mapping[ApiFamily, int] = {
    ApiFamily.OPENAI_COMPLETIONS: 4,
    ApiFamily.AZURE_OPENAI: 4,
    ApiFamily.OPENAI_RESPONSES: 0,
    ApiFamily.OPENAI_CODEX_RESPONSES: 0,
    ApiFamily.GOOGLE_GENERATIVE_AI: 5,
    ApiFamily.GOOGLE_VERTEX: 5,
    ApiFamily.GOOGLE_GEMINI_CLI: 5,  # Code Assist carries Gemini's own generationConfig
    ApiFamily.COHERE_CHAT: 5,
    ApiFamily.BEDROCK_CONVERSE: 4,
}


def check_stop(stop: tuple[str, ...], family: ApiFamily) -> None:
    """RequestInvalid when ``family`` cannot honour the stop sequences (too many, or any)."""
    limit = STOP_LIMIT.get(family)
    if not stop or limit is None or len(stop) <= limit:
        return
    what = "takes no stop sequences" if limit == 0 else f"takes at most {limit} stop sequences"
    raise RequestInvalid(f"{family} {what}; {len(stop)} were given", field="stopSequences")


def check_tools(tools: Iterable[Mapping[str, Any]], family: ApiFamily) -> None:
    """RequestInvalid naming the first tool ``family`` would refuse, and why."""
    pattern = TOOL_NAME.get(family, COMMON_TOOL_NAME)
    seen: set[str] = set()
    for tool in tools:
        name = str(tool["name"])
        if not pattern.fullmatch(name):
            raise RequestInvalid(
                f"tool {name!r}: {family} needs names matching {pattern.pattern}",
                field="tools",
            )
        if name in seen:
            raise RequestInvalid(f"tool {name!r} is defined twice", field="tools")
        seen.add(name)
        schema_type = (tool.get("parameters") or {}).get("type", "object")
        if schema_type != "object":
            raise RequestInvalid(
                f"tool {name!r}: parameters must be a JSON Schema of type object, "
                f"not {schema_type!r}",
                field="tools",
            )
