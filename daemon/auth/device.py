"""Device logins: show a code, poll until the person approves it elsewhere.

One poll loop (RFC 8628 section 3.4/3.5: ``interval``, ``slow_down`` adds 5 s,
``authorization_pending``, ``expired_token``, ``access_denied``) drives every dialect; a
dialect is a pair of functions (begin, poll) in :data:`DIALECTS`, keyed by the row's
:class:`~daemon.auth.logins.DeviceDialect`:

- ``rfc8628``: the standard grant (qwen with PKCE, kimi, GitHub whose errors come with 200);
- ``codex``: OpenAI's usercode -> poll for an authorization code -> the usual code exchange;
- ``minimax``: a ``user_code`` grant whose answers carry a ``status`` field and whose expiry
  is an absolute epoch-ms deadline.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog

from daemon.auth import oauth_http, tokens
from daemon.auth.flows import Flow, Flows, FlowStatus
from daemon.auth.logins import DeviceDialect, LoginSpec, TokenBody
from daemon.auth.oauth_http import OAuthRefusal, Pkce
from daemon.auth.records import Login, now_ms
from daemon.errors import LoginFailed, RequestInvalid
from daemon.providers.model import LoginMethod

log = structlog.get_logger("daemon.auth")

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE_GRANT = "urn:ietf:params:oauth:grant-type:user_code"
DEFAULT_INTERVAL_S = 5.0
DEFAULT_TTL_MS = 15 * 60_000
SLOW_DOWN_S = 5.0  # RFC 8628 section 3.5
TRANSIENT_FAILURES = 3  # token endpoint hiccups tolerated in a row while polling


@dataclass(frozen=True, slots=True)
class DeviceGrant:
    """What the device endpoint answered: what to show, and what to poll with."""

    user_code: str
    verification_uri: str | None
    url: str | None  # verification_uri_complete: opens with the code filled in
    interval_s: float
    expires_at_ms: int
    poll_with: Mapping[str, str] = field(repr=False, default_factory=dict)


class Pending(Exception):
    """Not approved yet; ``slow_down`` when the server asked for a longer interval, which
    it may name (GitHub does)."""

    def __init__(self, slow_down: bool = False, interval: object = None) -> None:
        super().__init__("pending")
        self.slow_down = slow_down
        self.interval = interval


Begin = Callable[[aiohttp.ClientSession, LoginSpec, Pkce], Awaitable[DeviceGrant]]
Poll = Callable[[aiohttp.ClientSession, LoginSpec, DeviceGrant, Pkce], Awaitable[Login]]


def _interval(value: object, default: float = DEFAULT_INTERVAL_S) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]  # codex sends a string
    except (TypeError, ValueError):
        return default
    return seconds if seconds >= 0 else default


def _text(answer: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        if isinstance(answer.get(name), str) and answer[name]:
            return str(answer[name])
    return None


def _url(spec: LoginSpec, which: str) -> str:
    url = getattr(spec.endpoints, which)
    assert isinstance(url, str), f"a device login names its {which}"
    return url


async def _call(
    session: aiohttp.ClientSession,
    spec: LoginSpec,
    url: str,
    body: dict[str, str],
    shape: TokenBody = TokenBody.FORM,
) -> dict[str, Any]:
    status, answer = await oauth_http.post(session, url, body, shape, dict(spec.client_headers))
    return oauth_http.checked(status, answer, url)


# -- rfc8628 ---------------------------------------------------------------------------------


async def _rfc_begin(session: aiohttp.ClientSession, spec: LoginSpec, pkce: Pkce) -> DeviceGrant:
    body = {"client_id": spec.endpoints.client_id}
    if spec.endpoints.scopes:
        body["scope"] = " ".join(spec.endpoints.scopes)
    if spec.pkce_on_device:
        body |= {"code_challenge": pkce.challenge, "code_challenge_method": "S256"}
    answer = await _call(session, spec, _url(spec, "device_url"), body)
    device_code, user_code = _text(answer, "device_code"), _text(answer, "user_code")
    if device_code is None or user_code is None:
        raise LoginFailed("the device endpoint answered no device_code / user_code")
    return DeviceGrant(
        user_code=user_code,
        verification_uri=_text(answer, "verification_uri", "verification_url"),
        url=_text(answer, "verification_uri_complete"),
        interval_s=_interval(answer.get("interval")),
        expires_at_ms=tokens.expiry_ms(answer.get("expires_in")) or now_ms() + DEFAULT_TTL_MS,
        poll_with={"device_code": device_code},
    )


async def _rfc_poll(
    session: aiohttp.ClientSession, spec: LoginSpec, grant: DeviceGrant, pkce: Pkce
) -> Login:
    body = {"grant_type": DEVICE_GRANT, "client_id": spec.endpoints.client_id, **grant.poll_with}
    if spec.pkce_on_device:
        body["code_verifier"] = pkce.verifier
    try:
        answer = await _call(session, spec, _url(spec, "token_url"), body)
    except OAuthRefusal as refusal:
        if refusal.error in ("authorization_pending", "slow_down"):
            raise Pending(refusal.error == "slow_down", refusal.interval) from None
        raise
    return tokens.login_from_answer(spec, answer)


# -- codex -----------------------------------------------------------------------------------


async def _codex_begin(session: aiohttp.ClientSession, spec: LoginSpec, pkce: Pkce) -> DeviceGrant:
    url = _url(spec, "device_url") + "/usercode"
    answer = await _call(
        session, spec, url, {"client_id": spec.endpoints.client_id}, TokenBody.JSON
    )
    auth_id, user_code = _text(answer, "device_auth_id"), _text(answer, "user_code", "usercode")
    if auth_id is None or user_code is None:
        raise LoginFailed("the device endpoint answered no device_auth_id / user_code")
    return DeviceGrant(
        user_code=user_code,
        verification_uri=spec.endpoints.verification_uri,
        url=None,
        interval_s=_interval(answer.get("interval")),
        expires_at_ms=now_ms() + DEFAULT_TTL_MS,
        poll_with={"device_auth_id": auth_id, "user_code": user_code},
    )


async def _codex_poll(
    session: aiohttp.ClientSession, spec: LoginSpec, grant: DeviceGrant, pkce: Pkce
) -> Login:
    url = _url(spec, "device_url") + "/token"
    status, answer = await oauth_http.post(session, url, grant.poll_with, TokenBody.JSON)
    if status in (403, 404):  # not approved yet (the dialect has no error codes)
        raise Pending()
    answer = oauth_http.checked(status, answer, url)
    code, verifier = _text(answer, "authorization_code"), _text(answer, "code_verifier")
    if code is None or verifier is None:
        raise LoginFailed("the device login answered no authorization code")
    redirect = spec.endpoints.device_redirect_uri
    assert redirect is not None, "the codex dialect names its device redirect URI"
    return await tokens.redeem_code(session, spec, code, redirect, verifier)


# -- minimax ---------------------------------------------------------------------------------


async def _minimax_begin(
    session: aiohttp.ClientSession, spec: LoginSpec, pkce: Pkce
) -> DeviceGrant:
    body = {
        "response_type": "code",
        "client_id": spec.endpoints.client_id,
        "scope": " ".join(spec.endpoints.scopes),
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        "state": pkce.state,
    }
    headers = {"x-request-id": secrets.token_hex(16)}
    url = _url(spec, "device_url")
    status, answer = await oauth_http.post(session, url, body, headers=headers)
    answer = oauth_http.checked(status, answer, url)
    if answer.get("state") != pkce.state:
        raise LoginFailed("the device endpoint echoed another state (a forged answer?)")
    user_code = _text(answer, "user_code")
    if user_code is None:
        raise LoginFailed("the device endpoint answered no user_code")
    return DeviceGrant(
        user_code=user_code,
        verification_uri=_text(answer, "verification_uri"),
        url=None,
        interval_s=_interval(answer.get("interval"), 2000.0) / 1000,  # minimax: milliseconds
        expires_at_ms=tokens.expiry_ms(answer.get("expired_in")) or now_ms() + DEFAULT_TTL_MS,
        poll_with={"user_code": user_code},
    )


async def _minimax_poll(
    session: aiohttp.ClientSession, spec: LoginSpec, grant: DeviceGrant, pkce: Pkce
) -> Login:
    body = {
        "grant_type": USER_CODE_GRANT,
        "client_id": spec.endpoints.client_id,
        "code_verifier": pkce.verifier,
        **grant.poll_with,
    }
    # A status "error" answer is a refusal (oauth_http.checked raises it, with the reason).
    answer = await _call(session, spec, _url(spec, "token_url"), body)
    if answer.get("status") == "success":
        return tokens.login_from_answer(spec, answer)
    raise Pending()


DIALECTS: Mapping[DeviceDialect, tuple[Begin, Poll]] = {
    DeviceDialect.RFC8628: (_rfc_begin, _rfc_poll),
    DeviceDialect.CODEX: (_codex_begin, _codex_poll),
    DeviceDialect.MINIMAX: (_minimax_begin, _minimax_poll),
}


class DeviceDriver:
    """The polling task of one device login."""

    def __init__(
        self,
        flows: Flows,
        session: aiohttp.ClientSession,
        spec: LoginSpec,
        grant: DeviceGrant,
        pkce: Pkce,
    ) -> None:
        self._flows, self._session, self._spec = flows, session, spec
        self._grant, self._pkce = grant, pkce
        self._stop = asyncio.Event()

    async def complete(self, flow: Flow, answer: Mapping[str, str]) -> Login:
        raise RequestInvalid(
            "a device login finishes by itself once the code is approved: use auth.oauth.wait",
            field="flowId",
        )

    async def close(self) -> None:
        self._stop.set()

    async def run(self, flow: Flow) -> None:
        """Poll until approved, refused, expired or closed."""
        poll = DIALECTS[self._spec.device or DeviceDialect.RFC8628][1]
        interval, failures = self._grant.interval_s, 0
        while not await self._stopped_within(interval):
            try:
                login = await poll(self._session, self._spec, self._grant, self._pkce)
            except Pending as pending:
                failures = 0  # the server answered: the hiccups before were not in a row
                if pending.slow_down:  # RFC 8628 3.5: +5 s from now on, or what the server says
                    interval = max(interval + SLOW_DOWN_S, _interval(pending.interval, 0.0))
                continue
            except OAuthRefusal as refusal:
                await self._refused(flow, refusal)
                return
            except LoginFailed as exc:
                failures += 1
                if failures >= TRANSIENT_FAILURES:
                    await self._flows.fail(flow, exc)
                    return
                continue
            try:
                login = await tokens.exchanged(self._session, self._spec, login)
            except (LoginFailed, OAuthRefusal) as exc:
                await self._flows.fail(flow, _failure(exc))
                return
            await self._flows.succeed(flow, login)
            return

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            async with asyncio.timeout(seconds):
                await self._stop.wait()
        except TimeoutError:
            return False
        return True

    async def _refused(self, flow: Flow, refusal: OAuthRefusal) -> None:
        # MiniMax has no expired_token: past the code's deadline, its refusal is the expiry.
        if refusal.error == "expired_token" or now_ms() >= self._grant.expires_at_ms:
            error = LoginFailed("the code expired before it was approved; start again")
            await self._flows.fail(flow, error, FlowStatus.EXPIRED)
        else:
            await self._flows.fail(flow, _failure(refusal))


def _failure(exc: LoginFailed | OAuthRefusal) -> LoginFailed:
    if isinstance(exc, LoginFailed):
        return exc
    if exc.error == "access_denied":
        return LoginFailed("the login was denied on the provider's page")
    reason = f"{exc.error}: {exc.description}" if exc.description else exc.error
    return LoginFailed(f"the provider refused the login ({reason})", oauthError=exc.error)


async def start(
    flows: Flows, session: aiohttp.ClientSession, spec: LoginSpec, account: str
) -> Flow:
    """Ask for a device code, register the flow and start polling."""
    pkce = Pkce.new()
    begin = DIALECTS[spec.device or DeviceDialect.RFC8628][0]
    try:
        grant = await begin(session, spec, pkce)
    except OAuthRefusal as refusal:
        raise _failure(refusal) from None
    flow = Flow(
        provider=spec.provider,
        account=account,
        method=LoginMethod.DEVICE,
        expires_at_ms=grant.expires_at_ms,
        interval_ms=int(grant.interval_s * 1000),
        url=grant.url or grant.verification_uri,
        user_code=grant.user_code,
        verification_uri=grant.verification_uri,
    )
    driver = DeviceDriver(flows, session, spec, grant, pkce)
    flows.add(flow, driver)
    flows.run(driver.run(flow))
    return flow
