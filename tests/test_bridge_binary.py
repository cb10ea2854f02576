"""Which Chromium the website bridges start, and that the choice is what really runs.

Debian's ``chromium``; with ``[bridges] headless_shell = true``, headless runs take Debian's
``chromium-headless-shell`` instead (the same Chromium without a browser UI: about half the
memory, and more tells for a site's anti-bot checks) while a visible window stays in the full
``chromium``; ``[bridges] browser`` for both when set; Playwright's own Chromium where Debian's
are missing. Both Debian binaries open
the same profile, so what a person leaves in it through a window (a passed check's cookies)
is there for the headless runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridges import procs
from bridges.browser import Browser
from bridges.tap import init_script
from tests.fakes.sites.echo.server import ThreadedEcho, running_echo
from tests.fakes.sites.echo.support import echo_config
from tests.support.daemon import running_daemon
from tests.support.wsrpc import Rpc, websocket

SHELL = procs.DEBIAN_HEADLESS_SHELL
FULL = procs.DEBIAN_CHROMIUM
FULL_BINARY = Path("/usr/lib/chromium/chromium")  # what the /usr/bin/chromium wrapper execs
MINE = Path("/opt/my/chrome")
SEND = {"messages": [{"role": "user", "content": "hello"}], "provider": "zai"}


@pytest.mark.parametrize(
    ("configured", "shell", "installed", "headless", "headed"),
    [
        (None, False, {FULL, SHELL}, FULL, FULL),
        (None, True, {FULL, SHELL}, SHELL, FULL),
        (None, True, {FULL}, FULL, FULL),
        (None, True, {SHELL}, SHELL, None),  # a window from Playwright's own Chromium
        (None, False, {SHELL}, None, None),
        (None, True, set(), None, None),
        (MINE, True, {FULL, SHELL}, MINE, MINE),  # the setting wins, even over the shell
    ],
    ids=["default", "shell", "shell-missing", "only-shell", "shell-unwanted", "neither", "set"],
)
def test_the_binary_depends_on_the_mode_the_setting_and_what_is_installed(
    configured: Path | None,
    shell: bool,
    installed: set[Path],
    headless: Path | None,
    headed: Path | None,
) -> None:
    chromium = procs.find_chromium(configured, installed.__contains__, shell=shell)
    assert chromium == procs.Chromium(headless, headed)
    assert chromium.binary(True) == headless
    assert chromium.binary(False) == headed


def test_the_shell_is_named_by_its_binary_so_nothing_sits_between_launcher_and_chromium() -> None:
    assert SHELL.is_file(), "chromium-headless-shell is not installed (`make test` installs it)"
    assert SHELL.read_bytes()[:4] == b"\x7fELF"


@pytest.fixture(scope="module")
def echo() -> Iterator[ThreadedEcho]:
    with running_echo() as site:
        yield site


async def running_exe(rpc: Rpc) -> tuple[dict[str, Any], Path]:
    """After one bridge call: bridges.status's browser and the binary its site's pid runs."""
    assert "result" in await rpc.call("chat.send", SEND)
    status = (await rpc.call("bridges.status", {}))["result"]
    site = next(s for s in status["sites"] if s["site"] == "echo")
    return status["browser"], Path(os.readlink(f"/proc/{site['pid']}/exe"))


@pytest.mark.browser
@pytest.mark.parametrize(
    ("setting", "runs", "named"),
    [({}, FULL_BINARY, FULL), ({"headless_shell": True}, SHELL, SHELL)],
    ids=["default", "headless_shell"],
)
async def test_a_headless_bridge_runs_the_binary_chosen_and_says_so(
    echo: ThreadedEcho, setting: dict[str, Any], runs: Path, named: Path
) -> None:
    echo.configure()
    with running_daemon(config=echo_config(echo.base_url, bridges=setting)) as daemon:
        async with websocket(daemon) as rpc:
            browser, exe = await running_exe(rpc)
            health = (await rpc.call("daemon.health", {}))["result"]
        assert daemon.stop() == 0
    assert exe == runs
    assert browser["executable"] == str(named)
    assert health["components"]["browser"]["detail"] == f"running ({named})"


@pytest.mark.browser
async def test_a_configured_browser_runs_instead_of_the_shell(echo: ThreadedEcho) -> None:
    echo.configure()
    config = echo_config(echo.base_url, bridges={"browser": str(FULL), "headless_shell": True})
    with running_daemon(config=config) as daemon:
        async with websocket(daemon) as rpc:
            browser, exe = await running_exe(rpc)
        assert daemon.stop() == 0
    assert exe == FULL_BINARY
    assert browser["executable"] == str(FULL)


@pytest.mark.browser
async def test_both_binaries_open_the_same_profile(echo: ThreadedEcho, tmp_path: Path) -> None:
    """What one binary leaves in a site's profile, the other finds."""
    script = init_script("/api/chat")
    for chromium, writes, reads in [
        (SHELL, "left by the shell", None),
        (FULL, "and by chromium", "left by the shell"),
        (SHELL, None, "and by chromium"),
    ]:
        browser = Browser(tmp_path, procs.Chromium(chromium, chromium), headless=True, idle_s=60)
        try:
            tab = await browser.tab("echo", script)
            await tab.goto(echo.base_url, 15)
            assert await tab.evaluate("localStorage.getItem('note')") == reads
            if writes is not None:
                await tab.evaluate("note => localStorage.setItem('note', note)", writes)
        finally:
            await browser.aclose()
