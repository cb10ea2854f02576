"""Chromium for the website bridges: the only module that imports Playwright.

Each site gets its own persistent profile under ``<state dir>/browser/<site>`` and its own
Chromium, launched on the site's first call (Playwright's driver starts with the first one),
closed after ``[bridges] idle_s`` without a call (the driver stops with the last one), and
launched again on the next call, after a crash too. Playwright's exceptions stop here: the
engine sees :class:`BrowserGone`, :class:`PageTimeout`, :class:`PageFault` and
:class:`LaunchFailed` only.

No Chromium outlives the daemon:

- on a clean stop every profile is closed, then the driver; a Chromium still there after that
  gets SIGKILL, with its whole process group;
- when the daemon is killed, Playwright's driver (its child) sees its pipe close and kills
  the browsers it launched; and every Chromium starts through a small launcher that asks the
  kernel to SIGKILL it when its parent, the driver, dies (``PR_SET_PDEATHSIG``), so a driver
  killed along with the daemon takes its browsers with it;
- each Chromium's pid and start time are kept in ``<state dir>/browser/<site>.pid`` while it
  runs; at start-up the daemon kills a recorded Chromium that is somehow still running
  (:func:`reap_leftovers`), which also frees its profile for the next launch.
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
from bridges.site import Find
from bridges.tap import BINDING, CONTROL, FIND_JS, Tap
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


def has_display() -> bool:
    """Whether a visible window could be shown (an X or Wayland display is set)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


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

    async def reload(self, timeout_s: float) -> None:
        await _guarded(self._page.reload(wait_until="commit", timeout=timeout_s * 1000))

    async def find(self, groups: dict[str, tuple[Find, ...]], timeout_s: float) -> tuple[str, int]:
        """The first visible element among ``groups`` (key, index within its group), as soon
        as one shows; PageTimeout when none does within ``timeout_s``."""
        flat = [(key, i) for key, finds in groups.items() for i in range(len(finds))]
        entries = [[key, f.css, f.text] for key, finds in groups.items() for f in finds]
        handle = await _guarded(
            self._page.wait_for_function(
                f"(entries) => ({FIND_JS})(entries)",
                arg=entries,
                polling=50,
                timeout=timeout_s * 1000,
            )
        )
        _key, index = await _guarded(handle.json_value())
        return flat[int(index)]

    async def find_now(self, groups: dict[str, tuple[Find, ...]]) -> tuple[str, int] | None:
        """:meth:`find` without waiting: what is visible right now, if anything."""
        flat = [(key, i) for key, finds in groups.items() for i in range(len(finds))]
        entries = [[key, f.css, f.text] for key, finds in groups.items() for f in finds]
        hit = await self.evaluate(f"(entries) => ({FIND_JS})(entries)", entries)
        return None if hit is None else flat[int(hit[1])]

    async def wait_cleared(self, find: Find, text: str, timeout_s: float) -> bool:
        """Whether the element stopped holding ``text`` (a form that sent it clears it)
        within ``timeout_s``."""
        script = """([css, text]) => {
          const el = document.querySelector(css);
          return !el || !(("value" in el ? el.value : el.innerText) || "").includes(text);
        }"""
        try:
            await _guarded(
                self._page.wait_for_function(
                    script, arg=[find.css, text.strip()[:64]], polling=20, timeout=timeout_s * 1000
                )
            )
        except PageTimeout:
            return False
        return True

    async def ready(self, script: str, timeout_s: float) -> Any:
        """The first truthy value of ``script`` (a JS expression), polled."""
        handle = await _guarded(
            self._page.wait_for_function(script, polling=50, timeout=timeout_s * 1000)
        )
        return await _guarded(handle.json_value())

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

    async def insert(self, find: Find, text: str) -> None:
        """Focus the element and insert ``text`` as if typed at once (one input event)."""
        await _guarded(self._locator(find).focus())
        await _guarded(self._page.keyboard.insert_text(text))

    async def press(self, key: str) -> None:
        await _guarded(self._page.keyboard.press(key))

    async def text_of(self, find: Find) -> str:
        """The value (inputs) or text (anything else) of the first visible match."""
        script = "el => ('value' in el ? el.value : el.innerText) || ''"
        return str(await _guarded(self._locator(find).evaluate(script, timeout=2000)))

    async def evaluate(self, script: str, arg: Any = None) -> Any:
        return await _guarded(self._page.evaluate(script, arg))

    async def arm(self, generation: int, watch: list[list[Any]]) -> None:
        """Tap the completion requests of ``generation`` from now on; report ``watch``."""
        await self.evaluate(f"([g, w]) => window.{CONTROL}.arm(g, w)", [generation, watch])

    async def disarm(self) -> None:
        await self.evaluate(f"() => window.{CONTROL} && window.{CONTROL}.disarm()")

    async def abort(self, generation: int) -> None:
        await self.evaluate(f"(g) => window.{CONTROL} && window.{CONTROL}.abort(g)", generation)

    async def bring_to_front(self) -> None:
        await _guarded(self._page.bring_to_front())


