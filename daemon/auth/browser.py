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
import html
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from aiohttp import web

from daemon.auth import tokens
from daemon.auth.flows import Flow, Flows
from daemon.auth.logins import LoginSpec
from daemon.auth.oauth_http import OAuthRefusal, Pkce, authorize_url
from daemon.auth.records import Login, now_ms
from daemon.errors import FlowRejected, LoginFailed, RequestInvalid
from daemon.providers.model import LoginMethod

FLOW_TTL_MS = 10 * 60_000
_PAGE = "<!doctype html><meta charset=utf-8><title>Switchboard</title><p>{}</p>"


class BrowserDriver:
    """One browser (or paste) login: the PKCE pair, the redirect and its loopback server."""

    def __init__(
        self,
        flows: Flows,
        session: aiohttp.ClientSession,
        spec: LoginSpec,
        redirect_uri: str,
        runner: web.AppRunner | None,
    ) -> None:
        self._flows = flows
        self._session = session
        self._spec = spec
        self._pkce = Pkce.new()
        self._redirect_uri = redirect_uri
        self._runner = runner
        self._redeeming = asyncio.Lock()  # one code exchange at a time: loopback and paste race
        self.flow: Flow | None = None

    def authorize_url(self) -> str:
        return authorize_url(self._spec, self._redirect_uri, self._pkce)

    async def complete(self, flow: Flow, answer: Mapping[str, str]) -> Login:
        """Finish from a pasted ``redirectUrl`` or ``code`` (optionally ``code#state``)."""
        return await self._redeem(_pasted(answer))

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _redeem(self, params: Mapping[str, str]) -> Login:
        if "error" in params:
            raise LoginFailed(f"the provider refused the login ({params['error'][:64]})")
        code = params.get("code")
        if not code:
            raise FlowRejected("the answer carries no authorization code")
        state = params.get("state")
        if state is not None and state != self._pkce.state:
            raise FlowRejected("the answer's state does not match this login (a stale tab?)")
        async with self._redeeming:
            try:
                return await tokens.redeem_code(
                    self._session, self._spec, code, self._redirect_uri, self._pkce.verifier
                )
            except OAuthRefusal as refusal:
                raise FlowRejected(
                    f"the provider refused the code ({refusal.error}); approve again in the "
                    "browser and use the new redirect",
                    oauthError=refusal.error,
                ) from None

    async def on_redirect(self, request: web.Request) -> web.Response:
        """The loopback redirect: finish the flow and tell the person how it went."""
        flow = self.flow
        if flow is None:
            return _page(503, "This login is not ready yet; reload the page.")
        try:
            login = await self._redeem(dict(request.query))
        except FlowRejected as exc:
            return _page(400, f"Not accepted: {exc.detail}. The login is still open.")
        except LoginFailed as exc:
            await self._flows.fail(flow, exc)
            return _page(502, f"The login failed: {exc.detail}. Start it again.")
        await self._flows.succeed(flow, login)
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
    app = web.Application()
    runner: web.AppRunner | None = None
    port = endpoints.redirect_ports[0] if endpoints.redirect_ports else 0
    if method is LoginMethod.BROWSER:
        runner, port = await _listen(app, endpoints.redirect_ports)
    if port == 0:  # paste with any port allowed: name one nobody listens on
        runner_probe, port = await _listen(web.Application(), ())
        assert runner_probe is not None
        await runner_probe.cleanup()
    redirect_uri = f"http://{endpoints.redirect_host}:{port}{endpoints.redirect_path}"
    driver = BrowserDriver(flows, session, spec, redirect_uri, runner)
    app.router.add_get(endpoints.redirect_path, driver.on_redirect)
    flow = Flow(
        provider=spec.provider,
        account=account,
        method=method,
        expires_at_ms=now_ms() + FLOW_TTL_MS,
        url=driver.authorize_url(),
        loopback=runner is not None,
    )
    driver.flow = flow
    return flows.add(flow, driver)


async def _listen(app: web.Application, ports: tuple[int, ...]) -> tuple[web.AppRunner | None, int]:
    """A loopback server on the first free port of ``ports`` (any port when empty)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for port in ports or (0,):
        site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=False)
        try:
            await site.start()
        except OSError:
            continue  # busy: try the registered fallback, then fall back to pasting
        return runner, int(runner.addresses[-1][1])
    await runner.cleanup()
    return None, ports[0] if ports else 0


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
