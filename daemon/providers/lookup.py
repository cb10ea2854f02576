"""Finding providers: the catalog merged with ``[providers.<id>]`` config, indexed once.

A name resolves by canonical id, then by alias, then as one of the custom forms
``custom:<url>`` (OpenAI shape) and ``anthropic-custom:<url>``. Config may override a catalog
row (``base_url``, ``headers``) or define a new provider (with ``api`` naming its family).
Config is checked when the registry is built, so a mistake stops the daemon at start.
"""

from __future__ import annotations

import dataclasses
import difflib
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from daemon.errors import ConfigInvalid, UnknownProvider
from daemon.providers.model import ApiFamily, AuthStyle, BridgeHint, Provider, Quirk

CUSTOM_FORMS: Mapping[str, ApiFamily] = {
    "custom:": ApiFamily.OPENAI_COMPLETIONS,
    "anthropic-custom:": ApiFamily.ANTHROPIC_MESSAGES,
}
_CUSTOM_AUTH: Mapping[ApiFamily, AuthStyle] = {
    ApiFamily.OPENAI_COMPLETIONS: AuthStyle.BEARER,
    ApiFamily.ANTHROPIC_MESSAGES: AuthStyle.X_API_KEY,
}
_CONFIG_KEYS = frozenset(
    {
        "base_url",
        "api_key",
        "api_keys",
        "headers",
        "api",
        "name",
        "default_model",
        "models",
        "env_keys",
        "bridge",
    }
)
# Settings a family's adapter reads from Target.options; a row's base_url_template uses them too.
OPTION_KEYS = frozenset(
    {"api_version", "project", "location", "resource", "region", "credentials_file"}
)
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """What config says about one provider beyond its row: keys and model hints."""

    api_keys: tuple[str, ...] = field(default=(), repr=False)
    default_model: str | None = None
    models: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)


