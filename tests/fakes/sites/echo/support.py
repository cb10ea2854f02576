"""What a test of the website bridges needs besides a mock site: the daemon's config for it, and
the browser processes a daemon under test started (to prove none is left behind).

A daemon's browser processes (Playwright's driver and every Chromium process) are found by the
daemon's own ``XDG_STATE_HOME`` in their environment: every daemon under test has a private one
(``tests.support.daemon.isolated_env``), and children inherit it whoever their parent is by then
(Chromium's helpers, whose titles overwrite it, are found as descendants of those).
Waiting for a process to end uses a pidfd (an event from the kernel, not a poll).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from bridges.procs import on_exit, tree
from tests.support.daemon import DaemonProcess

BROWSER_COMMAND = re.compile(rb"chrom|node|playwright|launch-chromium")
ECHO_SPEC = "tests.fakes.sites.echo.site:SPEC"
TEST_TIMEOUTS = {
    "page_load_timeout_s": 15,
    "first_chunk_timeout_s": 15,
    "chunk_timeout_s": 15,
}


def bridge_config(
    sites: Mapping[str, str],
    *,
    bridges: Mapping[str, object] | None = None,
    specs: Mapping[str, str] | None = None,
    extra: str = "",
) -> str:
    """Config text: ``[bridges]`` (the test timeouts, then ``bridges``), one
    ``[bridges.<site>]`` table per ``sites`` entry (site -> base URL; ``specs`` names a
    SiteSpec for sites the catalog lacks), then ``extra`` (other tables)."""
    settings = {**TEST_TIMEOUTS, **(bridges or {})}
    lines = ["[bridges]", *(f"{key} = {_toml(value)}" for key, value in settings.items())]
    for site, url in sites.items():
        lines += ["", f"[bridges.{site}]", f'url = "{url}"']
        if specs and site in specs:
            lines.append(f'spec = "{specs[site]}"')
    return "\n".join(lines) + "\n\n" + extra


def echo_config(
    base_url: str, *, bridges: Mapping[str, object] | None = None, extra: str = ""
) -> str:
    """The echo site as a bridge, serving the ``zai`` provider (which has no key in a test
    daemon, so ``route: auto`` takes the bridge)."""
    zai = '[providers.zai]\nbridge = "echo"\n'
    return bridge_config(
        {"echo": base_url}, bridges=bridges, specs={"echo": ECHO_SPEC}, extra=zai + extra
    )


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def browser_processes(daemon: DaemonProcess) -> list[int]:
    """Pids of the browser processes (driver, Chromium) started by ``daemon``, alive now: those
    whose environment names its state dir, and their descendants (a Chromium helper writes its
    title over its environment, so its own may not show it)."""
    marker = f"XDG_STATE_HOME={daemon.env['XDG_STATE_HOME']}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == daemon.proc.pid:
            continue
        with contextlib.suppress(OSError):
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z" and BROWSER_COMMAND.search((entry / "cmdline").read_bytes()):
                found.append(int(entry.name))
    return sorted({pid for marked in found for pid in tree(marked)})


async def ended(pids: Iterable[int], timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Return once every process of ``pids`` has exited; TimeoutError otherwise."""
    async with asyncio.timeout(timeout):
        for pid in pids:
            await _exit_of(pid)


async def _exit_of(pid: int) -> None:
    exited = asyncio.Event()
    stop = on_exit(pid, exited.set)
    try:
        await exited.wait()
    finally:
        stop()
