"""The grants two or more variants share: the authorization request (RFC 6749 4.1.1 with
RFC 7636), the code and refresh grants (rotation, reuse detection), revocation (RFC 7009),
device codes and their polling (RFC 8628 3.2, 3.4), the verification page a test "opens" to
approve a device, and the variant of a device login (:class:`DeviceLogin`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.oauth.devices import DeviceGrant, PollRefused
from tests.fakes.oauth.state import Handler, Route, ServerState, Variant
from tests.fakes.oauth.store import Client, Code, Grant, Refused, Token
from tests.fakes.oauth.wire import (
    JSON,
    Call,
    html,
    oauth_error,
    pkce_problem,
    rand,
    redirect,
    verifier_matches,
)

#: (state, grant, expires_at) -> the text of a new access token
AccessMinter = Callable[[ServerState, Grant, float | None], str]


def opaque(prefix: str = "") -> AccessMinter:
    """Access tokens that are random strings after ``prefix``."""

    def mint(state: ServerState, grant: Grant, expires_at: float | None) -> str:
        return prefix + rand(32)

    return mint


@dataclass(frozen=True)
class Dialect:
    """How one provider mints its tokens."""

    provider: str
    rotate: bool = True  # a refresh returns a new refresh token and retires the old one
    expires: bool = True  # False: access tokens never expire (GitHub's ghu_)
    refresh_tokens: bool = True  # False: a device grant issues no refresh token (GitHub)
    access: AccessMinter = field(default=opaque())
    refresh_prefix: str = ""


@dataclass(frozen=True)
class Issued:
    """The tokens one grant request produced."""

    grant: Grant
    access: Token
    refresh: Token | None
    expires_in: int | None


def issue(state: ServerState, dialect: Dialect, grant: Grant, *, refresh: bool) -> Issued:
    """Mint an access token (and a refresh token) for ``grant``."""
    lifetime = state.access_lifetime if dialect.expires else None
    expires_at = None if lifetime is None else state.now() + lifetime
    access = state.store.mint(grant, "access", dialect.access(state, grant, expires_at), expires_at)
    renewal = None
    if refresh:
        ends = None if state.refresh_lifetime is None else state.now() + state.refresh_lifetime
        renewal = state.store.mint(grant, "refresh", dialect.refresh_prefix + rand(40), ends)
    expires_in = None if lifetime is None else max(0, math.ceil(lifetime))
    return Issued(grant, access, renewal, expires_in)


def rfc_body(issued: Issued) -> JSON:
    """RFC 6749 5.1's token answer."""
    body: JSON = {"access_token": issued.access.value, "token_type": "Bearer"}
    if issued.expires_in is not None:
        body["expires_in"] = issued.expires_in
    if issued.refresh is not None:
        body["refresh_token"] = issued.refresh.value
    if issued.grant.scope:
        body["scope"] = issued.grant.scope
    return body


def rfc_refusal(refused: Refused, status: int = 400) -> web.Response:
    """RFC 6749 5.2's wording of a refused grant."""
    error = {"missing": "invalid_request", "scope": "invalid_scope"}.get(
        refused.reason, "invalid_grant"
    )
    return oauth_error(error, refused.description, status)


def code_grant(state: ServerState, dialect: Dialect, call: Call, client: Client) -> Issued:
    """Redeem an authorization code (RFC 6749 4.1.3, RFC 7636 4.6); Refused if not."""
    value = call.text("code")
    if value is None:
        raise Refused("missing", "code is required")
    code = state.store.redeem(
        value, client.client_id, call.text("redirect_uri"), call.text("code_verifier")
    )
    grant = state.store.open(dialect.provider, client.client_id, code.user, code.scope)
    code.grant = grant
    return issue(state, dialect, grant, refresh=code.offline)


def refresh_grant(state: ServerState, dialect: Dialect, call: Call, client: Client) -> Issued:
    """RFC 6749 6 with rotation; Refused (reuse revokes the family) if not."""
    value = call.text("refresh_token")
    if value is None:
        raise Refused("missing", "refresh_token is required")
    old = state.store.refreshable(value, client.client_id)
    asked = call.text("scope")
    if asked is not None and not set(asked.split()) <= set(old.grant.scope.split()):
        raise Refused("scope", "the requested scope exceeds what the grant was given")
    if dialect.rotate:
        old.used = True
    state.refresh_counts[dialect.provider] += 1
    return issue(state, dialect, old.grant, refresh=dialect.rotate)