def check_base_url(url: str) -> str:
    """``url`` without a trailing slash; ValueError unless https, or http on a loopback host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise ValueError("must be https unless the host is loopback")
    return url.rstrip("/")


class Registry:
    """Every provider the daemon knows, by id and alias, with its config applied."""

    def __init__(
        self, rows: Iterable[Provider], config: Mapping[str, Any], source: str = "config"
    ) -> None:
        self._rows: dict[str, Provider] = {row.id: row for row in rows}
        self._names: dict[str, str] = {}
        for row in self._rows.values():
            self._index(row)
        self._settings: dict[str, ProviderSettings] = {}
        for name, table in config.items():
            self._configure(str(name), table, source)

    def _index(self, row: Provider) -> None:
        self._names[row.id] = row.id
        for alias in row.aliases:
            self._names[alias.lower()] = row.id

    def _configure(self, name: str, table: Any, source: str) -> None:
        where = f"providers.{name}"
        if not isinstance(table, dict):
            raise ConfigInvalid(source, where, "must be a table")
        unknown = sorted(set(table) - _CONFIG_KEYS - OPTION_KEYS)
        if unknown:
            raise ConfigInvalid(
                source,
                f"{where}.{unknown[0]}",
                f"unknown key; known: {', '.join(sorted(_CONFIG_KEYS | OPTION_KEYS))}",
            )
        canonical = self._names.get(name.lower())
        row = self._rows[canonical] if canonical else self._new_row(name, table, source)
        options = _options(table, source, where)
        self._rows[row.id] = self._override(row, table, source, options)
        self._index(self._rows[row.id])
        self._settings[row.id] = _settings(table, source, where, options)

    def _new_row(self, name: str, table: Mapping[str, Any], source: str) -> Provider:
        where = f"providers.{name}"
        if "api" not in table:
            close = self.suggest(name)
            hint = (
                f"; did you mean {close[0]}?"
                if close
                else "; a new provider needs api and base_url"
            )
            raise ConfigInvalid(source, where, f"not a known provider{hint}")
        try:
            family = ApiFamily(table["api"])
        except ValueError:
            raise ConfigInvalid(
                source, f"{where}.api", f"must be one of {', '.join(ApiFamily)}"
            ) from None
        if "base_url" not in table:
            raise ConfigInvalid(source, f"{where}.base_url", "a new provider needs a base_url")
        return Provider(
            id=name,
            name=str(table.get("name", name)),
            family=family,
            base_url=None,
            auth=_CUSTOM_AUTH.get(family, AuthStyle.BEARER),
            key_optional=True,
        )

    @staticmethod
    def _override(
        row: Provider, table: Mapping[str, Any], source: str, options: Mapping[str, str]
    ) -> Provider:
        changes: dict[str, Any] = {}
        templated = _templated_base_url(row, options)
        if templated is not None and "base_url" not in table:
            changes["base_url"] = templated
            changes["quirks"] = row.quirks - {Quirk.NEEDS_CONFIG}
        if "base_url" in table:
            try:
                changes["base_url"] = check_base_url(str(table["base_url"]))
            except ValueError as exc:
                raise ConfigInvalid(source, f"providers.{row.id}.base_url", str(exc)) from None
            changes["quirks"] = row.quirks - {Quirk.NEEDS_CONFIG}
        if "headers" in table:
            headers = table["headers"]
            if not isinstance(headers, dict):
                raise ConfigInvalid(
                    source, f"providers.{row.id}.headers", "must be a table of strings"
                )
            changes["headers"] = (*row.headers, *((str(k), str(v)) for k, v in headers.items()))
        if "api" in table:
            try:
                changes["family"] = ApiFamily(table["api"])
            except ValueError:
                raise ConfigInvalid(
                    source, f"providers.{row.id}.api", f"must be one of {', '.join(ApiFamily)}"
                ) from None
        if "env_keys" in table:
            changes["env_keys"] = tuple(str(k) for k in table["env_keys"])
        if "bridge" in table:
            changes["bridge"] = _bridge(row, table["bridge"], source)
        return dataclasses.replace(row, **changes) if changes else row

    def find(self, name: str) -> Provider | None:
        """The provider ``name`` stands for, or None (cheap: no suggestions are computed)."""
        canonical = self._names.get(name.lower())
        if canonical is not None:
            return self._rows[canonical]
        for prefix, family in CUSTOM_FORMS.items():
            if name.startswith(prefix):
                return _custom_row(name, name[len(prefix) :], family)
        return None

    def resolve(self, name: str) -> Provider:
        """The provider ``name`` stands for; UnknownProvider with close matches otherwise."""
        found = self.find(name)
        if found is None:
            suggestions = self.suggest(name)
            raise UnknownProvider(f"no provider is called {name!r}", suggestions=suggestions)
        return found

    def suggest(self, name: str) -> list[str]:
        """Ids (and aliases) that look like ``name``."""
        return difflib.get_close_matches(name.lower(), list(self._names), n=5, cutoff=0.6)

    def bridged(self, site: str) -> Provider | None:
        """The first provider (in catalog order) that the website bridge ``site`` serves."""
        return next((r for r in self._rows.values() if r.bridge and r.bridge.site == site), None)

    def rows(self) -> list[Provider]:
        return sorted(self._rows.values(), key=lambda row: row.id)

    def settings(self, provider_id: str) -> ProviderSettings:
        return self._settings.get(provider_id, _NO_SETTINGS)

    def is_configured(self, provider_id: str) -> bool:
        return provider_id in self._settings


_NO_SETTINGS = ProviderSettings()


def _custom_row(name: str, url: str, family: ApiFamily) -> Provider:
    try:
        base = check_base_url(url)
    except ValueError as exc:
        raise UnknownProvider(f"{name}: the URL {exc}") from None
    return Provider(
        id=name,
        name=f"Custom ({url})",
        family=family,
        base_url=base,
        auth=_CUSTOM_AUTH[family],
        key_optional=True,
    )


def _bridge(row: Provider, value: Any, source: str) -> BridgeHint | None:
    """``bridge = "<site>"`` serves the provider through that website bridge; ``false``: none.
    Whether the site exists is checked with the [bridges] tables (daemon.app)."""
    if value is False:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigInvalid(
            source, f"providers.{row.id}.bridge", 'must be a site name ("zai") or false'
        )
    return BridgeHint(site=value, website_url=row.bridge.website_url if row.bridge else "")


def _options(table: Mapping[str, Any], source: str, where: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for key in sorted(OPTION_KEYS & set(table)):
        if not isinstance(table[key], str) or not table[key]:
            raise ConfigInvalid(source, f"{where}.{key}", "must be a non-empty string")
        options[key] = table[key]
    return options


def template_fields(template: str) -> list[str]:
    """The ``{placeholders}`` of a base URL template, in order."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def _templated_base_url(row: Provider, options: Mapping[str, str]) -> str | None:
    """The row's base URL built from config options, once every placeholder has a value."""
    if row.base_url_template is None:
        return None
    fields = set(template_fields(row.base_url_template))
    if not fields <= set(options):
        return None
    return row.base_url_template.format(**{name: quote(options[name], safe="") for name in fields})


def _settings(
    table: Mapping[str, Any], source: str, where: str, options: Mapping[str, str]
) -> ProviderSettings:
    keys: list[str] = []
    if "api_key" in table:
        keys.append(str(table["api_key"]))
    raw_keys = table.get("api_keys", [])
    if not isinstance(raw_keys, list) or not all(isinstance(k, str) for k in raw_keys):
        raise ConfigInvalid(source, f"{where}.api_keys", "must be a list of strings")
    keys.extend(raw_keys)
    models = table.get("models", [])
    if not isinstance(models, list):
        raise ConfigInvalid(source, f"{where}.models", "must be a list of model names")
    default = table.get("default_model")
    return ProviderSettings(
        tuple(k for k in keys if k),
        str(default) if default else None,
        tuple(str(m) for m in models),
        options,
    )
