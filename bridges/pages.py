"""One site's pages: which page a turn runs on, so that a warm call loads nothing.

A new chat takes the *spare*, a page loaded at the site's start (its input showing) after the
previous call; a conversation's next turn goes to the page that shows it, while it is one of
the :data:`MAX_CHATS` most recent. Anything else navigates the *home* page (the profile's
first), which is never closed; the spare is home itself when home shows no kept conversation,
else one more page. So a site keeps two pages most of the time. A new browser (after a crash
or an idle close) starts all of it afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from bridges.browser import Tab
from daemon.log import get_logger

MAX_CHATS = 1  # conversation pages kept open besides the spare
log = get_logger("bridges.pages")


class Pages:
    """The pages of one site's browser."""

    def __init__(self) -> None:
        self.home: Tab | None = None
        self._chats: OrderedDict[str, Tab] = OrderedDict()  # conversation id -> its page
        self._spare: asyncio.Task[Tab | None] | None = None
        self._spare_home = False  # the spare loading is home itself

    def adopt(self, home: Tab) -> bool:
        """Use ``home``'s browser; True when it is a new one (nothing of the old is left)."""
        if home is self.home:
            return False
        self.drop_spare()
        self.home, self._chats = home, OrderedDict()
        return True

    async def settled(self) -> None:
        """Return once home is not loading as the spare (so it can be used for other work)."""
        if self._spare_home and self._spare is not None:
            await asyncio.wait({self._spare})

    def showing(self, tab: Tab) -> str | None:
        """The conversation ``tab`` shows, as far as is known."""
        return next((chat for chat, page in self._chats.items() if page is tab), None)

    async def for_turn(self, conversation_id: str | None, fresh: bool) -> tuple[Tab, bool]:
        """The page for a turn and whether it must be navigated: the conversation's page, or
        (``fresh``: a new chat that needs no particular start address) the spare."""
        assert self.home is not None
        if conversation_id is not None:
            tab = self._chats.get(conversation_id)
            if tab is not None and not tab.gone:
                return tab, False
        elif fresh and (tab := await self._take_spare()) is not None:
            return tab, False
        if self._spare_home:  # home is loading as the spare: let it finish, then take it
            await self._take_spare()
        self._unmap(self.home)
        return self.home, True

    def settle(self, tab: Tab, conversation_id: str | None) -> list[Tab]:
        """``tab`` now shows ``conversation_id``; returns the pages to close (the oldest
        conversation pages past :data:`MAX_CHATS`, never home)."""
        self._unmap(tab)
        if conversation_id is not None:
            self._chats[conversation_id] = tab
        surplus: list[Tab] = []
        while len(self._chats) > MAX_CHATS:
            _chat, oldest = self._chats.popitem(last=False)
            if oldest is not self.home:
                surplus.append(oldest)
        return surplus

    def forget(self, tab: Tab) -> None:
        """A turn failed on ``tab``: what it shows is unknown now."""
        self._unmap(tab)

    def _unmap(self, tab: Tab) -> None:
        for chat in [chat for chat, page in self._chats.items() if page is tab]:
            del self._chats[chat]

    def prepare_spare(self, load: Callable[[Tab | None], Awaitable[Tab | None]]) -> None:
        """Start loading a spare page unless one is there or on its way: ``load(home)`` when
        home shows no kept conversation, else ``load(None)`` (a new page)."""
        if self._spare is not None or self.home is None:
            return
        home = self.home if self.showing(self.home) is None and not self.home.gone else None
        self._spare_home = home is not None
        self._spare = asyncio.create_task(_quietly(load, home), name="bridge-spare-page")

    async def _take_spare(self) -> Tab | None:
        task, self._spare, self._spare_home = self._spare, None, False
        if task is None:
            return None
        tab = await task  # (already loaded, or well on its way)
        return tab if tab is not None and not tab.gone else None

    def drop_spare(self) -> None:
        if self._spare is not None:
            self._spare.cancel()
            self._spare, self._spare_home = None, False

    async def aclose(self) -> None:
        task, self._spare = self._spare, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _quietly(
    load: Callable[[Tab | None], Awaitable[Tab | None]], home: Tab | None
) -> Tab | None:
    """A spare that fails to load is no spare (the turn that wanted it navigates instead)."""
    try:
        return await load(home)
    except Exception as exc:  # noqa: BLE001 - any failure means the same: no spare
        log.info("bridge_spare_page_failed", error=type(exc).__name__)
        return None
