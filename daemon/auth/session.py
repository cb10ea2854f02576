"""Logins in use: fresh access tokens for every call, and refresh that never loses a token.

- A token is renewed before it expires (``margin_ms`` ahead) and once more when a provider
  answers 401 to it. Renewal runs under a per-credential lock, so any number of concurrent
  calls share one refresh; the vault's cross-process lock spans the whole renewal, so two
  daemons (or a CLI and a daemon) never both spend one single-use refresh token.
- The rotated refresh token is written to the vault before the new access token is used.
- A refresh the server refuses (reused, invalid) first re-reads the vault, since another
  process may have refreshed meanwhile; only then is the caller told to log in again.
- A renewal, once sent, runs to its end even when the call that wanted it gives up (its
  timeout, its client gone): the server rotates the refresh token on receipt, and an answer
  nobody read would leave a spent one in the vault, whose next use revokes the login.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp
import structlog

from daemon.auth import tokens
from daemon.auth.login_config import LoginCatalog
from daemon.auth.logins import Exchange, LoginSpec
from daemon.auth.oauth_http import TOKEN_TIMEOUT_S, OAuthRefusal
from daemon.auth.records import DEFAULT_ACCOUNT, Kind, Login, Origin
from daemon.errors import LoginFailed, NeedsLogin, UpstreamUnavailable

log = structlog.get_logger("daemon.auth")

MARGIN_MS = 5 * 60_000  # renew this long before expiry (pi-mono's margin)


class LoginStore(Protocol):
    """What sessions need of the vault (``daemon.store.vault.Vault`` is one)."""

    async def get(self, provider: str, account: str = DEFAULT_ACCOUNT) -> dict[str, Any] | None: ...

    async def reload(
        self, provider: str, account: str = DEFAULT_ACCOUNT
    ) -> dict[str, Any] | None: ...

    async def put(self, provider: str, account: str, payload: Mapping[str, Any]) -> None: ...

    def locked(self, provider: str, account: str = DEFAULT_ACCOUNT) -> Any: ...

    @property
    def unavailable(self) -> str | None: ...

    @property
    def changes(self) -> int: ...

    def problems(self) -> list[dict[str, str]]: ...


def needs_login(provider: str, why: str) -> NeedsLogin:
    """The error a caller gets when only a new login helps, with the command that does it."""
    return NeedsLogin(
        f"{provider}: {why}", provider=provider, command=f"switchboard login {provider}"
    )


class Sessions:
    """Hands out current logins, renewing them when they are about to expire."""

    def __init__(
        self,
        store: LoginStore,
        catalog: LoginCatalog,
        http: aiohttp.ClientSession,
        margin_ms: int = MARGIN_MS,
    ) -> None:
        self._store, self._catalog, self._http = store, catalog, http
        self._margin_ms = margin_ms
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._renewing: set[asyncio.Task[Login]] = set()
        self._inflight: dict[tuple[str, str], asyncio.Task[Login]] = {}
        # Logins minted from config/env keys (Copilot), by (provider, key): never stored.
        self._minted: dict[tuple[str, str], Login] = {}
        self.renewals = 0  # refresh grants sent by this process (benchmarks count them)

    @property
    def changes(self) -> int:
        """Grows whenever a stored record may have changed."""
        return self._store.changes

    async def current(self, provider: str, account: str = DEFAULT_ACCOUNT) -> Login | None:
        """The stored login, renewed first when it expires within the margin; None when there
        is none (or no vault to hold one: config and environment keys still work then)."""
        if self._store.unavailable is not None:
            return None
        payload = await self._store.get(provider, account)
        if payload is None:
            return None
        login = Login.from_json(payload)
        if login.kind is not Kind.OAUTH:
            return login
        spec = self._catalog.spec(provider)
        if login.expires_within(self._margin_ms) or tokens.incomplete(spec, login):
            try:
                return await self.renew(provider, account, login)
            except UpstreamUnavailable:
                if login.bearer is None or login.expires_within(0):
                    raise
                log.warning("login_refresh_deferred", provider=provider, account=account)
                return login  # renewal failed early; the token still works for a while
        return login

    async def renew(self, provider: str, account: str, stale: Login) -> Login:
        """A login newer than ``stale``: someone else's fresh one, or one renewed now. The
        renewal goes on if the caller is cancelled (see the module's docstring)."""
        key = (provider, account)
        task = self._inflight.get(key)
        if task is None:  # single flight: every caller that comes meanwhile shares this one
            task = asyncio.ensure_future(self._renew_once(provider, account, stale))
            self._inflight[key] = task
            self._renewing.add(task)
            task.add_done_callback(lambda done: self._settled(key, done))
        return await asyncio.shield(task)

    def _settled(self, key: tuple[str, str], task: asyncio.Task[Login]) -> None:
        self._renewing.discard(task)
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # a caller that went away cannot retrieve it

    async def settle(self) -> None:
        """Let renewals in flight finish (and reach the vault) before the daemon stops, for
        as long as a token endpoint is given to answer."""
        if self._renewing:
            await asyncio.wait(set(self._renewing), timeout=TOKEN_TIMEOUT_S)

    async def _renew_once(self, provider: str, account: str, stale: Login) -> Login:
        lock = self._locks.setdefault((provider, account), asyncio.Lock())
        async with lock:
            # Renewed by another call of this process while this one waited: no disk read.
            cached = await self._store.get(provider, account)
            if cached is not None and self._newer(Login.from_json(cached), stale):
                return Login.from_json(cached)
            async with self._store.locked(provider, account):
                current = await self._read(provider, account)
                if self._newer(current, stale):
                    return current  # renewed by another process meanwhile
                return await self._renew(provider, account, current)

    def _newer(self, login: Login, stale: Login) -> bool:
        # Not the margin: a token renewed a moment ago is as fresh as its provider makes
        # them, even one that lives less than the margin (every call would renew again).
        if login.bearer is None or login.expires_within(0):
            return False
        # A new token, or the same one completed meanwhile (a Code Assist project added).
        return login.secret_access != stale.secret_access or login.claims != stale.claims

    async def exchanged(
        self, provider: str, key: str, refused: Login | None = None
    ) -> Login | None:
        """The API token a Copilot-style config or env key mints, kept in memory only and
        minted again before it expires or after the provider ``refused`` it; None when the
        key goes as it is (no such provider, or its opt-in exchange is not enabled)."""
        spec = self._catalog.specs.get(provider)
        if spec is None or spec.exchange is not Exchange.COPILOT or not self._catalog.usable(spec):
            return None
        slot = (provider, key)
        minted = self._minted.get(slot)
        if minted is not None and not self._spent(minted, refused):
            return minted
        async with self._locks.setdefault(slot, asyncio.Lock()):
            minted = self._minted.get(slot)
            if minted is None or self._spent(minted, refused):
                minted = self._minted[slot] = await self._mint(spec, key)
        return minted

    def set_aside(self, provider: str) -> str | None:
        """Where the provider's default record went when it did not open (see the vault)."""
        if self._store.unavailable is not None:
            return None
        name = f"{provider}.{DEFAULT_ACCOUNT}"
        return next((p["movedTo"] for p in self._store.problems() if p["record"] == name), None)

    def _spent(self, minted: Login, refused: Login | None) -> bool:
        if refused is not None and minted.secret_access == refused.secret_access:
            return True
        return minted.expires_within(self._margin_ms)

    async def _mint(self, spec: LoginSpec, key: str) -> Login:
        seed = Login(kind=Kind.OAUTH, origin=Origin.STORED, secret_refresh=key)
        try:
            return await tokens.exchanged(self._http, spec, seed)
        except OAuthRefusal as refusal:
            raise needs_login(
                spec.provider, f"the configured token was refused ({refusal.error})"
            ) from None
        except LoginFailed as exc:
            raise UpstreamUnavailable(
                f"{spec.provider}: no API token could be minted now ({exc.detail})",
                provider=spec.provider,
            ) from None

    async def _renew(self, provider: str, account: str, current: Login) -> Login:
        spec = self._catalog.spec(provider)
        try:
            live = current.bearer is not None and not current.expires_within(self._margin_ms)
            if live and tokens.incomplete(spec, current):
                # A live token whose login lacks its second step (a Code Assist project).
                fresh = await tokens.exchanged(self._http, spec, current)
            else:  # expiring, or refused by the provider (a 401): a new access token
                self.renewals += 1
                fresh = await tokens.renew(self._http, spec, current)
        except LoginFailed as exc:  # the authorization server is down or answered nonsense
            raise UpstreamUnavailable(
                f"{provider}: the login could not be renewed now ({exc.detail})",
                provider=provider,
            ) from None
        except OAuthRefusal as refusal:
            again = await self._read(provider, account)
            if again.secret_refresh != current.secret_refresh:
                return again  # another process rotated it: theirs is the live one
            log.warning("login_refresh_refused", provider=provider, error=refusal.error)
            raise needs_login(
                provider, f"the provider refused to renew the login ({refusal.error})"
            ) from None
        await self._store.put(provider, account, fresh.to_json())
        log.info("login_refreshed", provider=provider, account=account)
        return fresh

    async def _read(self, provider: str, account: str) -> Login:
        payload = await self._store.reload(provider, account)
        if payload is None:
            raise needs_login(provider, "the login is no longer stored")
        return Login.from_json(payload)
