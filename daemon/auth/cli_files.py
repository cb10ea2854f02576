"""Reading another program's credential file without trusting it: pure, blocking.

The official CLIs' files (see :mod:`daemon.auth.importers`) are read with care: regular files
only, at most :data:`MAX_FILE_BYTES`, never blocking on a FIFO, and UTF-8 JSON holding an
object. Typed field reads raise :class:`Unusable` whose reason names the field and the type
found, never the value (it may be a secret).
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 1 << 20  # credential files are a few KiB; anything this big is not one


class Unusable(Exception):
    """A file its parser cannot use. ``reason`` names fields, never the values in them."""

    def __init__(self, reason: str, instead: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.instead = instead  # advice replacing "log in again", e.g. "import it as openai"


class Missing(Unusable):
    """The named file does not exist."""


# -- reading the file ----------------------------------------------------------------------


def read_json_object(path: Path) -> Mapping[str, Any]:
    """The JSON object in ``path``; Unusable (Missing) when it is anything else."""
    import json

    text = _read_text(path)
    if not text.strip():
        raise Unusable("is empty")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:  # its message quotes no content, but keep to lines
        raise Unusable(f"is not JSON (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise Unusable("is not JSON a credential file would hold (nested too deeply)") from None
    if not isinstance(doc, dict):
        raise Unusable(f"holds {_kind(doc)}, not a JSON object")
    return doc


def _read_text(path: Path) -> str:
    # O_NONBLOCK: a FIFO planted at the path must not hang the import thread.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise Missing("does not exist") from None
    except IsADirectoryError:
        raise Unusable("is a directory, not a credential file") from None
    except PermissionError:
        raise Unusable("cannot be read (permission denied)") from None
    except OSError as exc:
        raise Unusable(f"cannot be opened ({exc.strerror or 'I/O error'})") from None
    try:
        _check_regular(os.fstat(fd))
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise Unusable(f"cannot be read ({exc.strerror or 'I/O error'})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:  # grew after fstat, or a file that lies about its size
        raise _too_large()
    try:
        return data.decode("utf-8-sig")  # a BOM is what Windows editors leave behind
    except UnicodeDecodeError:
        raise Unusable("is not UTF-8 text") from None


def _check_regular(info: os.stat_result) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise Unusable("is a directory, not a credential file")
    if not stat.S_ISREG(info.st_mode):
        raise Unusable("is not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise _too_large()


def _too_large() -> Unusable:
    return Unusable(f"is larger than {MAX_FILE_BYTES >> 20} MiB, so not a credential file")


# -- fields ---------------------------------------------------------------------------------


def _kind(value: object) -> str:
    """The JSON type of ``value`` in words (never the value itself)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def text(doc: Mapping[str, Any], key: str, where: str = "") -> str:
    """The non-blank string at ``key``; Unusable when it is missing, blank or not a string."""
    value = doc.get(key)
    if value is None:
        raise Unusable(f"has no {where}{key}")
    if not isinstance(value, str):
        raise Unusable(f"has {where}{key} as {_kind(value)}, not a string")
    if not value.strip():
        raise Unusable(f"has an empty {where}{key}")
    return value


def maybe_text(doc: Mapping[str, Any], key: str, where: str = "") -> str | None:
    """The string at ``key``, None when absent or empty; Unusable when not a string."""
    value = doc.get(key)
    return None if value is None or value == "" else text(doc, key, where)


def maybe_number(doc: Mapping[str, Any], key: str, where: str = "") -> float | None:
    """The finite number at ``key``, None when absent; Unusable when it is anything else."""
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unusable(f"has {where}{key} as {_kind(value)}, not a number")
    return float(value)


def object_(doc: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    """The JSON object at ``key``; Unusable when it is missing or not an object."""
    value = doc.get(key)
    if value is None:
        raise Unusable(f"has no {where}{key}")
    if not isinstance(value, dict):
        raise Unusable(f"has {where}{key} as {_kind(value)}, not an object")
    return value


def rfc3339_ms(value: object) -> int | None:
    """Epoch milliseconds of the RFC 3339 time ``value``; None when it is not one."""
    # Only bookkeeping (refreshed_at_ms): an unreadable time must not block the import.
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
