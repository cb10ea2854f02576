"""The browser login: authorization code + PKCE S256, a loopback redirect, or a paste.

The daemon listens on 127.0.0.1 at the port the provider's redirect allow-list requires
(openai-codex: 1455, then its registered fallback 1457), or any free port when the provider
accepts any. When no port can be had, or the person's browser is on another machine, the
redirect fails to load and the person pastes its URL (or ``code#state``) into
``auth.oauth.complete``; the redirect URI sent to the server is the same either way.

A wrong ``state``, or a code the server refuses (reused, PKCE mismatch), is turned away
with :class:`~daemon.errors.FlowRejected` and the flow stays open for the right answer.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import os
import socket
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from aiohttp import web

from daemon.auth import tokens
from daemon.auth.flows import Flow, Flows, FlowStatus
from daemon.auth.logins import LoginSpec
from daemon.auth.oauth_http import OAuthRefusal, Pkce, authorize_url
from daemon.auth.records import Login, now_ms
from daemon.errors import FlowNotFound, FlowRejected, LoginFailed, RequestInvalid
from daemon.providers.model import LoginMethod

_PAGE = "<!doctype html><meta charset=utf-8><title>Switchboard</title><p>{}</p>"


class BrowserDriver:
    """One browser (or paste) login: the PKCE pair, the redirect and its loopback server."""

    def __init__(
        self, flows: Flows, session: aiohttp.ClientSession, spec: LoginSpec, redirect_uri: str
    ) -> None:
        self._flows = flows
        self._session = session
        self._spec = spec
        self._pkce = Pkce.new()
        self._redirect_uri = redirect_uri
        self._runner: web.AppRunner | None = None
        self._redeeming = asyncio.Lock()  # one code exchange at a time: loopback and paste race
        self._redeemed = False
        self.flow: Flow | None = None

    def authorize_url(self) -> str:
        return authorize_url(self._spec, self._redirect_uri, self._pkce)

    async def listen(self, sock: socket.socket) -> None:
        """Serve the redirect on ``sock`` (bound at the port the redirect URI names)."""
        app = web.Application()
        app.router.add_get(self._spec.endpoints.redirect_path, self.on_redirect)
        runner = web.AppRunner(app, access_log=None)  # the redirect's query holds the code
        await runner.setup()
        try:
            await web.SockSite(runner, sock).start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        self._runner = runner

    async def complete(self, flow: Flow, answer: Mapping[str, str]) -> Login:
        """Finish from a pasted ``redirectUrl`` or ``code`` (optionally ``code#state``)."""
        return await self._redeem(flow, _pasted(answer))

    async def close(self) -> None:
        """Stop listening now, so the port is free when this returns. The connections wind
        down afterwards: the redirect being answered may be what ended the flow, and a server
        shutting down waits for its handlers."""
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        for site in runner.sites:
            await site.stop()
        self._flows.run(runner.cleanup())

    async def _redeem(self, flow: Flow, params: Mapping[str, str]) -> Login:
        state = params.get("state")
        if state is not None and not hmac.compare_digest(state.encode(), self._pkce.state.encode()):
            # Checked first, errors included: a stale tab must not end this login.
            raise FlowRejected("the answer's state does not match this login (a stale tab?)")
        if "error" in params:
            raise LoginFailed(f"the provider refused the login ({params['error'][:64]})")
        code = params.get("code")
        if not code:
            raise FlowRejected("the answer carries no authorization code")
        async with self._redeeming:
            # The other path (loopback or paste) got here first. A second redemption would be
            # a reused code, for which the server revokes what the first one got.
            if self._redeemed:
                await flow.ended.wait()  # its login is being stored
            if flow.status is not FlowStatus.PENDING:
                raise FlowNotFound(
                    f"login flow {flow.id!r} has ended ({flow.status.value})",
                    flowId=flow.id,
                    status=flow.status.value,
                )
            try:
                login = await tokens.redeem_code(
                    self._session, self._spec, code, self._redirect_uri, self._pkce.verifier
                )
            except OAuthRefusal as refusal:
                raise FlowRejected(
                    f"the provider refused the code ({refusal.error}); approve again in the "
                    "browser and use the new redirect",
                    oauthError=refusal.error,
                ) from None
            self._redeemed = True
            return login

    async def on_redirect(self, request: web.Request) -> web.Response:
        """The loopback redirect: finish the flow and tell the person how it went."""
        flow = self.flow
        if flow is None:
            return _page(503, "This login is not ready yet; reload the page.")
        try:
            login = await self._redeem(flow, dict(request.query))
        except FlowRejected as exc:
            return _page(400, f"Not accepted: {exc.detail}. The login is still open.")
        except FlowNotFound:
            return _page(409, "This login has already ended; go back to your program.")
        except LoginFailed as exc:
            await self._flows.fail(flow, exc)
            return _page(502, f"The login failed: {exc.detail}. Start it again.")
        await self._flows.succeed(flow, login)
        if flow.status is not FlowStatus.COMPLETE:  # storing it failed
            return _page(500, "The login could not be stored; see your program.")
        return _page(200, "Signed in. You can close this tab and go back to your program.")


async def start(
    flows: Flows,
    session: aiohttp.ClientSession,
    spec: LoginSpec,
    account: str,
    method: LoginMethod,
) -> Flow:
    """Start a browser login (``method`` BROWSER) or a paste-only one (PASTE)."""
    endpoints = spec.endpoints
    sock = _bound(endpoints.redirect_ports) if method is LoginMethod.BROWSER else None
    if sock is not None:
        port = int(sock.getsockname()[1])
    elif endpoints.redirect_ports:  # busy, or pasting: the redirect still names the pinned port
        port = endpoints.redirect_ports[0]
    else:  # any port allowed: name one nobody listens on
        probe = _bound(())
        assert probe is not None, "the system always has a free port"
        port = int(probe.getsockname()[1])
        probe.close()
    redirect_uri = f"http://{endpoints.redirect_host}:{port}{endpoints.redirect_path}"
    driver = BrowserDriver(flows, session, spec, redirect_uri)
    if sock is not None:
        await driver.listen(sock)
    flow = Flow(
        provider=spec.provider,
        account=account,
        method=method,
        expires_at_ms=now_ms() + spec.flow_ttl_ms,
        url=driver.authorize_url(),
        loopback=sock is not None,
    )
    driver.flow = flow
    return flows.add(flow, driver)


def _bound(ports: tuple[int, ...]) -> socket.socket | None:
    """A socket bound to 127.0.0.1 at the first free port of ``ports`` (any when empty)."""
    for port in ports or (0,):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if os.name == "posix":
            # The last login's connections linger in TIME_WAIT for a minute and would make
            # its port look busy; POSIX still refuses a port another socket listens on.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue  # busy: try the registered fallback, then fall back to pasting
        return sock
    return None


def _pasted(answer: Mapping[str, str]) -> dict[str, str]:
    """The redirect's parameters from a pasted URL, ``code#state``, or a bare code."""
    if url := answer.get("redirectUrl"):
        parts = urlsplit(url.strip())
        params = dict(parse_qsl(parts.query)) or dict(parse_qsl(parts.fragment))
        if not params:
            raise RequestInvalid("redirectUrl has no query parameters", field="redirectUrl")
        return params
    code = (answer.get("code") or "").strip()
    if not code:
        raise RequestInvalid("give code, redirectUrl or apiKey", field="code")
    code, _, state = code.partition("#")
    return {"code": code, **({"state": state} if state else {})}


def _page(status: int, text: str) -> web.Response:
    return web.Response(
        status=status, text=_PAGE.format(html.escape(text)), content_type="text/html"
    )
