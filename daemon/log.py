"""structlog set-up and the daemon's one secret-redaction processor.

Every log line, ours or a library's through stdlib ``logging``, passes :func:`redact` last,
after exceptions are rendered to text, so a key that slips into a message or a traceback is
masked too. Lines are JSON when stderr is not a terminal (journald, files) and readable when
it is.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import orjson
import structlog

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"(api[_-]?key|apikey|token|secret|password|passwd|authorization|cookie|credential|"
    r"private[_-]?key|client[_-]?secret|refresh|bearer)",
    re.IGNORECASE,
)
_SECRET_VALUES = re.compile(
    r"(?:Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}"
    r"|sk-[A-Za-z0-9_-]{8,}"
    r"|(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{10,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_-]{20,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
)
_SECRET_QUERY = re.compile(
    r"([?&](?:key|api_key|apikey|access_token|refresh_token|token|code|client_secret)=)[^&\s\"']+",
    re.IGNORECASE,
)
_known_secrets: set[str] = set()


def remember_secret(value: str) -> None:
    """Mask ``value`` wherever it appears in later log lines (tokens the daemon itself made)."""
    if len(value) >= 8:
        _known_secrets.add(value)


def scrub(text: str) -> str:
    """``text`` with every recognisable secret replaced by ``[redacted]``."""
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _SECRET_VALUES.sub(REDACTED, text)
    return _SECRET_QUERY.sub(lambda m: m.group(1) + REDACTED, text)


def _clean(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key) and value not in (None, "", 0, False):
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(key, v) for v in value]
    return value


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-named fields and secret-shaped text in every field."""
    for key, value in list(event.items()):
        event[key] = (
            scrub(value) if key == "event" and isinstance(value, str) else _clean(key, value)
        )
    return event


def _json(obj: Any, **_kw: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def configure(
    level: str = "info", stream: TextIO | None = None, as_json: bool | None = None
) -> None:
    """Route structlog and stdlib logging through one redacting pipeline onto ``stream``."""
    stream = stream or sys.stderr
    if as_json is None:
        as_json = not stream.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log would cost a line per request; errors still come through.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    """A structlog logger named ``name``; safe to create at import, before :func:`configure`."""
    return structlog.get_logger(name)
