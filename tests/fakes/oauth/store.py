"""Clients, authorization codes and tokens, with the RFC rules on their lifetimes.

Every token belongs to a :class:`Grant` (one redeemed code or approved device): the token
family that reuse detection and revocation act on as a whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from urllib.parse import urlsplit

from tests.fakes.oauth.wire import verifier_matches

Clock = Callable[[], float]
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_grant_ids = count(1)


@dataclass(frozen=True)
class User:
    """The person the fake signs in as (the tests' "browser" always approves as them)."""

    account_id: str
    email: str
    plan: str = "plus"


@dataclass(frozen=True)
class Client:
    """A registered client: public when ``client_secret`` is None."""

    client_id: str
    provider: str
    client_secret: str | None = None
    redirect_uris: tuple[str, ...] = ()

    def accepts(self, uri: str) -> bool:
        """An exact registered URI, or a loopback one registered without a port at any port.

        RFC 8252 7.3: a loopback redirect must be accepted at whatever port the client got;
        a URI registered *with* a port pins it (codex's 1455/1457 allow-list).
        """
        return "#" not in uri and any(_matches(want, uri) for want in self.redirect_uris)


def _matches(registered: str, uri: str) -> bool:
    if registered == uri:
        return True
    want, got = urlsplit(registered), urlsplit(uri)
    if want.scheme != "http" or want.hostname not in _LOOPBACK or want.port is not None:
        return False
    try:
        got.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    same = (got.scheme, got.hostname, got.path, got.query)
    return same == ("http", want.hostname, want.path, want.query) and got.username is None


@dataclass
class Grant:
    """One authorization: the family its access and refresh tokens share."""

    provider: str
    client_id: str
    user: User
    scope: str
    id: int = field(default_factory=lambda: next(_grant_ids))
    revoked: bool = False


@dataclass
class Token:
    """An issued token: ``kind`` is ``access``, ``refresh`` or ``copilot``."""

    value: str
    kind: str
    grant: Grant
    expires_at: float | None
    used: bool = False  # a refresh token rotated away: presenting it again is reuse
    revoked: bool = False

    def live(self, now: float) -> bool:
        """Whether the token is still good."""
        if self.revoked or self.used or self.grant.revoked:
            return False
        return self.expires_at is None or now < self.expires_at


@dataclass
class Code:
    """An authorization code: single use, short-lived, bound to its request (RFC 6749 4.1.3)."""

    value: str
    client_id: str
    redirect_uri: str | None
    challenge: str | None
    scope: str
    user: User
    expires_at: float
    offline: bool = True  # whether redeeming it issues a refresh token
    grant: Grant | None = None  # set once redeemed


class Refused(Exception):
    """A grant refused. ``reason`` lets a dialect word it: ``missing``, ``unknown``,
    ``client``, ``reused``, ``expired``, ``revoked``, ``redirect``, ``pkce`` or ``scope``."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description


class TokenStore:
    """Issued codes and tokens."""

    def __init__(self, clock: Clock) -> None:
        self._now = clock
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, Token] = {}

    def open(self, provider: str, client_id: str, user: User, scope: str) -> Grant:
        """A new token family."""
        return Grant(provider, client_id, user, scope)

    def mint(self, grant: Grant, kind: str, value: str, expires_at: float | None) -> Token:
        """Record token ``value`` of ``grant``."""
        token = Token(value, kind, grant, expires_at)
        self.tokens[value] = token
        return token

    def live(self, value: str) -> Token | None:
        """The token ``value`` if it is still good."""
        token = self.tokens.get(value)
        return token if token is not None and token.live(self._now()) else None

    def redeem(
        self, value: str, client_id: str, redirect_uri: str | None, verifier: str | None
    ) -> Code:
        """Check code ``value`` for this token request (RFC 6749 4.1.3, RFC 7636 4.6).

        A code presented again is refused and the tokens issued from it are revoked
        (RFC 6749 4.1.2). The caller sets ``grant`` on the code it gets back.
        """
        code = self.codes.get(value)
        if code is None:
            raise Refused("unknown", "the authorization code is invalid")
        if code.grant is not None:
            self.revoke_grant(code.grant)
            raise Refused(
                "reused",
                "the authorization code was already used; the tokens issued from it are revoked",
            )
        if code.client_id != client_id:
            raise Refused("client", "the authorization code was issued to another client")
        if self._now() >= code.expires_at:
            raise Refused("expired", "the authorization code expired")
        if code.redirect_uri is not None and redirect_uri != code.redirect_uri:
            raise Refused("redirect", "redirect_uri differs from the authorization request's")
        _check_pkce(code.challenge, verifier)
        return code

    def refreshable(self, value: str, client_id: str) -> Token:
        """The live refresh token ``value`` of ``client_id``; Refused says why not.

        A refresh token that was already rotated away is reuse: its whole family is revoked
        (OAuth 2.0 Security BCP, RFC 9700 4.14.2).
        """
        token = self.tokens.get(value)
        if token is None or token.kind != "refresh":
            raise Refused("unknown", "the refresh token is invalid")
        if token.grant.client_id != client_id:
            raise Refused("client", "the refresh token was issued to another client")
        if token.used:
            self.revoke_grant(token.grant)
            raise Refused(
                "reused",
                "refresh token reuse detected: it was already rotated, so every token of "
                "its family is revoked",
            )
        if token.revoked or token.grant.revoked:
            raise Refused("revoked", "the refresh token was revoked")
        if token.expires_at is not None and self._now() >= token.expires_at:
            raise Refused("expired", "the refresh token expired")
        return token

    def revoke(self, token: Token) -> None:
        """RFC 7009 2.1: a refresh token takes its family with it; an access token goes alone."""
        if token.kind == "refresh":
            self.revoke_grant(token.grant)
        token.revoked = True

    def revoke_grant(self, grant: Grant) -> None:
        """Revoke every token of ``grant``."""
        grant.revoked = True

    def expire(self, kind: str = "access") -> int:
        """Make every live token of ``kind`` expire now; return how many."""
        now, expired = self._now(), 0
        for token in self.tokens.values():
            if token.kind == kind and token.live(now):
                token.expires_at = now
                expired += 1
        return expired


def _check_pkce(challenge: str | None, verifier: str | None) -> None:
    if challenge is None:
        # A verifier for a request that had no challenge is a PKCE downgrade attempt
        # (RFC 9700 2.1.1 / OAuth 2.1): refused rather than ignored.
        if verifier is not None:
            raise Refused("pkce", "code_verifier sent, but the authorization had no challenge")
        return
    if verifier is None:
        raise Refused("pkce", "code_verifier is required")
    if not verifier_matches(challenge, verifier):
        raise Refused("pkce", "code_verifier does not match the code_challenge")
