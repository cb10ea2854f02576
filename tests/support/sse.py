"""Reading a whole SSE answer in tests."""

from __future__ import annotations

from typing import Any

import orjson


def sse_events(raw: bytes) -> list[tuple[str, Any]]:
    """(event name, data) of each SSE event; the name is "" where the wire names none, the
    data is parsed JSON or the string ``[DONE]``."""
    events = []
    for block in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in lines:
            data = lines["data"]
            events.append(
                (lines.get("event", ""), data if data == "[DONE]" else orjson.loads(data))
            )
    return events
