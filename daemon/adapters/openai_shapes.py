"""OpenAI Chat Completions shapes that both directions need: the openai-completions adapter
(to the provider) and the /v1 endpoint (to the client). Kept apart so that the endpoint,
loaded at start, does not load the adapter, which is loaded on first use.
"""

from __future__ import annotations

from typing import Any

import orjson


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
