"""Which credential a call uses, in DESIGN.md's order: request > vault > config > env.

The vault's side is :class:`Vault`: ``daemon.auth.session.Sessions`` (the stored API key or
OAuth login, renewed when it is about to expire) in the daemon, :class:`EmptyVault` where
there is none (tests of routing alone, benchmarks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from daemon.auth.records import DEFAULT_ACCOUNT, Kind, Login
from daemon.errors import CredentialsMissing, VaultRecordInvalid
from daemon.providers.lookup import ProviderSettings
from daemon.providers.model import AuthStyle, Provider

Source = Literal["request", "vault", "config", "env", "none"]


class Vault(Protocol):
    """Stored API keys and OAuth logins per provider account."""

    async def current(self, provider: str, account: str = DEFAULT_ACCOUNT) -> Login | None: ...

    async def renew(self, provider: str, account: str, stale: Login) -> Login: ...

    async def exchanged(
        self, provider: str, key: str, refused: Login | None = None
    ) -> Login | None:
        """The login a config or env key stands for when the provider mints API tokens from
        it (Copilot: a GitHub token), minted again when ``refused``; else None (the key is
        used as it is)."""
        ...

    def set_aside(self, provider: str) -> str | None:
        """Where the provider's stored record was moved because it did not open, if it was."""
        ...

    @property
    def changes(self) -> int:
        """Grows whenever a stored record may have changed: what was resolved before it may
        not hold."""
        ...


class EmptyVault:
    """A vault with nothing in it."""

    async def current(self, provider: str, account: str = DEFAULT_ACCOUNT) -> Login | None:
        return None

    async def renew(self, provider: str, account: str, stale: Login) -> Login:
        raise AssertionError("an empty vault hands out no login to renew")

    async def exchanged(
        self, provider: str, key: str, refused: Login | None = None
    ) -> Login | None:
        return None

    def set_aside(self, provider: str) -> str | None:
        return None

    @property
    def changes(self) -> int:
        return 0


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field
class Credentials:
    """The keys to try, in rotation order, and where they came from (never logged)."""

    keys: tuple[str | None, ...]
    source: Source
    login: Login | None = None  # the vault record the key came from

    @property
    def oauth(self) -> bool:
        """True when the key is an OAuth access token (sent as a bearer token, renewable)."""
        return self.login is not None and self.login.kind is Kind.OAUTH

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
    stored = await vault.current(provider.id)
    if stored is not None and stored.bearer:
        return Credentials((stored.bearer,), "vault", stored)
    if settings.api_keys:
        return await _as_used(provider, vault, settings.api_keys, "config")
    for name in provider.env_keys:
        if environ.get(name):
            return await _as_used(provider, vault, (environ[name],), "env")
    if provider.key_optional:
        return Credentials((None,), "none")
    if moved := vault.set_aside(provider.id):
        raise VaultRecordInvalid(
            f"{provider.id}'s stored credential could not be read; it was moved aside",
            provider=provider.id,
            movedTo=moved,
        )
    raise CredentialsMissing(
        f"no credential for {provider.id}",
        provider=provider.id,
        envKeys=list(provider.env_keys),
    )


async def _as_used(
    provider: Provider, vault: Vault, keys: tuple[str, ...], source: Source
) -> Credentials:
    login = await vault.exchanged(provider.id, keys[0])
    if login is None:
        return Credentials(keys, source)
    return Credentials((login.bearer,), source, login)