def revoke(state: ServerState, call: Call, provider: str, *, authenticate: bool) -> web.Response:
    """RFC 7009: 200 for any token, valid or not, and a known one is really revoked."""
    client: Client | None = None
    if authenticate:
        checked = state.authenticate(call, provider)
        if isinstance(checked, web.Response):
            return checked
        client = checked
    value = call.text("token") or call.query.get("token")
    if not value:
        return oauth_error("invalid_request", "token is required")
    token = state.store.tokens.get(value)
    if token is not None and client is not None and token.grant.client_id != client.client_id:
        # RFC 7009 2.1: a token of another client is refused, not revoked.
        return oauth_error("unauthorized_client", "the token was issued to another client")
    if token is not None:
        state.store.revoke(token)
    return web.Response(status=200)


def open_device(
    state: ServerState, client: Client, scope: str, /, **options: str | None
) -> DeviceGrant:
    """A pending device authorization for ``client`` (whose provider it is), living and pacing
    as the server's ``device_lifetime`` and ``device_interval`` knobs say; ``options`` are
    :meth:`~tests.fakes.oauth.devices.DeviceBook.create`'s (PKCE challenge, echoed state, a
    device code of the dialect's own shape)."""
    return state.devices.create(
        client.provider,
        client.client_id,
        scope=scope,
        lifetime=state.device_lifetime,
        interval=state.device_interval,
        **options,
    )


def poll_device(
    state: ServerState, dialect: Dialect, call: Call, client: Client, *, pkce: bool
) -> Issued:
    """RFC 8628 3.4: the tokens of an approved device code; PollRefused while there are none."""
    code = call.text("device_code")
    if code is None:
        raise PollRefused("invalid_request", "device_code is required")
    device = state.devices.poll(code, client.client_id)
    return redeem_device(state, dialect, device, call.text("code_verifier") if pkce else None)


def redeem_device(
    state: ServerState, dialect: Dialect, device: DeviceGrant, verifier: str | None
) -> Issued:
    """Tokens for an approved ``device`` (checking the PKCE verifier when it had a challenge)."""
    if device.challenge is not None and not verifier_matches(device.challenge, verifier):
        raise PollRefused("invalid_grant", "code_verifier does not match the code_challenge")
    assert device.user is not None, "an approved device grant names its user"
    device.status = "used"
    grant = state.store.open(dialect.provider, device.client_id, device.user, device.scope)
    return issue(state, dialect, grant, refresh=dialect.refresh_tokens)


# -- the authorization request (browser flows) ------------------------------------------------


@dataclass(frozen=True)
class AuthorizeRules:
    """What one provider's authorization endpoint insists on."""

    provider: str
    scopes: frozenset[str]
    pkce_required: bool = True
    required: tuple[tuple[str, str], ...] = ()  # parameters that must carry these values
    offline: Callable[[Mapping[str, Any]], bool] = lambda params: True  # issue refresh?
    echo_scope: bool = False  # Google adds scope to the redirect


def authorize(state: ServerState, call: Call, rules: AuthorizeRules) -> web.Response:
    """RFC 6749 4.1.1-4.1.2: a bad client or redirect URI is an HTML page (400), never a
    redirect (4.1.2.1); any other problem redirects with ``error``; else auto-approve."""
    client = state.clients.get(call.text("client_id") or "")
    if client is None or client.provider != rules.provider or "client_id" in call.repeated:
        return html(400, "Error 400: invalid_client", "The OAuth client was not found.")
    redirect_uri = call.text("redirect_uri")
    if redirect_uri is None or "redirect_uri" in call.repeated or not client.accepts(redirect_uri):
        return html(
            400,
            "Error 400: redirect_uri_mismatch",
            f"The redirect URI {redirect_uri!r} is not registered for this client.",
        )
    echoed = call.text("state")
    problem = _request_problem(call, rules)
    if problem is not None:
        error, description = problem
        return redirect(redirect_uri, error=error, error_description=description, state=echoed)
    if state.deny_next:
        state.deny_next = False
        denied = "The user denied the request."
        return redirect(redirect_uri, error="access_denied", error_description=denied, state=echoed)
    scope = call.text("scope") or ""
    code = Code(
        value=rand(32),
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        challenge=call.text("code_challenge"),
        scope=scope,
        user=state.user,
        expires_at=state.now() + state.code_lifetime,
        offline=rules.offline(call.params),
    )
    state.store.codes[code.value] = code
    extra = scope if rules.echo_scope else None
    return redirect(redirect_uri, code=code.value, state=echoed, scope=extra)


