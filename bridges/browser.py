"""Chromium for the website bridges: the only module that imports Playwright.

Each site gets its own persistent profile under ``<state dir>/browser/<site>`` and its own
Chromium, launched on the site's first call (Playwright's driver starts with the first one),
closed after ``[bridges] idle_s`` without a call (the driver stops with the last one), and
launched again on the next call, after a crash too; how none outlives the daemon is told in
:mod:`bridges.procs`. Playwright's exceptions stop here: the engine sees :class:`BrowserGone`,
:class:`PageTimeout`, :class:`PageFault` and :class:`LaunchFailed` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bridges import procs
from bridges import tap as js
from bridges.site import Find
from bridges.tap import Tap
from daemon.log import get_logger

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Locator, Page

log = get_logger("bridges.browser")
T = TypeVar("T")
CLOSE_GRACE_S = 5.0


class BrowserGone(Exception):  # noqa: N818 - a state, not a programming error
    """The page or its browser closed under us (a crash, a kill, a shutdown)."""


class PageTimeout(Exception):  # noqa: N818
    """A page operation did not finish in time."""


class PageFault(Exception):  # noqa: N818
    """The page refused an operation (the site unreachable on navigation, say)."""


class LaunchFailed(Exception):  # noqa: N818
    """Chromium could not be started."""


async def _guarded(action: Awaitable[T]) -> T:
    """``action``, with Playwright's exceptions turned into this module's."""
    from playwright.async_api import Error, TimeoutError

    try:
        return await action
    except TimeoutError as exc:
        raise PageTimeout(_first_line(exc)) from None
    except Error as exc:
        text = _first_line(exc)
        if re.search(r"(Target|Browser|context|page).*(closed|crashed)", text, re.IGNORECASE):
            raise BrowserGone(text) from None
        raise PageFault(text) from None
    except (RuntimeError, ConnectionError) as exc:  # the driver's pipe, once the driver died
        if "closed" not in str(exc):
            raise
        raise BrowserGone("Playwright's driver went away") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


class Tab:
    """One site's page, as the engine drives it."""

    def __init__(self, page: Page, tap: Tap) -> None:
        self._page = page
        self.tap = tap

    @property
    def url(self) -> str:
        return self._page.url

    async def goto(self, url: str, timeout_s: float) -> None:
        """Navigate; returns once the new document is committed."""
        await _guarded(self._page.goto(url, wait_until="commit", timeout=timeout_s * 1000))

    async def _until(self, check: str, arg: Any, timeout_s: float) -> Any:
        """The first truthy value of the JS function ``check`` (called with ``arg``) within
        ``timeout_s``, or None; checked on every change to the page (``tap.UNTIL_JS``), across
        a navigation that replaces the document meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        script = f"([arg, ms]) => ({js.UNTIL_JS})(() => ({check})(arg), ms)"
        while (left := deadline - loop.time()) > 0:
            try:
                async with asyncio.timeout(left + CLOSE_GRACE_S):
                    return await self.evaluate(script, [arg, int(left * 1000)])
            except PageFault as exc:
                if not re.search(r"context was destroyed|navigat", str(exc), re.IGNORECASE):
                    raise
            except TimeoutError:
                raise PageTimeout(f"the page did not answer in {timeout_s:g}s") from None
        return None

    async def find(
        self, groups: dict[str, tuple[Find, ...]], timeout_s: float | None = None
    ) -> tuple[str, int] | None:
        """The first visible element among ``groups`` (key, index within its group): what
        shows now (``timeout_s`` None), or as soon as one shows, PageTimeout if none does."""
        flat, entries = js.find_entries(groups)
        if timeout_s is None:
            hit = await self.evaluate(js.FIND_JS, entries)
            return None if hit is None else flat[int(hit[1])]
        hit = await self._until(js.FIND_JS, entries, timeout_s)
        if hit is None:
            raise PageTimeout(f"nothing of {', '.join(groups)} showed in {timeout_s:g}s")
        return flat[int(hit[1])]

    async def wait_cleared(self, find: Find, text: str, timeout_s: float) -> bool:
        """Whether the element stopped holding ``text`` (a form that sent it clears it)
        within ``timeout_s``."""
        return bool(await self._until(js.CLEARED_JS, [find.css, text.strip()[:64]], timeout_s))

    async def ready(self, script: str, timeout_s: float) -> Any:
        """The first truthy value of ``script`` (a JS expression); PageTimeout without one."""
        value = await self._until(f"() => ({script})", None, timeout_s)
        if value is None:
            raise PageTimeout(f"the page was not ready in {timeout_s:g}s")
        return value

    def _locator(self, find: Find) -> Locator:
        locator = self._page.locator(find.css)
        if find.text is not None:
            locator = locator.filter(has_text=re.compile(find.text, re.IGNORECASE))
        return locator.filter(visible=True).first

    async def click(self, find: Find, timeout_s: float = 2.0) -> None:
        """Click the first visible match like a person would; when something covers it (an
        animation, an overlay), dispatch the click on the element itself."""
        locator = self._locator(find)
        try:
            await _guarded(locator.click(timeout=timeout_s * 1000))
        except PageTimeout:
            await _guarded(locator.evaluate("el => el.click()"))

    async def type(self, text: str) -> None:
        """Insert ``text`` where the focus is, as if typed at once (one input event)."""
        await _guarded(self._page.keyboard.insert_text(text))

    async def press(self, key: str) -> None:
        await _guarded(self._page.keyboard.press(key))

    async def evaluate(self, script: str, arg: Any = None) -> Any:
        return await _guarded(self._page.evaluate(script, arg))

    async def arm(self, generation: int, watch: list[list[Any]], focus: Find) -> None:
        """Tap the completion requests of ``generation`` from now on, report ``watch``, and
        focus ``focus`` (one round trip for the three)."""
        if not await self.evaluate(js.ARM_JS, [generation, watch, focus.css, focus.text]):
            await _guarded(self._locator(focus).focus())  # (waits for it, then fails typed)

    async def control(self, method: str, generation: int) -> None:
        """``disarm`` the tap for ``generation`` (unless a later one is armed), or ``abort``
        the generation's completion requests."""
        await self.evaluate(js.control_call(method), generation)

    @property
    def gone(self) -> bool:
        return self.tap.gone is not None

    async def close(self) -> None:
        """Close the page; one that does not close in time is left to its browser's close."""
        with contextlib.suppress(BrowserGone, PageFault, PageTimeout, TimeoutError):
            async with asyncio.timeout(CLOSE_GRACE_S):
                await _guarded(self._page.close())

    async def bring_to_front(self) -> None:
        await _guarded(self._page.bring_to_front())


