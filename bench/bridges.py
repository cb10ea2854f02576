"""Bridge benchmark: what driving a site's own page in Chromium costs.

Measured against the tests' echo site (``tests.fakes.sites.echo``), which answers the same
way every time, with the daemon as a child process:

- a warm bridge call (``chat.send`` over WebSocket, a new chat each time: on the page the
  bridge loaded between calls, the prompt typed and the stream read through the tap) against
  the site's own response time for the same answer (the two requests its page makes, sent
  directly): the added latency at p50 and p99. Calls go :data:`PAUSE_S` apart, as a client
  reading its answers would send them (back to back, each call would also wait for the page
  the previous one started loading);
- the cold first call: Playwright's driver and Chromium start, the page loads, the answer;
- the memory of one site's Chromium, its whole process tree, three ways. The issue's target
  is on RSS, which is a per-process figure, so it is given both ways a tree has one: its
  resident pages each counted once (what the tree holds in RAM, shared libraries included; it
  takes root to see page frames, and is "-" without) and the sum of the processes' RSS (which
  counts a page once per process mapping it: the Chromium binary and its libraries are
  mapped by every process, so it overstates by 50-70 MB a process). Then the proportional
  set size (each shared page split among the processes mapping it, other programs' too) and
  its anonymous part (the heaps: no file behind them).

``python -m bench.bridges [--quick] [--browser PATH]`` runs this benchmark alone, with
``[bridges] browser = PATH`` when given (to compare binaries).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench._aio import run as run_loop
from bench._model import percentile
from bench._report import Row, Target, render, targets_summary
from bench._spawn import log_problems
from tests.fakes.sites.echo.server import ThreadedEcho, running_echo
from tests.fakes.sites.echo.support import echo_config
from tests.support.daemon import DaemonProcess, running_daemon
from tests.support.wsrpc import websocket

HELLO = [{"role": "user", "content": "Reply with exactly: benchmark answer"}]
SEND = {"messages": HELLO, "provider": "zai"}
NAN = math.nan
PAUSE_S = 0.5
PAGE = os.sysconf("SC_PAGE_SIZE")
PRESENT = 1 << 63  # of a /proc/<pid>/pagemap entry; bits 0-54 are the page frame
FRAME = (1 << 55) - 1
MAPPING = re.compile(r"([0-9a-f]+)-([0-9a-f]+) ")
UNDER_300 = Target("< 300 MB", lambda v: v < 300)  # the issue's: one site's profile


@dataclass
class Figures:
    """Milliseconds and bytes, as named."""

    cold_ms: float = NAN
    bridge: tuple[float, float] = (NAN, NAN)  # p50, p99 of a warm call
    direct: tuple[float, float] = (NAN, NAN)  # the site's own, same answer
    resident: float = NAN  # the tree's RSS, each page once
    rss: float = NAN  # the processes' RSS summed
    pss: float = NAN
    anon: float = NAN
    executable: str = "?"  # the Chromium that ran, as bridges.status names it
    problems: tuple[str, ...] = ()


def spread(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return percentile(ordered, 50), percentile(ordered, 99)


async def direct_call(http: aiohttp.ClientSession, base_url: str) -> float:
    """The site's own work for one answer: a new chat, then the streamed completion."""
    started = time.perf_counter()
    async with http.post(f"{base_url}/api/chats/new") as made:
        chat = (await made.json())["id"]
    body = {"chat": chat, "prompt": HELLO[0]["content"], "model": "echo-1"}
    async with http.post(f"{base_url}/api/chat?chat={chat}", json=body) as response:
        answer = await response.read()
    assert b'"done"' in answer
    return (time.perf_counter() - started) * 1000


async def measure_calls(daemon: DaemonProcess, echo: ThreadedEcho, count: int) -> Figures:
    figures = Figures()
    async with websocket(daemon) as rpc:
        started = time.perf_counter()
        first = await rpc.call("chat.send", SEND)
        figures.cold_ms = (time.perf_counter() - started) * 1000
        assert first["result"]["message"]["content"] == "benchmark answer", first
        samples = []
        for _ in range(count):
            await asyncio.sleep(PAUSE_S)
            started = time.perf_counter()
            answer = await rpc.call("chat.send", SEND)
            samples.append((time.perf_counter() - started) * 1000)
            assert "result" in answer, answer
        figures.bridge = spread(samples)
        status = (await rpc.call("bridges.status", {}))["result"]
    site = next(s for s in status["sites"] if s["site"] == "echo")
    figures.pss, figures.rss = site["pssBytes"] / 2**20, site["rssBytes"] / 2**20
    figures.anon = anonymous_mb(site["pid"])
    figures.resident = resident_once_mb(site["pid"])
    figures.executable = status["browser"]["executable"] or "Playwright's own"
    async with aiohttp.ClientSession() as http:
        await direct_call(http, echo.base_url)  # (a connection, as the page has one)
        samples = []
        for _ in range(count):
            await asyncio.sleep(PAUSE_S)
            samples.append(await direct_call(http, echo.base_url))
        figures.direct = spread(samples)
    return figures


