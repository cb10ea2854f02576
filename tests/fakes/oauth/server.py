"""The fake OAuth authorization server: every provider variant on one aiohttp app.

``FakeOAuth`` mounts each :class:`~tests.fakes.oauth.state.Variant` of :data:`VARIANTS`
under its own prefix (``/codex``, ``/google``, ``/qwen``, ``/kimi``, ``/minimax``,
``/github``) on 127.0.0.1 at a free port, records every request in ``received``, and
:meth:`FakeOAuth.oauth_config` writes the ``[oauth.<id>]`` tables that point the daemon at it.

A test plays the person with :meth:`FakeOAuth.browse` (the browser's authorization request,
returning the redirect without following it), :meth:`FakeOAuth.approve` /
:meth:`FakeOAuth.deny` (a device user code) and :meth:`FakeOAuth.revoke_token` (revoking
the app at the provider), and breaks token endpoints with :meth:`FakeOAuth.fail`.

Threads: the plain methods and knobs are safe from any thread (they take ``lock``); the
coroutines (``start``, ``stop``, ``browse``, ``wait_for``) run on the fake's loop, which is
what :class:`tests.support.oauth.ThreadedOAuth` is for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Unpack

import aiohttp
from aiohttp import web

from tests.fakes.oauth import codex, copilot, google, minimax, rfc8628
from tests.fakes.oauth.devices import DeviceGrant
from tests.fakes.oauth.state import Knobs, Received, Route, ServerState, Variant
from tests.fakes.oauth.store import User
from tests.fakes.oauth.wire import Call, answer, read_call
from tests.fakes.serving import GARBAGE_HTML, FakeServer, reset

VARIANTS: tuple[Variant, ...] = (
    codex.VARIANT,
    google.VARIANT,
    rfc8628.QWEN_VARIANT,
    rfc8628.KIMI_VARIANT,
    minimax.VARIANT,
    copilot.VARIANT,
)
BY_PROVIDER: Mapping[str, Variant] = {variant.provider: variant for variant in VARIANTS}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_BROWSER = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
}


class Fault(StrEnum):
    """How a faulted endpoint answers instead of doing its job."""

    HTML = "html"  # a CDN's challenge page: 403 text/html
    SERVER_ERROR = "server-error"  # 500 with an RFC 6749-shaped JSON body
    HANG = "hang"  # no answer until clear_faults() (then the usual one) or stop() (reset)
    GARBAGE = "garbage"  # 200 application/json whose body is cut-off JSON


FAULT_ANSWERS: Mapping[Fault, Callable[[], web.Response]] = {
    Fault.HTML: lambda: web.Response(status=403, text=GARBAGE_HTML, content_type="text/html"),
    Fault.SERVER_ERROR: lambda: answer(
        {"error": "server_error", "error_description": "The server had an internal error."}, 500
    ),
    Fault.GARBAGE: lambda: web.Response(
        text='{"access_token": "at-cut-off', content_type="application/json"
    ),
}


@dataclass
class _Rule:
    fault: Fault
    remaining: int | None  # None: until clear_faults()


class NoRedirect(Exception):
    """:meth:`FakeOAuth.browse` got a page, not a redirect (a bad client or redirect URI)."""

    def __init__(self, status: int, page: str) -> None:
        super().__init__(f"the authorization request answered HTTP {status}, not a redirect")
        self.status = status
        self.page = page


def toml_value(value: object) -> str:
    """``value`` (a string, integer, boolean or list of strings) as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's string escapes are valid TOML basic-string escapes
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return "[" + ", ".join(json.dumps(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def variant_of(provider: str) -> Variant:
    """The variant serving ``provider``; ValueError names the ones there are."""
    try:
        return BY_PROVIDER[provider]
    except KeyError:
        raise ValueError(f"no fake for {provider!r} (have {', '.join(BY_PROVIDER)})") from None


class FakeOAuth(ServerState, FakeServer):
    """Every provider's authorization server: ``async with FakeOAuth() as fake: ...``."""

    def __init__(self, **knobs: Unpack[Knobs]) -> None:
        # codex's redirect may use any loopback port unless a test pins the registered ones.
        knobs.setdefault("codex_redirect_ports", ())
        super().__init__(**knobs)
        self.app = web.Application()
        for variant in VARIANTS:
            for route in variant.routes:
                self.app.router.add_route(route.method, route.path, self._endpoint(route))
        self._paths = frozenset(route.path for v in VARIANTS for route in v.routes)
        self._faults: dict[str, _Rule] = {}
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._released = asyncio.Event()  # set (and replaced) to let hung requests go
        self._arrived = asyncio.Event()  # set (and replaced) on every recorded request

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> str:
        """Listen on 127.0.0.1 at a free port, register every variant's clients; return the
        base URL (``http://127.0.0.1:<port>``)."""
        if self._runner is not None:
            raise RuntimeError("FakeOAuth is already started")
        self._loop, self._stopping = asyncio.get_running_loop(), False
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = next(a for a in runner.addresses if isinstance(a, tuple))[1]
        self._runner, self.base_url = runner, f"http://127.0.0.1:{port}"
        for variant in VARIANTS:
            for client in variant.clients(self):
                self.register_client(client)
        return self.base_url

    async def stop(self) -> None:
        """Stop listening; hung requests get their connection reset."""
        if self._runner is None:
            return
        self._stopping = True
        self._wake()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    # -- serving -----------------------------------------------------------------------------

    def _endpoint(self, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            call = await read_call(request)
            self._record(call)
            fault = self._take_fault(route.path)
            if fault is Fault.HANG:
                await self._released.wait()
                if self._stopping:
                    reset(request)
                    return web.Response(status=503)  # never reaches the client
            elif fault is not None:
                return FAULT_ANSWERS[fault]()
            with self.lock:
                return route.handler(self, call)

        return handle

    def _record(self, call: Call) -> None:
        headers = {name.lower(): value for name, value in call.headers.items()}
        seen = Received(call.method, call.path, dict(call.query), headers, dict(call.params))
        with self.lock:
            self.received.append(seen)
        self._arrived.set()
        self._arrived = asyncio.Event()

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            rule = self._faults.get(path)
            if rule is None:
                return None
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    del self._faults[path]
            return rule.fault

    def _wake(self) -> None:
        """Let every hung request go (on the fake's loop)."""
        self._released.set()
        self._released = asyncio.Event()

    # -- knobs -------------------------------------------------------------------------------

    def fail(
        self,
        fault: Fault,
        provider: str | None = None,
        *,
        path: str | None = None,
        times: int | None = None,
    ) -> None:
        """Answer with ``fault``: at ``path`` if given, else at every token endpoint of
        ``provider`` (of every provider when None); ``times`` requests per path, or until
        :meth:`clear_faults`."""
        if path is not None and path not in self._paths:
            raise ValueError(f"the fake serves no {path!r}")
        variants = VARIANTS if provider is None else (variant_of(provider),)
        paths = [path] if path else [r.path for v in variants for r in v.routes if r.token_endpoint]
        with self.lock:
            for each in paths:
                self._faults[each] = _Rule(fault, times)

    def clear_faults(self) -> None:
        """Answer normally again; requests hung by :attr:`Fault.HANG` get their answer now."""
        with self.lock:
            self._faults.clear()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake)

    # -- the person --------------------------------------------------------------------------

    def approve(self, user_code: str, user: User | None = None) -> DeviceGrant:
        """Approve a device login's user code as ``user`` (default :attr:`user`); KeyError
        when no pending login shows that code."""
        with self.lock:
            return self.devices.decide(user_code, user or self.user)

    def deny(self, user_code: str) -> DeviceGrant:
        """Deny a device login's user code; KeyError as for :meth:`approve`."""
        with self.lock:
            return self.devices.decide(user_code, None)

    def revoke_token(self, value: str) -> None:
        """Revoke a token at the provider (a refresh token takes its family along); KeyError
        for a token the fake never issued."""
        with self.lock:
            self.store.revoke(self.store.tokens[value])

    def expire_tokens(self, kind: str = "access") -> int:
        """Make every live ``access``/``refresh``/``copilot`` token expire now; how many."""
        with self.lock:
            return self.store.expire(kind)

    def live_tokens(self, provider: str, kind: str = "access") -> list[str]:
        """The still-good tokens of ``kind`` issued for ``provider``, oldest first."""
        with self.lock:
            return [
                value
                for value, token in self.store.tokens.items()
                if token.grant.provider == provider
                and token.kind == kind
                and token.live(self.now())
            ]

    async def browse(self, authorize_url: str, *, deny: bool = False) -> str:
        """Open ``authorize_url`` as a browser would (approving, or denying with ``deny``)
        and return the redirect's Location without following it; NoRedirect for a page."""
        if self.base_url is None or not authorize_url.startswith(self.base_url + "/"):
            raise ValueError(f"{authorize_url!r} is not on this fake ({self.base_url})")
        if deny:
            with self.lock:
                self.deny_next = True
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(authorize_url, headers=_BROWSER, allow_redirects=False) as response,
            ):
                page = await response.text()
        finally:
            with self.lock:
                self.deny_next = False
        location = response.headers.get("Location")
        if response.status not in _REDIRECTS or location is None:
            raise NoRedirect(response.status, page)
        return location

    # -- what happened -----------------------------------------------------------------------

    def requests_to(self, path: str) -> list[Received]:
        """The recorded requests to ``path`` (e.g. ``codex.TOKEN``), oldest first."""
        with self.lock:
            return [seen for seen in self.received if seen.path == path]

    async def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Received]:  # noqa: ASYNC109
        """Wait until ``count`` requests to ``path`` were recorded; return them."""
        async with asyncio.timeout(timeout):
            while len(found := self.requests_to(path)) < count:
                await self._arrived.wait()
        return found

    def oauth_config(self, providers: Iterable[str] | None = None) -> str:
        """``[oauth.<id>]`` TOML tables pointing the daemon at this fake, for ``providers``
        (every variant's when None); opt-in logins get ``enabled = true``."""
        chosen = VARIANTS if providers is None else [variant_of(p) for p in providers]
        tables = []
        for variant in chosen:
            lines = [f"[oauth.{variant.provider}]"]
            lines += [f"{key} = {toml_value(v)}" for key, v in variant.config(self).items()]
            tables.append("\n".join(lines))
        return "\n\n".join(tables) + "\n"