def _request_problem(call: Call, rules: AuthorizeRules) -> tuple[str, str] | None:
    if call.repeated:
        return "invalid_request", f"parameters sent twice: {', '.join(sorted(call.repeated))}"
    response_type = call.text("response_type")
    if response_type is None:
        return "invalid_request", "response_type is required"
    if response_type != "code":
        return "unsupported_response_type", f"response_type {response_type!r} is not supported"
    if call.text("state") is None:
        return "invalid_request", "state is required"
    problem = _pkce_problem(call, rules)
    if problem is not None:
        return "invalid_request", problem
    for name, value in rules.required:
        if call.text(name) != value:
            return "invalid_request", f"{name}={value} is required"
    scope = call.text("scope")
    if scope is None:
        return "invalid_request", "scope is required"
    unknown = set(scope.split()) - rules.scopes
    if unknown:
        return "invalid_scope", f"unknown scopes: {' '.join(sorted(unknown))}"
    return None


def _pkce_problem(call: Call, rules: AuthorizeRules) -> str | None:
    # Optional PKCE (Google's loopback path) is still checked once a client sends it.
    challenge, method = call.text("code_challenge"), call.text("code_challenge_method")
    if rules.pkce_required or challenge is not None or method is not None:
        return pkce_problem(challenge, method)
    return None


# -- the page a person opens to approve a device ------------------------------------------------

_FORM = (
    '<form method="post"><input name="user_code"><button name="action" value="approve">'
    'Approve</button><button name="action" value="deny">Deny</button></form>'
)


def verification_page(state: ServerState, call: Call, provider: str) -> web.Response:
    """GET shows a form; GET/POST with ``user_code`` approves as the configured user
    (``action=deny`` denies). An unknown or spent code is a 400 page."""
    user_code = call.text("user_code")
    if user_code is None:
        return html(200, "Device activation", "Enter the code shown on your device.", _FORM)
    deny = call.text("action") == "deny"
    try:
        state.devices.decide(user_code, None if deny else state.user, provider)
    except KeyError as exc:
        return html(400, "Invalid code", str(exc.args[0]))
    if deny:
        return html(200, "Access denied", "You denied the device.")
    return html(200, "Device approved", f"Signed in as {state.user.email}; you may close this.")


def verification_routes(path: str, provider: str) -> tuple[Route, Route]:
    """``provider``'s verification page at ``path``: GET (the link a person opens) and POST
    (the form on it)."""

    def page(state: ServerState, call: Call) -> web.Response:
        return verification_page(state, call, provider)

    return Route("GET", path, page), Route("POST", path, page)


@dataclass(frozen=True)
class DeviceLogin:
    """Where one device login's endpoints are on the fake, and its public client's id."""

    provider: str
    prefix: str
    client_id: str
    device: str  # the path a client asks for a code at
    token: str  # the path it polls (and refreshes at)
    verify: str  # the verification page's path

    def table(self, state: ServerState) -> dict[str, object]:
        """The ``[oauth.<id>]`` table naming the client and both endpoints on this fake."""
        return {
            "client_id": self.client_id,
            "device_url": state.url(self.device),
            "token_url": state.url(self.token),
        }

    def variant(
        self,
        device: Handler,
        token: Handler,
        *more: Route,
        config: Callable[[ServerState], dict[str, object]] | None = None,
    ) -> Variant:
        """The login's variant: ``device`` and ``token`` at their paths, the ``more`` routes,
        the verification page, one client without a secret, and ``config`` (default
        :meth:`table`) for the daemon's ``[oauth.<id>]`` table."""
        routes = (
            Route("POST", self.device, device),
            Route("POST", self.token, token, token_endpoint=True),
            *more,
            *verification_routes(self.verify, self.provider),
        )
        return Variant(self.provider, self.prefix, routes, self._clients, config or self.table)

    def _clients(self, state: ServerState) -> list[Client]:
        return [Client(self.client_id, self.provider)]