def anonymous_mb(pid: int) -> float:
    """The anonymous (private, not file-backed) share of the tree's PSS."""
    from bridges import procs

    total = 0
    for member in procs.tree(pid):
        try:
            with open(f"/proc/{member}/smaps_rollup") as rollup:
                total += sum(
                    int(line.split()[1]) for line in rollup if line.startswith("Pss_Anon:")
                )
        except OSError:
            continue
    return total / 1024


def resident_once_mb(pid: int) -> float:
    """The resident memory of ``pid``'s tree with every physical page counted once, whichever
    of its processes map it (NaN when the kernel hides page frames: it shows them to root)."""
    from bridges import procs

    frames: set[int] = set()
    for member in procs.tree(pid):
        with contextlib.suppress(OSError):
            frames.update(_frames(member))
    if not frames or 0 in frames:  # hidden frames read as 0
        return NAN
    return len(frames) * PAGE / 2**20


def _frames(pid: int) -> Iterator[int]:
    """The page frames of ``pid``'s resident pages."""
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for start, end in _resident_mappings(pid):
            pagemap.seek(start // PAGE * 8)
            entries = array("Q", pagemap.read((end - start) // PAGE * 8))
            yield from (entry & FRAME for entry in entries if entry & PRESENT)


def _resident_mappings(pid: int) -> Iterator[tuple[int, int]]:
    """The address ranges of ``pid``'s mappings that have resident pages (from smaps)."""
    span = (0, 0)
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            if found := MAPPING.match(line):
                span = (int(found[1], 16), int(found[2], 16))
            elif line.startswith("Rss:") and int(line.split()[1]):
                yield span


def measure(quick: bool, browser: str | None = None) -> Figures:
    count = 10 if quick else 100
    settings = {"browser": browser} if browser else None
    with running_echo(chunks=4) as echo:
        with running_daemon(config=echo_config(echo.base_url, bridges=settings)) as daemon:
            try:
                figures = run_loop(measure_calls(daemon, echo, count))
            except Exception as exc:  # reported, not raised: the other benchmarks still run
                figures = Figures(problems=(f"{type(exc).__name__}: {exc}",))
            exit_code = daemon.stop()
            problems = log_problems(daemon.log_text())
    if exit_code != 0:
        problems.append(f"the daemon exited {exit_code}")
    figures.problems = (*figures.problems, *problems)
    return figures


def rows(figures: Figures) -> list[Row]:
    bridge_p50, bridge_p99 = figures.bridge
    direct_p50, direct_p99 = figures.direct
    return [
        Row("warm call p50 (ms)", bridge_p50, direct_p50, ".1f"),
        Row("warm call p99 (ms)", bridge_p99, direct_p99, ".1f"),
        Row(
            "warm added p50 (ms)",
            bridge_p50 - direct_p50,
            NAN,
            ".1f",
            Target("< 100 ms", lambda v: v < 100),
        ),
        Row("warm added p99 (ms)", bridge_p99 - direct_p99, NAN, ".1f"),
        Row(
            "cold first call (ms)",
            figures.cold_ms,
            bridge_p50,
            ".0f",
            Target("< 3 s", lambda v: v < 3000),
        ),
        Row("browser RSS, pages once (MB)", figures.resident, NAN, ".0f", UNDER_300),
        Row("browser RSS summed (MB)", figures.rss, NAN, ".0f", UNDER_300),
        Row("browser PSS (MB)", figures.pss, NAN, ".0f"),
        Row("browser PSS anonymous (MB)", figures.anon, NAN, ".0f"),
    ]


def run(quick: bool, browser: str | None = None) -> bool:
    """Measure and print; False when a figure could not be measured or the daemon had trouble."""
    print("\nBridge benchmark (echo site, real Chromium)", flush=True)
    figures = measure(quick, browser)
    print(f"Chromium: {figures.executable}")
    table = [("website bridge (baseline: the site's own response time)", rows(figures))]
    print(render(table))
    print(targets_summary(table))
    print("\n".join(["Problems:", *figures.problems] if figures.problems else ["Problems: none"]))
    values: list[Any] = [figures.cold_ms, *figures.bridge, *figures.direct, figures.pss]
    return not figures.problems and all(v == v for v in values)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bridges", description="the website bridge benchmark alone"
    )
    parser.add_argument("--quick", action="store_true", help="10 calls instead of 100")
    parser.add_argument("--browser", help="the Chromium to run ([bridges] browser)")
    args = parser.parse_args()
    return 0 if run(args.quick, args.browser) else 1


if __name__ == "__main__":
    raise SystemExit(main())
