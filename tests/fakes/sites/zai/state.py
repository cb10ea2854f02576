"""What the mock chat.z.ai remembers: guests, chats, captcha tokens, streams in flight and
per-address request times (for the rate limit and the IP-wide block)."""

from __future__ import annotations

import re
import secrets
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.sites.common import Scenario, SiteState
from tests.fakes.sites.zai.config import DEFAULT_MODES, ZaiConfig, ZaiScenario
from tests.fakes.sites.zai.wire import captcha_fields, captcha_param, jwt_encode, jwt_valid


@dataclass(frozen=True, slots=True)
class Guest:
    id: str
    email: str
    name: str
    token: str
    created: float

    def as_json(self) -> dict[str, Any]:
        """What ``GET /api/v1/auths/`` answers for this guest."""
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": "guest",
            "token": self.token,
            "token_type": "Bearer",
            "expires_at": None,
            "profile_image_url": "/static/favicon.png",
            "permissions": {},
        }


@dataclass(slots=True)
class Chat:
    """A stored chat: the record ``chats/new`` made and the message tree turns grew."""

    id: str
    user_id: str
    chat: dict[str, Any]  # the "chat" object as sent, id filled in
    messages: dict[str, dict[str, Any]]
    current_id: str | None
    created: int

    def last_assistant(self) -> str | None:
        """The newest assistant message on the current branch."""
        node = self.messages.get(self.current_id or "")
        while node is not None and node.get("role") != "assistant":
            node = self.messages.get(node.get("parentId") or "")
        return None if node is None else str(node["id"])

    def add_turn(self, user: dict[str, Any], assistant: dict[str, Any]) -> None:
        """Store a user message and its answer; the answer becomes the current node."""
        parent = self.messages.get(user.get("parentId") or "")
        if parent is not None and user["id"] not in parent["childrenIds"]:
            parent["childrenIds"].append(user["id"])
        self.messages[user["id"]] = {**self.messages.get(user["id"], {}), **user}
        self.messages[user["id"]].setdefault("childrenIds", []).append(assistant["id"])
        self.messages[assistant["id"]] = assistant
        self.current_id = assistant["id"]

    def record(self, now: int) -> dict[str, Any]:
        """The stored record (§2.4); assistant messages come back without ``content``."""
        stubbed = {
            k: (
                v
                if v.get("role") != "assistant"
                else {x: y for x, y in v.items() if x != "content"}
            )
            for k, v in self.messages.items()
        }
        history = {"messages": stubbed, "currentId": self.current_id}
        return {
            "id": self.id,
            "user_id": self.user_id,
            "title": self.chat.get("title", "New Chat"),
            "chat": {**self.chat, "id": self.id, "history": history},
            "updated_at": now,
            "created_at": self.created,
            "share_id": None,
            "archived": False,
            "pinned": False,
            "meta": {},
            "folder_id": None,
            "message_version": 1,
            "type": self.chat.get("type", "default"),
            "im_context": None,
        }


@dataclass(slots=True)
class CaptchaToken:
    scene_id: str
    security_token: str
    origin: str
    issued: float
    used: bool = False


def next_build(fe_version: str) -> str:
    """``prod-fe-1.1.98`` → ``prod-fe-1.1.99``."""
    match = re.fullmatch(r"(prod-fe-\d+\.\d+\.)(\d+)", fe_version)
    return f"{match[1]}{int(match[2]) + 1}" if match else "prod-fe-9.9.9"


@dataclass(slots=True)
class Book:
    """The mutable records behind :class:`ZaiState` (cleared by reset)."""

    guests: dict[str, Guest] = field(default_factory=dict)  # by token
    chats: dict[str, Chat] = field(default_factory=dict)
    captchas: dict[str, CaptchaToken] = field(default_factory=dict)  # by certifyId
    challenges: set[str] = field(default_factory=set)  # popups waiting for a click
    inflight: Counter[str] = field(default_factory=Counter)  # streams per user id
    hits: dict[str, deque[float]] = field(default_factory=dict)  # completion times per address
    blocked_until: dict[str, float] = field(default_factory=dict)
    timezone: str = "UTC"
    last_ms: int = 0


