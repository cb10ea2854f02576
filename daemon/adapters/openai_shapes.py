"""OpenAI Chat Completions shapes that several need: the openai-completions, Cohere and Responses
adapters (to the provider) and the /v1 endpoint (to the client). Kept apart so that the endpoint,
loaded at start, does not load the adapter, which is loaded on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson


def image_url(part: Mapping[str, Any]) -> str:
    """An image part's URL, or its data as a ``data:`` URL (how OpenAI-shaped APIs take both)."""
    return part.get("url") or f"data:{part.get('mimeType', 'image/png')};base64,{part['data']}"


def wire_part(part: Mapping[str, Any]) -> dict[str, Any]:
    """A text or image content part in the Chat Completions shape (Cohere's v2 too)."""
    if part["type"] == "text":
        return {"type": "text", "text": part["text"]}
    return {"type": "image_url", "image_url": {"url": image_url(part)}}


def wire_tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Normalized tool calls in OpenAI's shape (arguments as a JSON string)."""
    return [
        {
            "id": call["id"],
            "type": "function",
            "function": {
                "name": call["name"],
                "arguments": orjson.dumps(call["arguments"]).decode(),
            },
        }
        for call in calls
    ]
