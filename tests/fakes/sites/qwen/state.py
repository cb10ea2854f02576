"""What the mock chat.qwen.ai remembers: Baxia token registrations, punishments and solved
sliders, WAF challenges, chats, streams in flight and per-address request times."""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.sites.common import Scenario, SiteState
from tests.fakes.sites.qwen.config import DEFAULT_MODES, QwenConfig
from tests.fakes.sites.qwen.scenarios import QwenScenario, with_defaults

RPM_WINDOW_S = 60.0


@dataclass(slots=True)
class Tokens:
    """The Baxia tokens one page registered: its umid token and the FY tokens it minted."""

    umid: str
    ua: set[str]
    expires: float


@dataclass(slots=True)
class Punishment:
    """A punish answer handed out (``x5secdata`` names it) and the tokens it punished."""

    x5secdata: str
    umid: str
    ua: str
    solved: bool = False


@dataclass(slots=True)
class Chat:
    """A chat made by ``chats/new``; ``responses`` are the ids of the answers it streamed."""

    id: str
    model: str
    mode: str
    responses: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Live:
    """A completion stream in flight; ``stop`` (the stop endpoint, a reset) ends it."""

    chat_id: str
    response_id: str
    address: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class Book:
    """The mutable records behind :class:`QwenState` (cleared by reset, except ``tokens``:
    they model the browser's device, which a reset of the site does not touch)."""

    punishments: dict[str, Punishment] = field(default_factory=dict)
    passes: set[str] = field(default_factory=set)  # x5sec cookies of solved sliders
    waf_answers: set[str] = field(default_factory=set)  # acw_sc__v2 values that pass
    chats: dict[str, Chat] = field(default_factory=dict)
    live: dict[str, Live] = field(default_factory=dict)  # by chat id
    hits: dict[str, deque[float]] = field(default_factory=dict)  # completion times per address


class QwenState(SiteState[QwenConfig]):
    """The mock chat.qwen.ai's state; ``origin`` is its base URL once it listens."""

    def __init__(self, config: QwenConfig) -> None:
        super().__init__(config, [s.value for s in QwenScenario], DEFAULT_MODES)
        self.book = Book()
        self.tokens: dict[str, Tokens] = {}
        self.origin = ""

    def set_scenario(
        self, name: str, params: Mapping[str, Any] | None = None, times: int | None = None
    ) -> Scenario:
        """Switch a scenario on with its params checked and defaulted (ValueError if bad)."""
        return super().set_scenario(name, with_defaults(name, params), times)

    # -- Baxia -------------------------------------------------------------------------------

    def register(self, umid: str, ua: list[str]) -> float:
        """Register a page's tokens (renewing their life); returns the TTL in seconds."""
        entry = self.tokens.setdefault(umid, Tokens(umid, set(), 0.0))
        entry.ua.update(ua)
        entry.expires = self.clock.now() + self.config.bx_ttl_s
        self.counters["bx_registrations"] += 1
        return self.config.bx_ttl_s

    def tokens_problem(self, umid: str | None, ua: str | None) -> str | None:
        """Why the pair is not a live registration (None when it is)."""
        if not umid or not ua:
            return "missing bx-umidtoken or bx-ua"
        entry = self.tokens.get(umid)
        if entry is None or ua not in entry.ua:
            return "unknown bx tokens"
        if entry.expires < self.clock.now():
            return "expired bx tokens"
        return None

    def punish(self, umid: str | None, ua: str | None) -> Punishment:
        """A new punishment of the pair."""
        found = Punishment(secrets.token_hex(16), umid or "", ua or "")
        self.book.punishments[found.x5secdata] = found
        self.counters["punished"] += 1
        return found

    def unpunish(self, x5secdata: str) -> str | None:
        """Solve a punishment: its tokens are registered afresh; returns the ``x5sec`` pass
        (None when ``x5secdata`` is unknown or already solved)."""
        found = self.book.punishments.get(x5secdata)
        if found is None or found.solved:
            return None
        found.solved = True
        if found.umid and found.ua:
            self.register(found.umid, [found.ua])
        granted = secrets.token_hex(16)
        self.book.passes.add(granted)
        self.counters["unpunished"] += 1
        return granted

    # -- WAF ---------------------------------------------------------------------------------

    def waf_challenge(self) -> str:
        """A new ``arg1`` for the JS challenge (its answer is remembered)."""
        arg1 = secrets.token_hex(20).upper()
        self.book.waf_answers.add(waf_answer(arg1))
        self.counters["waf_challenges"] += 1
        return arg1

    def waf_solved(self, cookie: str | None) -> bool:
        """Whether ``acw_sc__v2`` answers a challenge this mock set."""
        return cookie is not None and cookie in self.book.waf_answers

    # -- chats and rate ----------------------------------------------------------------------

    def new_chat(self, chat_id: str, model: str, mode: str) -> Chat:
        """Keep a chat made by ``chats/new``."""
        chat = self.book.chats[chat_id] = Chat(chat_id, model, mode)
        return chat

    def hit(self, address: str) -> int:
        """Count a completion from ``address``; how many it sent in the last minute."""
        now = self.clock.now()
        window = self.book.hits.setdefault(address, deque())
        window.append(now)
        while window and window[0] < now - RPM_WINDOW_S:
            window.popleft()
        return len(window)

    def reset(self) -> None:
        for live in self.book.live.values():
            live.stop.set()
        super().reset()
        self.book = Book()

    def snapshot(self) -> dict[str, Any]:
        book = self.book
        return {
            **super().snapshot(),
            "models": [m.id for m in self.config.models],
            "chats": {
                c.id: {"model": c.model, "responses": c.responses} for c in book.chats.values()
            },
            "live": [
                {"chat_id": x.chat_id, "response_id": x.response_id} for x in book.live.values()
            ],
            "bx_registrations": len(self.tokens),
            "punishments": {p.x5secdata: p.solved for p in book.punishments.values()},
        }


def waf_answer(arg1: str) -> str:
    """The ``acw_sc__v2`` the challenge page computes from ``arg1`` (its script does the
    same): the hex bytes in reverse order, each XORed with 0x5a."""
    pairs = [arg1[i : i + 2] for i in range(0, len(arg1), 2)][::-1]
    return "".join(f"{int(p, 16) ^ 0x5A:02x}" for p in pairs)
