"""The bridge engine: :class:`Bridges`, one async context manager for the daemon's life.

Per site: one generation at a time, the calls behind it in a bounded queue (:class:`BridgeBusy`
past ``[bridges] queue_size``), a lazily launched Chromium (:mod:`bridges.browser`), the turn
itself (:mod:`bridges.flow`), at most one recovery per call where the site's problem says a
reload helps, and what ``bridges.status`` reports. The daemon reaches it through
:class:`daemon.routes.BridgeService`; site modules are found by name
(``bridges.<site>:SPEC``) or by ``[bridges.<site>] spec``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

from bridges.browser import (
    Browser,
    BrowserGone,
    LaunchFailed,
    PageFault,
    PageTimeout,
    Tab,
)
from bridges.flow import Site, Timeouts, Turn, prompt_of
from bridges.pages import Pages
from bridges.procs import find_chromium, has_display
from bridges.site import Problem, ProblemKind, SiteProblem, load_spec, problem_error
from bridges.tap import init_script
from daemon.adapters.types import ChatCall
from daemon.config import BridgeSettings, SiteSettings
from daemon.errors import (
    BridgeBroken,
    BridgeBusy,
    BridgeChallenge,
    BridgeUnavailable,
    DaemonError,
    InvalidParams,
    NoDisplay,
    Unsupported,
)
from daemon.log import get_logger
from daemon.routes import BridgeReply, Emit

log = get_logger("bridges.runner")


def _page_error(exc: Exception, site: str, url: str) -> DaemonError:
    """What a failed page operation means for the caller."""
    if isinstance(exc, BrowserGone):
        return BridgeUnavailable(f"Chromium went away: {exc}", site=site)
    if isinstance(exc, PageFault):
        return BridgeUnavailable(f"{url} could not be used: {exc}", site=site, reason="site")
    return BridgeBroken(f"the page did not respond: {exc}", site=site)


class State(StrEnum):
    IDLE = "idle"  # no browser running for it
    READY = "ready"
    BUSY = "busy"  # a generation is running
    CHALLENGE = "challenge"  # the last call met a check a person must pass
    BROKEN = "broken"  # the last call found the page changed
    UNAVAILABLE = "unavailable"  # no Chromium, site unreachable, no site module


VERDICTS: Mapping[type[DaemonError], State] = {
    BridgeChallenge: State.CHALLENGE,
    BridgeBroken: State.BROKEN,
    BridgeUnavailable: State.UNAVAILABLE,
}


@dataclass(slots=True)
class _Slot:
    """One site's queue and what status reports about it."""

    name: str
    site: Site | None
    missing: str | None  # why there is no site module
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0
    verdict: State = State.READY
    last_error: dict[str, Any] | None = None
    conversation: str | None = None  # the chat of the last turn
    pages: Pages = field(default_factory=Pages)
    models: list[str] | None = None  # read from the site, for the browser that runs


