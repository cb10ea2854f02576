"""The credential broker: stored keys and logins, flows, imports, logout, status.

:class:`Auth` is one async context manager in the app's lifecycle, built on the vault and
the shared HTTP session. RPC handlers call it with canonical provider ids; it never sees a
transport. Validation of API keys needs a provider call, which routing owns, so callers pass
a ``check`` function in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import structlog

from daemon.auth import browser, device, importers, oauth_http
from daemon.auth.flows import Flow, Flows
from daemon.auth.login_config import LoginCatalog
from daemon.auth.logins import LoginSpec
from daemon.auth.records import Kind, Login, api_key_login, now_ms
from daemon.auth.session import Sessions
from daemon.errors import ImportFailed, LoginFailed, RequestInvalid
from daemon.providers.model import LoginMethod
from daemon.store.vault import Vault

log = structlog.get_logger("daemon.auth")

KeyCheck = Callable[[str], Awaitable[None]]
API_KEY_FLOW_TTL_MS = 30 * 60_000


class ApiKeyDriver:
    """The ``api_key`` method as a flow: start says where to get a key, complete takes it."""

    def __init__(self, check: KeyCheck) -> None:
        self._check = check

    async def complete(self, flow: Flow, answer: Mapping[str, str]) -> Login:
        key = (answer.get("apiKey") or "").strip()
        if not key:
            raise RequestInvalid("an api_key login is completed with apiKey", field="apiKey")
        await self._check(key)
        return api_key_login(key)

    async def close(self) -> None:
        return None


class Auth:
    """Everything the ``auth.*`` methods do."""

    def __init__(
        self,
        vault: Vault,
        catalog: LoginCatalog,
        http: aiohttp.ClientSession,
        environ: Mapping[str, str],
        home: Path,
    ) -> None:
        self.vault, self.catalog, self._http = vault, catalog, http
        self._environ, self._home = environ, home
        self.sessions = Sessions(vault, catalog, http)
        self.flows = Flows(self._store_flow)

    async def __aenter__(self) -> Auth:
        await self.flows.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.flows.__aexit__(kind, exc, tb)
        await self.sessions.settle()

    # -- flows -------------------------------------------------------------------------------

    async def start(self, provider: str, method: str | None, account: str, check: KeyCheck) -> Flow:
        """Start a login; the Flow says what to show the person."""
        spec, chosen = self.catalog.method(provider, method)
        if chosen is LoginMethod.API_KEY:
            flow = Flow(
                provider=provider,
                account=account,
                method=chosen,
                expires_at_ms=now_ms() + API_KEY_FLOW_TTL_MS,
                url=spec.key_url,
            )
            return self.flows.add(flow, ApiKeyDriver(check))
        if chosen is LoginMethod.DEVICE:
            return await device.start(self.flows, self._http, spec, account)
        return await browser.start(self.flows, self._http, spec, account, chosen)

    async def _store_flow(self, flow: Flow, login: Login) -> None:
        await self.store(flow.provider, flow.account, login)

    async def store(self, provider: str, account: str, login: Login) -> None:
        """Write ``login`` as the provider account's record (replacing what was there)."""
        await self.vault.put(provider, account, login.to_json())
        log.info("credential_stored", provider=provider, account=account, kind=login.kind.value)

    # -- keys, imports, logout ---------------------------------------------------------------

    async def delete(self, provider: str, account: str) -> bool:
        """Forget the record; True when there was one."""
        return await self.vault.delete(provider, account)

    async def import_login(
        self, provider: str, path: str | None, account: str, overwrite: bool
    ) -> dict[str, Any]:
        """Copy a login from an official CLI's file into the vault."""
        spec = self.catalog.spec(provider)
        if LoginMethod.IMPORT not in spec.methods:
            raise ImportFailed(f"{provider} offers no import", provider=provider)
        if not overwrite and await self.vault.get(provider, account) is not None:
            return {
                "provider": provider,
                "account": account,
                "imported": False,
                "reason": "a record exists; pass overwrite: true to replace it",
            }
        login = await asyncio.to_thread(self._read_import, provider, path)
        await self.store(provider, account, login)
        return {
            "provider": provider,
            "account": account,
            "imported": True,
            "kind": login.kind.value,
            "expiresAt": login.expires_at_ms,
        }

    def _read_import(self, provider: str, path: str | None) -> Login:
        where = Path(path).expanduser() if path else None
        return importers.import_login(provider, where, self._environ, self._home)

    async def logout(self, provider: str, account: str) -> dict[str, Any]:
        """Delete the record and revoke its tokens where the provider has an endpoint."""
        payload = await self.vault.get(provider, account)
        revoked = False
        if payload is not None:
            login = Login.from_json(payload)
            spec = self.catalog.specs.get(provider)
            if spec is not None and login.kind is Kind.OAUTH:
                revoked = await self._revoke(spec, login)
        removed = await self.vault.delete(provider, account)
        return {"provider": provider, "account": account, "removed": removed, "revoked": revoked}

    async def _revoke(self, spec: LoginSpec, login: Login) -> bool:
        url = spec.endpoints.revoke_url
        token = login.secret_refresh or login.secret_access
        if url is None or token is None:
            return False
        body = {"token": token, "client_id": spec.endpoints.client_id}
        with contextlib.suppress(LoginFailed):  # the local record goes either way
            return await oauth_http.revoke(self._http, url, body)
        return False

    # -- status ------------------------------------------------------------------------------

    async def records(self) -> list[dict[str, Any]]:
        """Every vault record's public facts."""
        described = []
        for provider, account in await self.vault.entries():
            payload = await self.vault.get(provider, account)
            if payload is None:
                continue
            login = Login.from_json(payload)
            source = "import" if login.imported_from else "vault"
            described.append(
                {"provider": provider, "account": account, "source": source, **login.describe()}
            )
        return described


def pasted_answer(params: Mapping[str, Any]) -> dict[str, str]:
    """The one answer of ``auth.oauth.complete``; FlowRejected-free checks of its shape."""
    given = {k: str(params[k]) for k in ("code", "redirectUrl", "apiKey") if params.get(k)}
    if len(given) != 1:
        raise RequestInvalid("give exactly one of code, redirectUrl, apiKey", field="code")
    return given