class _Profile:
    """One site's running Chromium: its context, its page, its process."""

    def __init__(self, context: BrowserContext, tab: Tab, headless: bool) -> None:
        self.context = context
        self.tab = tab
        self.headless = headless
        self.pid: int | None = None
        self.start = 0
        self.unwatch: Callable[[], None] = lambda: None


class Browser:
    """The Chromium processes of every site, launched on demand and closed when idle."""

    def __init__(
        self, root: Path, executable: Path | None, *, headless: bool, idle_s: float
    ) -> None:
        self.root = root  # <state dir>/browser
        self.executable = executable
        self.headless = headless
        self.idle_s = idle_s
        self._driver: Any = None  # playwright.async_api.Playwright once started
        self._profiles: dict[str, _Profile] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._last_used: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._idle_task: asyncio.Task[None] | None = None

    def reap_leftovers(self) -> list[int]:
        """Kill Chromium processes a previous daemon left running (see the module docstring)."""
        return procs.reap(self.root) if self.root.is_dir() else []

    async def tab(self, site: str, init_script: str, *, headless: bool | None = None) -> Tab:
        """The site's page, launching its Chromium first when it is not running, or runs in
        the other mode than ``headless`` asks (None: whichever runs, else the default)."""
        async with self._locks.setdefault(site, asyncio.Lock()):
            profile = self._profiles.get(site)
            if profile is not None and profile.tab.tap.gone is None:
                if headless is None or profile.headless == headless:
                    return profile.tab
            want = self.headless if headless is None else headless
            if profile is not None:
                await self._close(site)
            profile = await self._launch(site, init_script, want)
            self._profiles[site] = profile
            self._last_used[site] = asyncio.get_running_loop().time()
            if self._idle_task is None:
                self._idle_task = asyncio.create_task(self._idle_watch(), name="browser-idle")
            self._wake.set()
            return profile.tab

    def hold(self, site: str) -> None:
        """A call is using the site: no idle close until :meth:`release`."""
        self._users[site] = self._users.get(site, 0) + 1

    def release(self, site: str) -> None:
        self._users[site] -= 1
        self._last_used[site] = asyncio.get_running_loop().time()
        self._wake.set()

    def running(self, site: str) -> bool:
        profile = self._profiles.get(site)
        return profile is not None and profile.tab.tap.gone is None

    def process(self, site: str) -> tuple[int, procs.Memory] | None:
        """The pid of the site's Chromium and its tree's memory, while it runs."""
        profile = self._profiles.get(site)
        if profile is None or profile.pid is None or not procs.alive(profile.pid, profile.start):
            return None
        return profile.pid, procs.memory(profile.pid)

    async def close_site(self, site: str) -> None:
        async with self._locks.setdefault(site, asyncio.Lock()):
            await self._close(site)

    async def aclose(self) -> None:
        """Close every profile and the driver; leave no process behind."""
        if self._idle_task is not None:
            self._idle_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle_task
        for site in list(self._profiles):
            await self.close_site(site)
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
        chromium = self.executable or Path(self._driver.chromium.executable_path)
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
        tap = Tap()

        def gone(why: str) -> Callable[..., None]:
            return lambda *_args: tap.close(why)

        await _guarded(context.expose_binding(BINDING, tap.receive))
        await _guarded(context.add_init_script(init_script))
        page = context.pages[0] if context.pages else await _guarded(context.new_page())
        context.on("close", gone("the browser closed"))
        page.on("close", gone("the page closed"))
        page.on("crash", gone("the page crashed"))
        profile = _Profile(context, Tab(page, tap), headless)
        profile.pid = await self._pid(context)
        if profile.pid is not None:
            profile.start = procs.record(self.root / f"{site}.pid", profile.pid) or 0
            # Playwright reports nothing when its driver dies with the browser: the kernel does.
            profile.unwatch = procs.on_exit(profile.pid, gone("Chromium exited"))
        log.info("bridge_browser_started", site=site, pid=profile.pid, headless=headless)
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
        profile = self._profiles.pop(site, None)
        if profile is None:
            return
        with contextlib.suppress(BrowserGone, PageFault, PageTimeout, TimeoutError):
            async with asyncio.timeout(CLOSE_GRACE_S):
                await _guarded(profile.context.close())
        profile.unwatch()
        profile.tab.tap.close("the browser was closed")
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

    async def _idle_watch(self) -> None:
        """Close each site's Chromium ``idle_s`` after its last call; stop the driver once
        none runs. Runs until :meth:`aclose`."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            idle = [site for site in self._profiles if not self._users.get(site)]
            for site in idle:
                if now - self._last_used.get(site, now) >= self.idle_s:
                    await self.close_site(site)
                    log.info("bridge_browser_idle_closed", site=site)
            if not self._profiles and not any(lock.locked() for lock in self._locks.values()):
                await self._stop_driver()
            waits = [
                self._last_used.get(site, now) + self.idle_s - now
                for site in self._profiles
                if not self._users.get(site)
            ]
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(min(waits), 0.0) if waits else None):
                    await self._wake.wait()
