"""What one fake authorization server remembers, and the knobs tests turn.

:class:`ServerState` is the base of :class:`~tests.fakes.oauth.server.FakeOAuth`. The
variant modules are plain (synchronous) functions of it and of a parsed
:class:`~tests.fakes.oauth.wire.Call`, run under :attr:`ServerState.lock`: a test thread may
approve a device code while the fake's own loop thread answers a poll.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypedDict

from aiohttp import web
from yarl import URL

from tests.fakes.oauth.devices import DeviceBook
from tests.fakes.oauth.store import Client, TokenStore, User
from tests.fakes.oauth.wire import JSON, Call, client_credentials, oauth_error

Handler = Callable[["ServerState", Call], web.StreamResponse]


@dataclass(frozen=True)
class Route:
    """One endpoint; ``token_endpoint`` ones are what the fault knobs hit by default."""

    method: str
    path: str
    handler: Handler
    token_endpoint: bool = False


@dataclass(frozen=True)
class Variant:
    """One provider's dialect: its routes, clients and the ``[oauth.<id>]`` table for it."""

    provider: str
    prefix: str
    routes: tuple[Route, ...]
    clients: Callable[[ServerState], Iterable[Client]]
    config: Callable[[ServerState], dict[str, Any]]


@dataclass(frozen=True)
class Received:
    """Everything recorded of one request (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: JSON


class Knobs(TypedDict, total=False):
    """The knobs a fake server can be made with (:class:`ServerState`'s keyword arguments);
    each is a plain attribute afterwards, to turn while it serves."""

    codex_redirect_ports: tuple[int, ...]
    access_lifetime: float
    device_interval: float


class ServerState:
    """Codes, tokens, device grants, counters and knobs of one fake server."""

    def __init__(
        self,
        *,
        codex_redirect_ports: tuple[int, ...] = (1455, 1457),
        access_lifetime: float = 3600.0,
        device_interval: float = 5.0,
    ) -> None:
        self.base_url: str | None = None
        self.lock = threading.RLock()
        self._offset = 0.0
        self.store = TokenStore(self.now)
        self.devices = DeviceBook(self.now)
        self.clients: dict[str, Client] = {}
        self.received: list[Received] = []
        #: successful refresh grants per provider id
        self.refresh_counts: Counter[str] = Counter()
        #: Copilot tokens minted from GitHub tokens
        self.copilot_exchanges = 0
        self.user = User("acct-fake-1", "user-1@example.test")
        self._users = 1
        # -- knobs: plain attributes, read on every request --------------------------------
        #: the ports codex's redirect allow-list pins; () accepts any loopback port
        self.codex_redirect_ports = codex_redirect_ports
        #: the next authorization request is answered error=access_denied (then it resets)
        self.deny_next = False
        self.access_lifetime = access_lifetime  # seconds; None-free: 0 means born expired
        self.refresh_lifetime: float | None = None  # None: refresh tokens never expire
        self.code_lifetime = 60.0
        self.device_lifetime = 900.0
        self.device_interval = device_interval
        self.copilot_lifetime = 1800.0
        #: qwen's resource_url: None = "<host>:<port>/qwen-api" (the real one has no scheme);
        #: a full "http://..." URL is answered as is, for tests without TLS
        self.qwen_resource_url: str | None = None
        #: minimax's resource_url: None = "<base>/minimax/anthropic"; "" = left out
        self.minimax_resource_url: str | None = None
        #: the Copilot exchange's endpoints.api: None = "<base>/github/copilot-api";
        #: "" = no endpoints object (clients derive the base from the token's proxy-ep)
        self.copilot_api_url: str | None = None
        self.copilot_proxy_ep = "proxy.individual.githubcopilot.test"  # never resolves
        self.codex_device_redirect_uri: str | None = None  # None: <base>/codex/deviceauth/callback
        self.codex_device_enabled = True  # False: usercode answers 404 (device login off)
        self.codex_pending_status = 403  # codex answers 403 or 404 while pending
        self.codex_error_style = "flat"  # or "nested": {"error": {"code", "message", ...}}
        #: headers kimi's device and token endpoints answer 400 invalid_request without
        self.kimi_required_headers: tuple[str, ...] = ("X-Msh-Platform", "X-Msh-Device-Id")
        self.google_project: str | None = "fake-project-1"  # None: not onboarded, no project
        self.google_tier = "standard-tier"

    # -- time ------------------------------------------------------------------------------

    def now(self) -> float:
        """The fake's clock: wall time plus whatever :meth:`advance` added."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (codes, tokens and device grants age at once)."""
        with self.lock:
            self._offset += seconds

    # -- identity --------------------------------------------------------------------------

    def rotate_user(
        self, account_id: str | None = None, email: str | None = None, plan: str = "plus"
    ) -> User:
        """Sign in as another person from now on (acct-fake-2, user-2@example.test, ...)."""
        with self.lock:
            self._users += 1
            number = self._users
            self.user = User(
                account_id or f"acct-fake-{number}", email or f"user-{number}@example.test", plan
            )
            return self.user

    def register_client(self, client: Client) -> None:
        """Add (or replace) a registered client."""
        with self.lock:
            self.clients[client.client_id] = client

    # -- helpers for the variants ----------------------------------------------------------

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this fake."""
        assert self.base_url is not None, "the fake is not started"
        return self.base_url + path

    def host_port(self) -> str:
        """``host:port`` of this fake."""
        base = URL(self.url("/"))
        return f"{base.host}:{base.port}"

    def authenticate(self, call: Call, provider: str) -> Client | web.Response:
        """The client of a token request (RFC 6749 2.3), or the 401 invalid_client answer."""
        client_id, secret, basic = client_credentials(call)
        if basic and call.text("client_secret") is not None:
            return oauth_error("invalid_request", "more than one client authentication method")
        # RFC 6749 5.2: a client that tried Basic gets a challenge back with the 401.
        challenge = {"WWW-Authenticate": 'Basic realm="fake-oauth"'} if basic else None
        client = self.clients.get(client_id or "")
        if client is None or client.provider != provider:
            return oauth_error("invalid_client", "unknown client", 401, headers=challenge)
        wanted = client.client_secret
        if wanted is not None and not hmac.compare_digest(wanted, secret or ""):
            failed = "client authentication failed"
            return oauth_error("invalid_client", failed, 401, headers=challenge)
        return client
