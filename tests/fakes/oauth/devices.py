"""Device authorizations (RFC 8628) and the variants built like them (codex, minimax).

The poll rules of RFC 8628 3.5, in order: an unknown or used code is ``invalid_grant``; past
its lifetime ``expired_token``; a poll sooner than ``interval`` after the previous one is
``slow_down`` and the interval grows by 5 s for every later poll; then ``access_denied`` or
``authorization_pending`` until the person decides.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from tests.fakes.oauth.store import Clock, User
from tests.fakes.oauth.wire import rand

SLOW_DOWN_STEP_S = 5.0  # RFC 8628 3.5
# RFC 8628 6.1: consonants only (no words, no 0/O confusion), shown as XXXX-XXXX.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"


@dataclass
class DeviceGrant:
    """One pending device authorization."""

    provider: str
    client_id: str
    device_code: str
    user_code: str
    scope: str
    expires_at: float
    interval: float
    challenge: str | None = None  # PKCE on device grants (qwen, minimax)
    state: str | None = None  # minimax echoes one
    status: str = "pending"  # then "approved", "denied" or "used"
    user: User | None = None
    last_poll: float | None = None


class PollRefused(Exception):
    """A poll that gets no token: ``error`` is the RFC 8628 3.5 (or RFC 6749 5.2) code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def normalized(user_code: str) -> str:
    """RFC 8628 6.1: user codes compare without case or punctuation."""
    return "".join(c for c in user_code.upper() if c.isalnum())


def _user_code() -> str:
    letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{letters[:4]}-{letters[4:]}"


class DeviceBook:
    """The device authorizations a server handed out."""

    def __init__(self, clock: Clock) -> None:
        self._now = clock
        self.grants: dict[str, DeviceGrant] = {}  # by device code

    def create(
        self,
        provider: str,
        client_id: str,
        *,
        scope: str,
        lifetime: float,
        interval: float,
        challenge: str | None = None,
        state: str | None = None,
        device_code: str | None = None,
    ) -> DeviceGrant:
        """A new pending authorization."""
        code = device_code or rand(30)
        grant = DeviceGrant(
            provider=provider,
            client_id=client_id,
            device_code=code,
            user_code=_user_code(),
            scope=scope,
            expires_at=self._now() + lifetime,
            interval=interval,
            challenge=challenge,
            state=state,
        )
        self.grants[code] = grant
        return grant

    def by_user_code(self, user_code: str) -> DeviceGrant | None:
        """The authorization showing ``user_code``."""
        wanted = normalized(user_code)
        return next((g for g in self.grants.values() if normalized(g.user_code) == wanted), None)

    def decide(self, user_code: str, user: User | None, provider: str | None = None) -> DeviceGrant:
        """Approve as ``user`` (or deny with None); KeyError for no pending such code."""
        grant = self.by_user_code(user_code)
        if grant is None or (provider is not None and grant.provider != provider):
            raise KeyError(f"no device authorization shows user code {user_code!r}")
        if grant.status != "pending" or self._now() >= grant.expires_at:
            raise KeyError(f"user code {user_code!r} is {grant.status} or expired")
        grant.status, grant.user = ("approved", user) if user is not None else ("denied", None)
        return grant

    def poll(self, device_code: str, client_id: str, *, paced: bool = True) -> DeviceGrant:
        """The approved authorization, or PollRefused (RFC 8628 3.5, order in the docstring).

        ``paced=False`` for dialects that have no ``slow_down`` (codex, minimax).
        """
        grant = self.grants.get(device_code)
        if grant is None or grant.client_id != client_id:
            raise PollRefused("invalid_grant", "the device code is invalid")
        if grant.status == "used":
            raise PollRefused("invalid_grant", "the device code was already redeemed")
        now = self._now()
        if now >= grant.expires_at:
            raise PollRefused("expired_token", "the device code expired: start over")
        too_soon = paced and grant.last_poll is not None and now - grant.last_poll < grant.interval
        grant.last_poll = now
        if too_soon:
            grant.interval += SLOW_DOWN_STEP_S
            raise PollRefused(
                "slow_down", f"polling too fast: wait {grant.interval:g} s between polls"
            )
        if grant.status == "denied":
            raise PollRefused("access_denied", "the user denied the authorization request")
        if grant.status == "pending":
            raise PollRefused("authorization_pending", "the user has not approved yet")
        return grant