class Bridges:
    """Every website bridge of the daemon; ``async with`` for its life."""

    def __init__(self, settings: BridgeSettings, state_dir: Path, names: Iterable[str]) -> None:
        self.settings = settings
        self.timeouts = Timeouts(
            settings.page_load_timeout_s, settings.first_chunk_timeout_s, settings.chunk_timeout_s
        )
        chromium = find_chromium(settings.browser, shell=settings.headless_shell)
        self.browser = Browser(
            state_dir / "browser", chromium, headless=settings.headless, idle_s=settings.idle_s
        )
        self._slots: dict[str, _Slot] = {}
        for name in sorted(set(names) | set(settings.sites)):
            site_settings = settings.sites.get(name, SiteSettings())
            spec = load_spec(name, site_settings)
            if isinstance(spec, str):
                self._slots[name] = _Slot(name, None, spec)
            else:
                url = site_settings.url or spec.default_url.rstrip("/")
                self._slots[name] = _Slot(name, Site(spec, url), None)

    async def __aenter__(self) -> Bridges:
        reaped = await asyncio.to_thread(self.browser.reap_leftovers)
        if reaped:
            log.warning("bridge_browser_leftovers_killed", pids=reaped)
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        # The browsers first: a spare page still loading may wait on its page for good once
        # cancelled (Playwright's page.close() after an aborted navigation); a closed browser
        # fails whatever it waits on.
        await self.browser.aclose()
        for slot in self._slots.values():
            await slot.pages.aclose()

    def sites(self) -> frozenset[str]:
        """The sites a call can use (a built-in site whose module is missing is not one)."""
        return frozenset(name for name, slot in self._slots.items() if slot.site is not None)

    def _slot(self, name: str) -> tuple[_Slot, Site]:
        slot = self._slots.get(name)
        if slot is None:
            known = ", ".join(sorted(self._slots))
            raise InvalidParams(
                f"no website bridge is called {name!r} (known: {known})",
                field="site",
                reason="unknown site",
            )
        if slot.site is None:
            raise BridgeUnavailable(slot.missing, site=name, reason="missing")
        return slot, slot.site

    @contextlib.asynccontextmanager
    async def _queued(self, slot: _Slot) -> AsyncIterator[None]:
        """The site to ourselves: wait behind the running call, if the queue has room."""
        if slot.lock.locked() and slot.waiting >= self.settings.queue_size:
            raise BridgeBusy(
                f"{slot.name} is answering another call and {slot.waiting} more wait",
                site=slot.name,
                queueSize=self.settings.queue_size,
            )
        slot.waiting += 1
        try:
            await slot.lock.acquire()
        finally:
            slot.waiting -= 1
        self.browser.hold(slot.name)
        try:
            yield
        finally:
            self.browser.release(slot.name)
            slot.lock.release()

    async def _tab(self, slot: _Slot, site: Site) -> Tab:
        try:
            tab = await self.browser.tab(slot.name, init_script(site.spec.completion_url))
        except LaunchFailed as exc:
            raise BridgeUnavailable(str(exc), site=slot.name, reason="browser") from None
        if slot.pages.adopt(tab):  # a new browser: nothing of the old pages is left
            slot.conversation, slot.models = None, None
        return tab

    async def chat(
        self,
        site_name: str,
        model: str,
        call: ChatCall,
        emit: Emit | None,
        conversation_id: str | None,
    ) -> BridgeReply:
        """One turn on the site: a new chat, or ``conversation_id``'s next turn."""
        slot, site = self._slot(site_name)
        prompt = prompt_of(call, continuing=conversation_id is not None)
        started = time.monotonic()
        async with self._queued(slot):
            log.info("bridge_turn_started", site=site_name, continuing=bool(conversation_id))
            try:
                turn, used = await self._turn(slot, site, prompt, model, emit, conversation_id)
            except DaemonError as exc:
                self._note(slot, exc)
                raise
            slot.verdict, slot.last_error = State.READY, None
            slot.conversation = site.spec.conversation_id(turn.tab.url)
            for surplus in slot.pages.settle(turn.tab, slot.conversation):
                await surplus.close()
            if self.settings.spare_page:  # the next new chat's page loads between calls
                slot.pages.prepare_spare(lambda tab: self._spare(slot, site, tab))
        log.info(
            "bridge_turn_done",
            site=site_name,
            ms=int((time.monotonic() - started) * 1000),
            chars=sum(map(len, turn.assembly.text)),
        )
        return BridgeReply(turn.assembly, used or "default", slot.conversation)

    async def _turn(
        self,
        slot: _Slot,
        site: Site,
        prompt: str,
        model: str,
        emit: Emit | None,
        conversation_id: str | None,
    ) -> tuple[Turn, str]:
        """Run the turn; reload and send again once when the site's problem allows it (or,
        when the model is refused, once with the next model the site offers)."""
        recovered, tab = False, None
        while True:
            await self._tab(slot, site)
            if tab is None or tab.gone:
                fresh = conversation_id is None and not (model and site.spec.model_path)
                tab, navigate = await slot.pages.for_turn(conversation_id, fresh)
            else:  # the retry: the same page, loaded again
                navigate = True
            address = site.address(conversation_id, model) if navigate else None
            turn = Turn(site, tab, self.timeouts, emit)
            try:
                await self._once(turn, address, model, prompt)
                return turn, model
            except SiteProblem as trouble:
                slot.pages.forget(tab)
                problem = trouble.problem
                if recovered or turn.started:
                    raise problem_error(problem, slot.name) from None
                model = await self._recovery(slot, tab, problem, model)
                recovered = True
            except (BrowserGone, PageFault, PageTimeout) as exc:
                slot.pages.forget(tab)
                raise _page_error(exc, slot.name, site.url) from None
            except BaseException:
                slot.pages.forget(tab)
                raise

    async def _recovery(self, slot: _Slot, tab: Tab, problem: Problem, model: str) -> str:
        """The model to send the turn again with, once: the same after a problem a reload
        fixes, the next one the site offers after a refused model; else the typed error."""
        if problem.kind is ProblemKind.MODEL_REFUSED:
            model = await self._other_model(slot, tab, model)
        elif not problem.reload_helps:
            raise problem_error(problem, slot.name)
        log.info("bridge_turn_retry", site=slot.name, kind=problem.kind.value)
        return model

    async def _other_model(self, slot: _Slot, tab: Tab, refused: str) -> str:
        """The first model the site offers besides ``refused``; Unsupported when none."""
        assert slot.site is not None
        if slot.models is None:
            slot.models = [str(m) for m in await tab.evaluate(slot.site.spec.models_script) or []]
        others = [m for m in slot.models if m != refused]
        if not others:
            raise Unsupported(
                f"{slot.name} offers no model to a guest", site=slot.name, field="model"
            )
        return others[0]

    async def _once(self, turn: Turn, address: str | None, model: str, prompt: str) -> None:
        await turn.open(address, model or None)
        try:
            await turn.send(prompt)
            await turn.read()
        except BaseException:  # cancelled, timed out, failed: the page must stop generating
            await turn.stop()
            raise
        turn.finish()

    async def _spare(self, slot: _Slot, site: Site, tab: Tab | None) -> Tab:
        """``tab`` (a new page when None) at the site's start, its input showing, for the next
        new chat."""
        page = tab or await self.browser.new_tab(slot.name)
        try:
            await Turn(site, page, self.timeouts, None).open(site.address(None, None), None)
        except BaseException:
            if tab is None:
                await page.close()
            raise
        return page

    def _note(self, slot: _Slot, exc: DaemonError) -> None:
        slot.verdict = next(
            (state for cls, state in VERDICTS.items() if isinstance(exc, cls)), State.READY
        )
        slot.last_error = {
            "error": type(exc).__name__,
            "code": exc.code,
            "detail": exc.detail or exc.message,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        log.warning("bridge_turn_failed", site=slot.name, error=type(exc).__name__)

    async def models(self, site_name: str) -> list[str]:
        """The model ids the site offers a guest, read from the page (cached per browser)."""
        slot, site = self._slot(site_name)
        if slot.models is not None and self.browser.running(slot.name):
            return slot.models
        async with self._queued(slot):
            tab = await self._tab(slot, site)
            await slot.pages.settled()
            try:
                if not tab.url.startswith(site.url):
                    await Turn(site, tab, self.timeouts, None).open(site.address(None, None), None)
                found = await tab.evaluate(site.spec.models_script)
            except (BrowserGone, PageFault, PageTimeout) as exc:
                raise BridgeUnavailable(f"no model list: {exc}", site=slot.name) from None
            except SiteProblem as trouble:
                raise problem_error(trouble.problem, slot.name) from None
            slot.models = [str(model) for model in found or []]
            return slot.models

    def cached_models(self) -> dict[str, list[str]]:
        """The model lists already read, by site (reading none: no browser is launched)."""
        return {n: list(s.models) for n, s in self._slots.items() if s.models is not None}

    async def open(self, site_name: str) -> dict[str, Any]:
        """bridges.open: the site's profile in a visible window, for a person to use."""
        slot, site = self._slot(site_name)
        if not has_display():
            raise NoDisplay(
                "there is no display here (DISPLAY and WAYLAND_DISPLAY are unset), so no "
                "window can be shown",
                site=site_name,
            )
        async with self._queued(slot):
            try:
                tab = await self.browser.tab(
                    slot.name, init_script(site.spec.completion_url), headless=False
                )
                slot.pages.adopt(tab)
                await slot.pages.settled()
                slot.conversation, slot.models = None, None
                await tab.goto(site.address(None, None), self.timeouts.page_load_s)
                await tab.bring_to_front()
            except (LaunchFailed, BrowserGone, PageFault, PageTimeout) as exc:
                raise BridgeUnavailable(str(exc), site=site_name) from None
        process = self.browser.process(slot.name)
        return {"site": site_name, "opened": True, "url": site.url, "pid": process and process[0]}

    def status(self) -> dict[str, Any]:
        """bridges.status: the browser and every site."""
        sites = [self._site_status(slot) for slot in self._slots.values()]
        running = [s for s in sites if s["running"]]
        return {
            "browser": {
                "running": bool(running),
                "executable": str(self.browser.executable) if self.browser.executable else None,
                "headless": self.settings.headless,
                "display": has_display(),
                "rssBytes": sum(s["rssBytes"] or 0 for s in running),
                "pssBytes": sum(s["pssBytes"] or 0 for s in running),
            },
            "sites": sites,
        }

    def _site_status(self, slot: _Slot) -> dict[str, Any]:
        process = self.browser.process(slot.name)
        if slot.site is None:
            state = State.UNAVAILABLE
        elif slot.lock.locked():
            state = State.BUSY
        elif slot.verdict is not State.READY:
            state = slot.verdict
        else:
            state = State.READY if process else State.IDLE
        return {
            "site": slot.name,
            "url": slot.site.url if slot.site else None,
            "state": state.value,
            "running": process is not None,
            "pid": process[0] if process else None,
            "rssBytes": process[1].rss if process else None,
            "pssBytes": process[1].pss if process else None,
            "queue": slot.waiting,
            "conversationId": slot.conversation,
            "models": slot.models,
            "lastError": slot.last_error
            or ({"error": "BridgeUnavailable", "detail": slot.missing} if slot.missing else None),
        }
