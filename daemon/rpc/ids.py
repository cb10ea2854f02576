"""Ids the daemon hands out (chat results, completions, messages, tool calls)."""

from __future__ import annotations

import itertools
import secrets

_ID_PREFIX = secrets.token_hex(6)
_ID_COUNTER = itertools.count(1)


def next_id(prefix: str) -> str:
    """A unique id for this daemon's lifetime (a random run prefix and a counter): unlike a
    uuid4 it needs no system call."""
    return f"{prefix}{_ID_PREFIX}{next(_ID_COUNTER):020x}"