class _Profile:
    """One site's running Chromium: its context, its pages (the first is ``home``), its
    process."""

    def __init__(self, context: BrowserContext, headless: bool) -> None:
        self.context = context
        self.headless = headless
        self.tabs: dict[Page, Tab] = {}
        self.home: Tab | None = None
        self.pid: int | None = None
        self.start = 0
        self.unwatch: Callable[[], None] = lambda: None
        self.closed: str | None = None  # why the browser is gone

    def receive(self, source: dict[str, Any], message: dict[str, Any]) -> None:
        """The binding: a page's message to that page's tap."""
        tab = self.tabs.get(source.get("page"))  # type: ignore[arg-type]
        if tab is not None:
            tab.tap.receive(source, message)

    def adopt(self, page: Page) -> Tab:
        tab = Tab(page, Tap())
        self.tabs[page] = tab

        def closed(*_: object) -> None:
            tab.tap.close("the page closed")
            self.tabs.pop(page, None)

        page.on("close", closed)
        page.on("crash", lambda *_: tab.tap.close("the page crashed"))
        return tab

    def gone(self, why: str) -> None:
        self.closed = self.closed or why
        for tab in self.tabs.values():
            tab.tap.close(why)


class Browser:
    """The Chromium processes of every site, launched on demand and closed when idle."""

    def __init__(
        self, root: Path, chromium: procs.Chromium, *, headless: bool, idle_s: float
    ) -> None:
        self.root = root  # <state dir>/browser
        self.chromium = chromium
        self.headless = headless
        self.idle_s = idle_s
        self._driver: Any = None  # playwright.async_api.Playwright once started
        self._profiles: dict[str, _Profile] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._idle: dict[str, asyncio.TimerHandle] = {}  # the close of a site nobody uses
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def executable(self) -> Path | None:
        """The Chromium that runs (a running site's), else the one a call would start; None
        is Playwright's own."""
        running = [p.headless for p in self._profiles.values() if p.closed is None]
        return self.chromium.binary(running[0] if running else self.headless)

    def reap_leftovers(self) -> list[int]:
        """Kill Chromium processes a previous daemon left running (see the module docstring)."""
        return procs.reap(self.root) if self.root.is_dir() else []

    async def tab(self, site: str, init_script: str, *, headless: bool | None = None) -> Tab:
        """The site's page, launching its Chromium first when it is not running, or runs in
        the other mode than ``headless`` asks (None: whichever runs, else the default)."""
        async with self._locks.setdefault(site, asyncio.Lock()):
            profile = self._profiles.get(site)
            if profile is not None and profile.closed is None:
                if headless is None or profile.headless == headless:
                    if profile.home is None or profile.home.gone:  # (a person closed it)
                        profile.home = profile.adopt(await _guarded(profile.context.new_page()))
                    return profile.home
            want = self.headless if headless is None else headless
            if profile is not None:
                await self._close_now(site)
            profile = await self._launch(site, init_script, want)
            self._profiles[site] = profile
            if not self._users.get(site):
                self._idle_after(site)
            assert profile.home is not None
            return profile.home

    async def new_tab(self, site: str) -> Tab:
        """Another page in the site's running Chromium (BrowserGone when it does not run)."""
        profile = self._profiles.get(site)
        if profile is None or profile.closed is not None:
            raise BrowserGone(f"no browser runs for {site}")
        return profile.adopt(await _guarded(profile.context.new_page()))

    def hold(self, site: str) -> None:
        """A call is using the site: no idle close until :meth:`release`."""
        self._users[site] = self._users.get(site, 0) + 1
        if (timer := self._idle.pop(site, None)) is not None:
            timer.cancel()

    def release(self, site: str) -> None:
        self._users[site] -= 1
        if not self._users[site]:
            self._idle_after(site)

    def _idle_after(self, site: str) -> None:
        """Close the site's Chromium ``idle_s`` from now (and the driver with the last one)."""
        if (timer := self._idle.pop(site, None)) is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self._idle[site] = loop.call_later(self.idle_s, self._expire, site)

    def _expire(self, site: str) -> None:
        self._idle.pop(site, None)
        task = asyncio.create_task(self._close_idle(site), name="browser-idle-close")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_idle(self, site: str) -> None:
        if site in self._profiles and not self._users.get(site):
            await self._close(site)
            log.info("bridge_browser_idle_closed", site=site)
        if not self._profiles and not any(lock.locked() for lock in self._locks.values()):
            await self._stop_driver()

    def running(self, site: str) -> bool:
        profile = self._profiles.get(site)
        return profile is not None and profile.closed is None

    def process(self, site: str) -> tuple[int, procs.Memory] | None:
        """The pid of the site's Chromium and its tree's memory, while it runs."""
        profile = self._profiles.get(site)
        if profile is None or profile.pid is None or not procs.alive(profile.pid, profile.start):
            return None
        return profile.pid, procs.memory(profile.pid)

    async def aclose(self) -> None:
        """Close every profile and the driver; leave no process behind."""
        for timer in self._idle.values():
            timer.cancel()
        for task in list(self._closing):
            with contextlib.suppress(Exception):
                await task
        for site in list(self._profiles):
            await self._close(site)
        await self._stop_driver()

    async def _launch(self, site: str, init_script: str, headless: bool) -> _Profile:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            try:
                await self._start_driver()
                context = await self._launch_chromium(site, headless)
            except BrowserGone:  # the driver itself died: start another, once
                await self._stop_driver()
                await self._start_driver()
                context = await self._launch_chromium(site, headless)
        except (BrowserGone, PageFault, PageTimeout) as exc:
            raise LaunchFailed(f"Chromium did not start: {exc}") from None
        return await self._attach(site, context, init_script, headless)

    async def _start_driver(self) -> None:
        from playwright.async_api import async_playwright

        if self._driver is None:
            self._driver = await async_playwright().start()

    async def _launch_chromium(self, site: str, headless: bool) -> BrowserContext:
        chromium = self.chromium.binary(headless) or Path(self._driver.chromium.executable_path)
        if not chromium.exists():
            raise LaunchFailed(
                f"no Chromium at {chromium}: install chromium or set [bridges] browser"
            )
        args = [*procs.FLAGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
        context: BrowserContext = await _guarded(
            self._driver.chromium.launch_persistent_context(
                self.root / site,
                executable_path=procs.write_launcher(self.root, chromium),
                headless=headless,
                args=args,
                handle_sigint=False,
                handle_sigterm=False,
                handle_sighup=False,
            )
        )
        return context

    async def _attach(
        self, site: str, context: BrowserContext, init_script: str, headless: bool
    ) -> _Profile:
        profile = _Profile(context, headless)
        await _guarded(context.expose_binding(js.BINDING, profile.receive))
        await _guarded(context.add_init_script(init_script))
        page = context.pages[0] if context.pages else await _guarded(context.new_page())
        profile.home = profile.adopt(page)
        context.on("close", lambda *_: profile.gone("the browser closed"))
        profile.pid = await self._pid(context)
        if profile.pid is not None:
            profile.start = procs.record(self.root / f"{site}.pid", profile.pid) or 0
            # Playwright reports nothing when its driver dies with the browser: the kernel does.
            profile.unwatch = procs.on_exit(profile.pid, lambda: profile.gone("Chromium exited"))
        log.info(
            "bridge_browser_started",
            site=site,
            pid=profile.pid,
            headless=headless,
            executable=str(self.chromium.binary(headless) or "Playwright's Chromium"),
        )
        return profile

    @staticmethod
    async def _pid(context: BrowserContext) -> int | None:
        browser = context.browser
        if browser is None:
            return None
        session = await _guarded(browser.new_browser_cdp_session())
        info = await _guarded(session.send("SystemInfo.getProcessInfo"))
        await _guarded(session.detach())
        pids = [p["id"] for p in info.get("processInfo", []) if p.get("type") == "browser"]
        return int(pids[0]) if pids else None

    async def _close(self, site: str) -> None:
        async with self._locks.setdefault(site, asyncio.Lock()):
            await self._close_now(site)

    async def _close_now(self, site: str) -> None:
        profile = self._profiles.pop(site, None)
        if profile is None:
            return
        with contextlib.suppress(BrowserGone, PageFault, PageTimeout, TimeoutError):
            async with asyncio.timeout(CLOSE_GRACE_S):
                await _guarded(profile.context.close())
        profile.unwatch()
        profile.gone("the browser was closed")
        if profile.pid is not None and procs.kill_tree(profile.pid, profile.start):
            log.warning("bridge_browser_killed", site=site, pid=profile.pid)
        (self.root / f"{site}.pid").unlink(missing_ok=True)
        log.info("bridge_browser_closed", site=site)

    async def _stop_driver(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_GRACE_S):
                    await driver.stop()
