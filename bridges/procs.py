"""The bridges' Chromium as processes (Linux): how it is started (flags that keep it from
calling home, a launcher that makes it die with its parent) and what ``/proc`` says about it.

No Chromium outlives the daemon:

- on a clean stop every profile is closed, then Playwright's driver; a Chromium still there
  after that gets SIGKILL, with its whole process group (:func:`kill_tree`);
- when the daemon is killed, the driver (its child) sees its pipe close and kills the
  browsers it launched; and every Chromium starts through :data:`LAUNCHER`, which asks the
  kernel to SIGKILL it when its parent, the driver, dies (``PR_SET_PDEATHSIG``), so a driver
  killed along with the daemon takes its browsers with it;
- each Chromium's pid and start time are kept in ``<state dir>/browser/<site>.pid`` while it
  runs (:func:`record`); at start-up the daemon kills a recorded Chromium that is somehow
  still running (:func:`reap`), which also frees its profile for the next launch.

Which Chromium runs (:func:`find_chromium`): ``[bridges] browser`` when set, for every launch;
else Debian's ``chromium``; with ``[bridges] headless_shell``, headless launches take Debian's
``chromium-headless-shell`` instead -- the same Chromium built without a browser UI (fewer
processes: about half the memory and a faster start, but more tells for a site's bot checks)
-- while a window stays in the full ``chromium``; Playwright's own Chromium where neither is
installed. The two Debian packages depend on the same exact ``chromium-common``, so they are
one version and share a site's profile.

A process is named by its pid and its start time (clock ticks since boot, field 22 of
``/proc/<pid>/stat``): a pid alone may have been reused by the time someone looks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
# The binary, not /usr/bin/chromium-headless-shell: that wrapper runs it as a child instead of
# exec'ing it, which would leave a shell between the launcher and Chromium (see LAUNCHER).
DEBIAN_HEADLESS_SHELL = Path("/usr/lib/chromium/chromium-headless-shell")
# What stops Chromium calling home: no sync, updates, metrics, crash reports or pings.
FLAGS = (
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--metrics-recording-only",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-pings",
)
# Runs Chromium so that it dies with its parent (the driver), even when that is SIGKILLed.
LAUNCHER = """#!{python} -IS
# Written by switchboard's website bridges; rewritten at every launch.
import ctypes, os, signal, sys
parent = os.getppid()
ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != parent:
    sys.exit(1)  # the driver died before the request took effect
os.execv({chromium!r}, [{chromium!r}, *sys.argv[1:]])
"""


@dataclass(frozen=True, slots=True)
class Chromium:
    """The binaries the bridges start, by mode; None is Playwright's own Chromium."""

    headless: Path | None
    headed: Path | None  # for a visible window: never the headless shell, which cannot show one

    def binary(self, headless: bool) -> Path | None:
        """The binary that starts a profile ``headless`` (or in a window)."""
        return self.headless if headless else self.headed


def find_chromium(
    configured: Path | None, installed: Callable[[Path], bool] = Path.exists, *, shell: bool = False
) -> Chromium:
    """``[bridges] browser`` for both modes; else Debian's Chromium, each when ``installed``
    (with ``shell``, Debian's headless shell for headless runs); else Playwright's."""
    if configured is not None:
        return Chromium(configured, configured)
    headed = DEBIAN_CHROMIUM if installed(DEBIAN_CHROMIUM) else None
    lean = shell and installed(DEBIAN_HEADLESS_SHELL)
    return Chromium(DEBIAN_HEADLESS_SHELL if lean else headed, headed)


def has_display() -> bool:
    """Whether a visible window could be shown (an X or Wayland display is set)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def write_launcher(directory: Path, chromium: Path) -> Path:
    """The launcher for ``chromium`` (0700, rewritten at every launch: the path may change)."""
    launcher = directory / "launch-chromium"
    launcher.write_text(LAUNCHER.format(python=sys.executable, chromium=str(chromium)))
    launcher.chmod(0o700)
    return launcher


@dataclass(frozen=True, slots=True)
class Stat:
    pid: int
    state: str
    ppid: int
    pgrp: int
    start: int


def stat(pid: int) -> Stat | None:
    """The process's stat line, or None when it is gone (or only a zombie is left)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return Stat(pid, fields[0], int(fields[1]), int(fields[2]), int(fields[19]))


def alive(pid: int, start: int) -> bool:
    """Whether the process that started at ``start`` still runs."""
    found = stat(pid)
    return found is not None and found.start == start


def tree(pid: int) -> list[int]:
    """``pid`` and every live descendant of it."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (found := stat(int(entry.name))) is not None:
            children.setdefault(found.ppid, []).append(found.pid)
    found_pids, index = [pid], 0
    while index < len(found_pids):
        found_pids.extend(children.get(found_pids[index], []))
        index += 1
    return found_pids


@dataclass(frozen=True, slots=True)
class Memory:
    rss: int  # bytes resident, summed over the processes (shared pages count in each)
    pss: int  # the proportional share: shared pages split among the processes that map them


def memory(pid: int) -> Memory:
    """The memory of ``pid``'s process tree."""
    rss = pss = 0
    for member in tree(pid):
        with contextlib.suppress(OSError):
            for line in (PROC / str(member) / "smaps_rollup").read_text().splitlines():
                name, _, rest = line.partition(":")
                if name == "Rss":
                    rss += int(rest.split()[0]) * 1024
                elif name == "Pss":
                    pss += int(rest.split()[0]) * 1024
    return Memory(rss, pss)


def kill_tree(pid: int, start: int) -> bool:
    """SIGKILL the process that started at ``start``, its process group when it leads one,
    and its descendants; False when it was already gone."""
    found = stat(pid)
    if found is None or found.start != start:
        return False
    members = tree(pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if found.pgrp == pid:
            os.killpg(pid, signal.SIGKILL)
    for member in members:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(member, signal.SIGKILL)
    return True


def record(path: Path, pid: int) -> int | None:
    """Write ``pid`` and its start time to ``path`` (0600); the start time, or None."""
    found = stat(pid)
    if found is None:
        return None
    path.write_text(json.dumps({"pid": pid, "start": found.start}))
    path.chmod(0o600)
    return found.start


def reap(directory: Path) -> list[int]:
    """Kill the processes recorded in ``directory/*.pid`` that still run; remove the records."""
    reaped: list[int] = []
    for path in sorted(directory.glob("*.pid")):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            entry = json.loads(path.read_text())
            if kill_tree(int(entry["pid"]), int(entry["start"])):
                reaped.append(int(entry["pid"]))
        path.unlink(missing_ok=True)
    return reaped


def on_exit(pid: int, callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` (once, on the running loop) when ``pid`` exits, as the kernel reports
    it through a pidfd; returns the function that stops watching."""
    loop = asyncio.get_running_loop()
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        loop.call_soon(callback)
        return lambda: None
    watching = True

    def stop() -> None:
        nonlocal watching
        if watching:
            watching = False
            loop.remove_reader(fd)
            os.close(fd)

    def exited() -> None:
        stop()
        callback()

    loop.add_reader(fd, exited)
    return stop