class ZaiState(SiteState[ZaiConfig]):
    """The mock chat.z.ai's state."""

    def __init__(self, config: ZaiConfig) -> None:
        super().__init__(config, [s.value for s in ZaiScenario], DEFAULT_MODES)
        self.book = Book()

    def mint_guest(self) -> Guest:
        """A new guest (§2.2): ``Guest-<ms>`` name and email, a JWT with ``id`` and ``email``."""
        ms = max(self.clock.now_ms(), self.book.last_ms + 1)
        self.book.last_ms = ms
        guest_id, email = str(uuid.uuid4()), f"Guest-{ms}@guest.com"
        token = jwt_encode({"id": guest_id, "email": email}, self.config.jwt_secret)
        guest = Guest(guest_id, email, f"Guest-{ms}", token, self.clock.now())
        self.book.guests[token] = guest
        self.counters["guests_minted"] += 1
        return guest

    def guest(self, token: str | None) -> Guest | None:
        """The live guest ``token`` belongs to (None: unknown, forged or expired)."""
        if not token or not jwt_valid(token, self.config.jwt_secret):
            return None
        guest = self.book.guests.get(token)
        ttl = self.config.guest_ttl_s
        if guest is not None and ttl is not None and self.clock.now() - guest.created > ttl:
            return None
        return guest

    def issue_captcha(self, scene_id: str, origin: str) -> str:
        """A single-use ``captcha_verify_param`` bound to ``origin``."""
        certify_id = uuid.uuid4().hex
        token = CaptchaToken(scene_id, secrets.token_urlsafe(24), origin, self.clock.now())
        self.book.captchas[certify_id] = token
        return captcha_param(certify_id, scene_id, token.security_token)

    def spend_captcha(self, param: str, origin: str) -> str | None:
        """Spend ``param``; None when valid, else why it is not."""
        fields = captcha_fields(param) or {}
        token = self.book.captchas.get(str(fields.get("certifyId")))
        if token is None or fields.get("securityToken") != token.security_token:
            return "unknown captcha token"
        if token.used:
            return "captcha token reused"
        token.used = True
        if self.clock.now() - token.issued > self.config.captcha_ttl_s:
            return "captcha token expired"
        if token.origin != origin or fields.get("sceneId") != token.scene_id:
            return f"captcha token solved on {token.origin}, not {origin}"
        return None

    def ip_blocked(self, address: str) -> bool:
        return self.book.blocked_until.get(address, 0.0) > self.clock.now()

    def note_completion(self, address: str) -> tuple[int, int]:
        """Count a completion from ``address``: (in the last minute, in the block window)."""
        now = self.clock.now()
        hits = self.book.hits.setdefault(address, deque())
        hits.append(now)
        horizon = max(60.0, self.config.ip_block_window_s)
        while hits and hits[0] < now - horizon:
            hits.popleft()
        window = sum(1 for t in hits if t >= now - self.config.ip_block_window_s)
        return sum(1 for t in hits if t >= now - 60.0), window

    def block(self, address: str) -> None:
        self.book.blocked_until[address] = self.clock.now() + self.config.ip_block_s
        self.counters["ip_blocks"] += 1

    def apply(self, scenario: Scenario) -> None:
        if scenario.name == ZaiScenario.EXPIRED_GUEST_TOKEN:
            self.book.guests.clear()
        elif scenario.name == ZaiScenario.STALE_FE_VERSION:
            build = scenario.param("fe_version", next_build(self.config.fe_version))
            mode = scenario.param("mode", self.config.stale_fe_mode)
            self.configure(fe_version=build, stale_fe_mode=str(mode))

    def reset(self) -> None:
        super().reset()
        self.book = Book()

    def snapshot(self) -> dict[str, Any]:
        return {
            **super().snapshot(),
            "fe_version": self.config.fe_version,
            "guests": len(self.book.guests),
            "chats": len(self.book.chats),
            "inflight": sum(self.book.inflight.values()),
            "blocked": sorted(a for a in self.book.blocked_until if self.ip_blocked(a)),
        }
