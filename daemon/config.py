"""Settings: built-in defaults < TOML file < ``SWITCHBOARD_*`` environment < command-line flags.

The ``[daemon]`` table is described by :data:`DAEMON_FIELDS`, one row per key, and is
checked strictly: an unknown key, a wrong type or a bad value stops the daemon at start
with the file, the key and the reason. The other tables of DESIGN.md §4 (``[providers.*]``,
``[oauth.*]``, ...) are kept as parsed and checked by the components that own them.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon.errors import ConfigInvalid

APP = "switchboard"
ENV_PREFIX = "SWITCHBOARD_"
LOG_LEVELS = ("debug", "info", "warning", "error")
OTHER_SECTIONS = ("defaults", "providers", "oauth", "bridges", "reliability", "model_routes")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def runtime_dir() -> Path:
    """Where the socket lives: ``$XDG_RUNTIME_DIR/switchboard``, else ``/tmp/switchboard-$UID``."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and Path(base).is_dir():
        return Path(base) / APP
    return Path(f"/tmp/{APP}-{os.getuid()}")  # noqa: S108 - the fallback DESIGN.md names


def default_state_dir() -> Path:
    """systemd's ``StateDirectory=``, else ``$XDG_STATE_HOME/switchboard``."""
    if systemd_dir := os.environ.get("STATE_DIRECTORY"):
        return Path(systemd_dir.split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / APP


def default_config_path() -> Path:
    """``$SWITCHBOARD_CONFIG``, else ``$XDG_CONFIG_HOME/switchboard/config.toml``."""
    if explicit := os.environ.get(f"{ENV_PREFIX}CONFIG"):
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / APP / "config.toml"


def _as_path(value: object) -> Path:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a non-empty path string")
    return Path(value).expanduser()


def _as_tcp(value: object) -> tuple[str, int] | None:
    if value in ("", "off", None):
        return None
    if not isinstance(value, str):
        raise ValueError('must be a string like "127.0.0.1:8765"')
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError('must look like "127.0.0.1:8765"')
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("must be a loopback address (127.0.0.1, ::1 or localhost)")
    return host, int(port)


def _as_level(value: object) -> str:
    if not isinstance(value, str) or value.lower() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return value.lower()


def _as_positive_int(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _as_positive_float(value: object) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError("must be a positive number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError("must be a positive number")
    return float(value)


def _as_uids(value: object) -> tuple[int, ...]:
    if isinstance(value, str):
        value = [part for part in value.replace(",", " ").split()]
    if not isinstance(value, list) or not value:
        raise ValueError("must be a non-empty list of numeric user ids")
    return tuple(_as_uid(item) for item in value)


def _as_uid(item: object) -> int:
    if isinstance(item, str) and item.isdigit():
        return int(item)
    if isinstance(item, int) and not isinstance(item, bool) and item >= 0:
        return item
    raise ValueError("must be a non-empty list of numeric user ids")


@dataclass(frozen=True, slots=True)
class Field:
    """One key of ``[daemon]``: how to parse it and where its default comes from."""

    key: str
    parse: Callable[[object], Any]
    default: Callable[[], Any]
    doc: str

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.key.upper()


DAEMON_FIELDS: tuple[Field, ...] = (
    Field("socket", _as_path, lambda: runtime_dir() / f"{APP}.sock", "Unix socket path"),
    Field("tcp", _as_tcp, lambda: None, 'loopback TCP listener "host:port"; off unless set'),
    Field("state_dir", _as_path, default_state_dir, "vault, browser profiles, TCP token"),
    Field("log_level", _as_level, lambda: "info", "debug, info, warning or error"),
    Field("max_body_bytes", _as_positive_int, lambda: 8 << 20, "largest HTTP request body"),
    Field("max_frame_bytes", _as_positive_int, lambda: 8 << 20, "largest WebSocket message"),
    Field("idle_timeout_s", _as_positive_float, lambda: 60.0, "close silent HTTP connections"),
    Field("ws_heartbeat_s", _as_positive_float, lambda: 30.0, "WebSocket ping interval"),
    Field("drain_timeout_s", _as_positive_float, lambda: 10.0, "in-flight grace on SIGTERM"),
    Field("allowed_uids", _as_uids, lambda: (os.getuid(),), "peer uids allowed on the socket"),
)
FIELDS_BY_KEY = {f.key: f for f in DAEMON_FIELDS}


@dataclass(frozen=True, slots=True)
class Settings:
    """The daemon's effective configuration, immutable once loaded."""

    socket: Path
    tcp: tuple[str, int] | None
    state_dir: Path
    log_level: str
    max_body_bytes: int
    max_frame_bytes: int
    idle_timeout_s: float
    ws_heartbeat_s: float
    drain_timeout_s: float
    allowed_uids: tuple[int, ...]
    config_path: Path | None = None
    sections: Mapping[str, Any] = field(default_factory=dict)

    @property
    def tcp_token_file(self) -> Path:
        return self.state_dir / "tcp-token"


def load_settings(
    config_path: Path | None = None,
    flags: Mapping[str, str | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build :class:`Settings` from file, environment and flags; raise ConfigInvalid on error."""
    environ = os.environ if environ is None else environ
    path = config_path or default_config_path()
    explicit = config_path is not None or f"{ENV_PREFIX}CONFIG" in environ
    document = _read_toml(path, required=explicit)
    daemon_table = document.pop("daemon", {})
    where = str(path)
    if not isinstance(daemon_table, dict):
        raise ConfigInvalid(where, "daemon", "must be a table")
    _reject_unknown(where, document.keys(), ("daemon", *OTHER_SECTIONS), prefix="")
    _reject_unknown(where, daemon_table.keys(), FIELDS_BY_KEY, prefix="daemon.")
    values: dict[str, Any] = {}
    for spec in DAEMON_FIELDS:
        raw, source = _pick(spec, daemon_table, environ, flags or {}, where)
        try:
            values[spec.key] = spec.default() if raw is None else spec.parse(raw)
        except ValueError as exc:
            raise ConfigInvalid(source, f"daemon.{spec.key}", str(exc)) from None
    sections = _expand(document, where, "", environ)
    loaded = path if path.is_file() else None
    return Settings(**values, config_path=loaded, sections=sections)


def _pick(
    spec: Field,
    table: Mapping[str, Any],
    environ: Mapping[str, str],
    flags: Mapping[str, str | None],
    where: str,
) -> tuple[object, str]:
    """The raw value of one key and where it came from, by precedence."""
    if flags.get(spec.key) is not None:
        return flags[spec.key], f"--{spec.key.replace('_', '-')}"
    if spec.env in environ:
        return environ[spec.env], f"${spec.env}"
    if spec.key in table:
        return _expand(table[spec.key], where, f"daemon.{spec.key}", environ), where
    return None, "default"


def _read_toml(path: Path, *, required: bool) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        if required:
            raise ConfigInvalid(str(path), "-", "file not found") from None
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid(str(path), "-", f"not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigInvalid(str(path), "-", f"cannot be read ({exc.strerror})") from None


def _reject_unknown(where: str, keys: Any, known: Any, prefix: str) -> None:
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f"; did you mean {prefix}{close[0]}?" if close else ""
            raise ConfigInvalid(where, f"{prefix}{key}", f"unknown key{hint}")


def _expand(value: Any, where: str, key: str, environ: Mapping[str, str]) -> Any:
    """Replace ``${NAME}`` in every string with the environment variable's value."""
    if isinstance(value, str):
        return _ENV_REF.sub(lambda m: _env_value(m.group(1), where, key, environ), value)
    if isinstance(value, dict):
        return {k: _expand(v, where, f"{key}.{k}" if key else k, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, where, f"{key}[{i}]", environ) for i, v in enumerate(value)]
    return value


def _env_value(name: str, where: str, key: str, environ: Mapping[str, str]) -> str:
    try:
        return environ[name]
    except KeyError:
        raise ConfigInvalid(where, key, f"environment variable {name} is not set") from None


# --- [bridges] -------------------------------------------------------------------------------


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError("must be true or false")


def _as_count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("must be a whole number, 0 or more")
    return value


def _as_url(value: object) -> str:
    if not isinstance(value, str) or not re.match(r"https?://[^/\s]+", value):
        raise ValueError('must be an http(s) URL like "https://chat.z.ai"')
    return value.rstrip("/")


def _as_spec(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[\w.]+:\w+", value):
        raise ValueError('must name a SiteSpec as "module:ATTRIBUTE"')
    return value


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """One ``[bridges.<site>]`` table."""

    url: str | None = None  # the site's address; tests point it at a mock
    spec: str | None = None  # "module:ATTR" of a SiteSpec; built-in sites need none


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """The ``[bridges]`` table: Chromium, its timeouts and queue, and the sites."""

    browser: Path | None = None  # else Debian's chromium when present, else Playwright's own
    headless: bool = True
    # Headless in Debian's chromium-headless-shell: about half the memory, but easier for a
    # site's anti-bot checks to tell apart from a person's browser (off by default).
    headless_shell: bool = False
    idle_s: float = 600.0  # a site's browser closes after this long without a call
    page_load_timeout_s: float = 30.0
    first_chunk_timeout_s: float = 60.0
    chunk_timeout_s: float = 120.0  # the most time between two chunks of an answer
    queue_size: int = 4  # calls that may wait for a site while one generation runs
    spare_page: bool = True  # keep a page loaded for the next new chat (a warm call loads none)
    sites: Mapping[str, SiteSettings] = field(default_factory=dict)


_BRIDGE_KEYS: Mapping[str, Callable[[object], Any]] = {
    "browser": _as_path,
    "headless": _as_bool,
    "headless_shell": _as_bool,
    "idle_s": _as_positive_float,
    "page_load_timeout_s": _as_positive_float,
    "first_chunk_timeout_s": _as_positive_float,
    "chunk_timeout_s": _as_positive_float,
    "queue_size": _as_count,
    "spare_page": _as_bool,
}
_SITE_KEYS: Mapping[str, Callable[[object], Any]] = {"url": _as_url, "spec": _as_spec}


def bridge_settings(sections: Mapping[str, Any], source: str) -> BridgeSettings:
    """The ``[bridges]`` table checked; ConfigInvalid names the key and what is wrong.

    Scalar keys are settings; sub-tables are sites (whether a site exists is the caller's
    check: it knows the catalog's sites).
    """
    table = sections.get("bridges", {})
    if not isinstance(table, dict):
        raise ConfigInvalid(source, "bridges", "must be a table")
    values: dict[str, Any] = {}
    sites: dict[str, SiteSettings] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            sites[key] = SiteSettings(**_checked(value, _SITE_KEYS, source, f"bridges.{key}."))
        else:
            values.update(_checked({key: value}, _BRIDGE_KEYS, source, "bridges."))
    return BridgeSettings(**values, sites=sites)


def _checked(
    table: Mapping[str, Any],
    parsers: Mapping[str, Callable[[object], Any]],
    source: str,
    prefix: str,
) -> dict[str, Any]:
    _reject_unknown(source, table.keys(), parsers, prefix)
    values: dict[str, Any] = {}
    for key, value in table.items():
        try:
            values[key] = parsers[key](value)
        except ValueError as exc:
            raise ConfigInvalid(source, prefix + key, str(exc)) from None
    return values
