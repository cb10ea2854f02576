"""Which credential a call uses, in DESIGN.md's order: request > vault > config > env.

The vault arrives with its own release; until then :class:`EmptyVault` stands behind the same
:class:`Vault` interface, so resolution is already written in its final order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from daemon.errors import CredentialsMissing
from daemon.providers.lookup import ProviderSettings
from daemon.providers.model import AuthStyle, Provider

Source = Literal["request", "vault", "config", "env", "none"]


class Vault(Protocol):
    """Stored API keys (and, later, OAuth logins) per provider."""

    async def api_keys(self, provider_id: str) -> list[str]: ...


class EmptyVault:
    """A vault with nothing in it."""

    async def api_keys(self, provider_id: str) -> list[str]:
        return []


@dataclass(frozen=True, slots=True)
class Credentials:
    """The keys to try, in rotation order, and where they came from (never logged)."""

    keys: tuple[str | None, ...]
    source: Source

    def __repr__(self) -> str:  # keys must never reach a log line, even through repr
        return f"Credentials(source={self.source!r}, keys={len(self.keys)})"


async def resolve(
    provider: Provider,
    settings: ProviderSettings,
    vault: Vault,
    environ: Mapping[str, str],
    request_key: str | None = None,
) -> Credentials:
    """The credentials for one call; CredentialsMissing lists where a key could be put."""
    if request_key:
        return Credentials((request_key,), "request")
    if provider.auth is AuthStyle.NONE:
        return Credentials((None,), "none")
    stored = await vault.api_keys(provider.id)
    if stored:
        return Credentials(tuple(stored), "vault")
    if settings.api_keys:
        return Credentials(settings.api_keys, "config")
    for name in provider.env_keys:
        if environ.get(name):
            return Credentials((environ[name],), "env")
    if provider.key_optional:
        return Credentials((None,), "none")
    raise CredentialsMissing(
        f"no credential for {provider.id}",
        provider=provider.id,
        envKeys=list(provider.env_keys),
    )
