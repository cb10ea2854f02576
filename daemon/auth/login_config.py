"""The login catalog with ``[oauth.<id>]`` applied, checked once when the daemon starts.

Keys of ``[oauth.<id>]``: ``enabled`` (the opt-in switch), and overrides of the row's
endpoints: ``authorize_url``, ``token_url``, ``device_url``, ``revoke_url``,
``exchange_url``, ``verification_uri``, ``device_redirect_uri``, ``client_id``,
``client_secret``, ``scopes`` (a list or a space-separated string) and ``redirect_port``
(``0`` = any free port, or a list: the allow-list's ports in order, the first free one is
used). ``[oauth]`` itself takes ``flow_ttl_s``: how long a browser or paste login waits for
the person (default 600). A mistake stops the daemon at start with the file, key and reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daemon.auth.logins import LOGINS, Endpoints, LoginSpec, LoginStatus
from daemon.errors import ConfigInvalid, LoginNotAllowed, UnknownProvider
from daemon.providers.lookup import check_base_url
from daemon.providers.model import LoginMethod

_URL_KEYS = (
    "authorize_url",
    "token_url",
    "device_url",
    "revoke_url",
    "exchange_url",
    "verification_uri",
    "device_redirect_uri",
)
_TEXT_KEYS = ("client_id", "client_secret")
_KEYS = frozenset({"enabled", "scopes", "redirect_port", *_URL_KEYS, *_TEXT_KEYS})


@dataclass(frozen=True, slots=True)
class LoginCatalog:
    """Every login spec with config applied, and which opt-in logins are enabled."""

    specs: Mapping[str, LoginSpec]
    enabled: frozenset[str]
    # Every other provider whose catalog row takes an API key, with where its docs are:
    # each gets the plain api_key login.
    key_only: Mapping[str, str | None] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_config(
        cls,
        tables: Mapping[str, Any],
        source: str = "config",
        key_only: Mapping[str, str | None] | None = None,
    ) -> LoginCatalog:
        """The catalog with ``[oauth.*]`` applied; ConfigInvalid names a bad key or value."""
        specs = {spec.provider: spec for spec in LOGINS}
        if "flow_ttl_s" in tables:
            ttl_ms = _flow_ttl_ms(tables["flow_ttl_s"], source)
            specs = {p: dataclasses.replace(s, flow_ttl_ms=ttl_ms) for p, s in specs.items()}
        enabled: set[str] = set()
        for provider, table in tables.items():
            if provider == "flow_ttl_s":
                continue
            if provider not in specs:
                known = ", ".join(sorted(specs))
                raise ConfigInvalid(source, f"oauth.{provider}", f"no login for it ({known})")
            if not isinstance(table, dict):
                raise ConfigInvalid(source, f"oauth.{provider}", "must be a table")
            spec, on = _apply(specs[provider], table, source)
            specs[provider] = spec
            if on:
                enabled.add(provider)
        others = {k: v for k, v in (key_only or {}).items() if k not in specs}
        return cls(specs, frozenset(enabled), others)

    def with_identity(self, identity: Mapping[str, str]) -> LoginCatalog:
        """The catalog with the client header templates filled in (daemon.auth.identity)."""
        specs = {
            provider: dataclasses.replace(
                spec,
                client_headers=tuple(
                    (name, value.format_map(identity)) for name, value in spec.client_headers
                ),
            )
            for provider, spec in self.specs.items()
        }
        return dataclasses.replace(self, specs=specs)

    def spec(self, provider: str) -> LoginSpec:
        """The login row of ``provider`` (a canonical id); UnknownProvider when it has none."""
        try:
            return self.specs[provider]
        except KeyError:
            if provider in self.key_only:
                return LoginSpec(
                    provider=provider,
                    methods=(LoginMethod.API_KEY,),
                    status=LoginStatus.AVAILABLE,
                    policy="API key",
                    key_url=self.key_only[provider],
                )
            raise UnknownProvider(
                f"{provider} has no login; store a key with auth.apikey.set",
                provider=provider,
                suggestions=sorted(self.specs),
            ) from None

    def usable(self, spec: LoginSpec) -> bool:
        """False for an opt-in login that config has not enabled."""
        return spec.status is not LoginStatus.OPT_IN or spec.provider in self.enabled

    def method(self, provider: str, wanted: str | None) -> tuple[LoginSpec, LoginMethod]:
        """The spec and the method a flow runs; LoginNotAllowed explains a refusal."""
        spec = self.spec(provider)
        methods = [m.value for m in spec.methods]
        if not self.usable(spec):
            raise LoginNotAllowed(
                f"{provider}'s login is opt-in: set enabled = true in [oauth.{provider}]",
                provider=provider,
                methods=methods,
                note=spec.policy,
            )
        flows = [m for m in spec.methods if m is not LoginMethod.IMPORT]
        if wanted is None:
            if not flows:
                raise LoginNotAllowed(
                    f"{provider} logs in by import only", provider=provider, methods=methods
                )
            return spec, flows[0]
        chosen = next((m for m in flows if m.value == wanted), None)
        if chosen is None:
            raise LoginNotAllowed(
                f"{provider} offers no {wanted} login",
                provider=provider,
                methods=methods,
                note=spec.policy,
            )
        return spec, chosen


def _apply(spec: LoginSpec, table: Mapping[str, Any], source: str) -> tuple[LoginSpec, bool]:
    where = f"oauth.{spec.provider}"
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _KEYS:
            raise ConfigInvalid(
                source, f"{where}.{key}", f"unknown key ({', '.join(sorted(_KEYS))})"
            )
        if key == "enabled":
            continue
        try:
            changes.update(_parse(key, value))
        except ValueError as exc:
            raise ConfigInvalid(source, f"{where}.{key}", str(exc)) from None
    enabled = table.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigInvalid(source, f"{where}.enabled", "must be true or false")
    endpoints: Endpoints = dataclasses.replace(spec.endpoints, **changes)
    return dataclasses.replace(spec, endpoints=endpoints), enabled


def _parse(key: str, value: object) -> dict[str, Any]:
    if key in _URL_KEYS:
        if not isinstance(value, str):
            raise ValueError("must be a URL string")
        return {key: check_base_url(value)}
    if key in _TEXT_KEYS:
        if not isinstance(value, str) or not value:
            raise ValueError("must be a non-empty string")
        return {key: value}
    if key == "scopes":
        scopes = value.split() if isinstance(value, str) else value
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ValueError("must be a list of strings or a space-separated string")
        return {"scopes": tuple(scopes)}
    ports = value if isinstance(value, list) else [value]
    if not ports or not all(_port(p) for p in ports) or (0 in ports and len(ports) > 1):
        raise ValueError("must be a port number (0 = any free port) or a list of ports")
    return {"redirect_ports": () if ports == [0] else tuple(ports)}


def _port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 65536


def _flow_ttl_ms(value: object, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
        raise ConfigInvalid(source, "oauth.flow_ttl_s", "must be seconds, above 0 (at most 86400)")
    return max(1, int(value * 1000))
