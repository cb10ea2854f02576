"""What the vault holds for one provider account: an API key or an OAuth login.

A :class:`Login` is the one shape every source produces (``auth.apikey.set``, a finished
flow, an import from an official CLI's file, a refresh) and the one shape the vault stores,
as the JSON object :meth:`Login.to_json` builds. Secrets live only in the ``secret_*``
fields; ``repr`` and :meth:`describe` never show them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

DEFAULT_ACCOUNT = "default"


class Kind(StrEnum):
    """What sort of credential a record is."""

    API_KEY = "api_key"
    OAUTH = "oauth"


class Origin(StrEnum):
    """How the record came to be in the vault (``auth.status``'s ``source`` says "vault")."""

    STORED = "stored"  # auth.apikey.set
    LOGIN = "login"  # a finished auth.oauth flow
    IMPORT = "import"  # auth.oauth.import from an official CLI's file


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds, the unit every expiry is kept in."""
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Login:
    """One credential. Expiries are absolute epoch milliseconds; None means none known."""

    kind: Kind
    origin: Origin
    secret_key: str | None = None  # an API key
    secret_access: str | None = None  # an OAuth access token
    secret_refresh: str | None = None
    secret_id_token: str | None = None
    expires_at_ms: int | None = None
    scopes: tuple[str, ...] = ()
    # Provider-side facts the adapters need after login, e.g. chatgpt_account_id,
    # resource_url (qwen, minimax), project (Code Assist), a Copilot API endpoint.
    claims: Mapping[str, str] = field(default_factory=dict)
    obtained_at_ms: int = field(default_factory=now_ms)
    refreshed_at_ms: int | None = None
    imported_from: str | None = None  # the file a record was imported from

    def __repr__(self) -> str:  # secrets must never reach a log line, even through repr
        return f"Login(kind={self.kind.value}, origin={self.origin.value})"

    @property
    def bearer(self) -> str | None:
        """The secret a request carries: the access token of a login, else the key."""
        return self.secret_access if self.kind is Kind.OAUTH else self.secret_key

    def expires_within(self, margin_ms: int, at_ms: int | None = None) -> bool:
        """True when the access token has expired or will within ``margin_ms``."""
        if self.expires_at_ms is None:
            return False
        return self.expires_at_ms - margin_ms <= (now_ms() if at_ms is None else at_ms)

    def refreshed(self, **changes: Any) -> Login:
        """A copy with new token fields, stamped as refreshed now."""
        return replace(self, refreshed_at_ms=now_ms(), **changes)

    def describe(self) -> dict[str, Any]:
        """The record's public facts (``auth.status``): never a secret."""
        return {
            "kind": self.kind.value,
            "origin": self.origin.value,
            "expiresAt": self.expires_at_ms,
            "scopes": list(self.scopes),
            "obtainedAt": self.obtained_at_ms,
            "lastRefresh": self.refreshed_at_ms,
            "refreshable": self.secret_refresh is not None,
            "importedFrom": self.imported_from,
        }

    def to_json(self) -> dict[str, Any]:
        """The vault payload (encrypted by the store, never written as is)."""
        return {
            "v": 1,
            "kind": self.kind.value,
            "origin": self.origin.value,
            "key": self.secret_key,
            "access": self.secret_access,
            "refresh": self.secret_refresh,
            "idToken": self.secret_id_token,
            "expiresAt": self.expires_at_ms,
            "scopes": list(self.scopes),
            "claims": dict(self.claims),
            "obtainedAt": self.obtained_at_ms,
            "refreshedAt": self.refreshed_at_ms,
            "importedFrom": self.imported_from,
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> Login:
        """The record a vault payload holds; KeyError/ValueError when it is not one."""
        return cls(
            kind=Kind(payload["kind"]),
            origin=Origin(payload["origin"]),
            secret_key=payload.get("key"),
            secret_access=payload.get("access"),
            secret_refresh=payload.get("refresh"),
            secret_id_token=payload.get("idToken"),
            expires_at_ms=payload.get("expiresAt"),
            scopes=tuple(payload.get("scopes") or ()),
            claims=dict(payload.get("claims") or {}),
            obtained_at_ms=int(payload.get("obtainedAt") or 0),
            refreshed_at_ms=payload.get("refreshedAt"),
            imported_from=payload.get("importedFrom"),
        )


def api_key_login(key: str, origin: Origin = Origin.STORED, **extra: Any) -> Login:
    """A record holding one API key."""
    return Login(kind=Kind.API_KEY, origin=origin, secret_key=key, **extra)
