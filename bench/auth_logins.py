"""Credential benchmark: the vault's reads, starting a login, and refresh under load.

Measured in one run, each beside a baseline taken the same way:

- a cached credential read (``Sessions.current`` of a stored key) against the same record
  parsed from a plain in-memory dict (what any credential lookup costs without the vault);
- a cold read (the file read, AES-GCM opened, JSON parsed) against reading and parsing the same
  payload from a plaintext file;
- ``auth.oauth.start`` until the URL is back (an openai-codex browser login: PKCE, state, a
  loopback listener), through the daemon over WebSocket, against ``daemon.info`` on the same
  connection;
- 100 concurrent ``chat.send`` calls that all find the kimi-coding login's access token about to
  expire: how many refresh grants reach the authorization server (one is right), and their
  latency against the same 100 calls with a fresh token.

The authorization server is the tests' fake (``tests.fakes.oauth``), the chat upstream the
tests' OpenAI fake, both on threads of this process; the daemon is a child process.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench._aio import run as run_loop
from bench._report import Row, Section, Target, render, targets_summary
from bench._spawn import log_problems
from daemon.auth.login_config import LoginCatalog
from daemon.auth.records import Login, api_key_login
from daemon.auth.session import Sessions
from daemon.client import Client
from daemon.store import files, keyfile
from daemon.store.crypto import unseal
from daemon.store.vault import Vault
from tests.support.daemon import running_daemon
from tests.support.oauth import ThreadedOAuth, running_oauth
from tests.support.upstream import ThreadedUpstream

BURST = 100
KIMI = "kimi-coding"


@dataclass
class Figures:
    """Everything this benchmark measures (times in µs or ms, as named)."""

    cached_us: float = float("nan")
    dict_us: float = float("nan")
    cold_us: float = float("nan")
    plain_us: float = float("nan")
    start_ms: float = float("nan")
    info_ms: float = float("nan")
    refreshes: float = float("nan")
    expired_p50_ms: float = float("nan")
    fresh_p50_ms: float = float("nan")


def _per_call_us(samples: int, once: Callable[[], object]) -> float:
    started = time.perf_counter()
    for _ in range(samples):
        once()
    return (time.perf_counter() - started) / samples * 1e6


async def _per_await_us(samples: int, once: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    for _ in range(samples):
        await once()
    return (time.perf_counter() - started) / samples * 1e6


async def vault_reads(work: Path, samples: int, figures: Figures) -> None:
    """Cached and cold reads of one stored key, each beside its plaintext baseline."""
    location = keyfile.locate({}, work)
    payload = api_key_login("sk-bench-0000000000000000000000").to_json()
    async with Vault(work / "vault", location) as vault:
        await vault.put("openai", "default", payload)
        sessions = Sessions(vault, LoginCatalog.from_config({}), None)  # type: ignore[arg-type]
        await sessions.current("openai")
        figures.cached_us = await _per_await_us(samples, lambda: sessions.current("openai"))
        plain = {"openai.default": payload}
        figures.dict_us = _per_call_us(samples, lambda: Login.from_json(plain["openai.default"]))
        keys = {key.kid: key for key in keyfile.load(location) if key is not None}
        sealed = work / "vault" / "openai.default.rec"
        clear = work / "plain.json"
        clear.write_bytes(orjson.dumps(payload))

        def cold() -> object:
            envelope = files.read_small(sealed)
            assert envelope is not None
            return Login.from_json(orjson.loads(unseal(keys, "openai.default", envelope)))

        def plaintext() -> object:
            return Login.from_json(orjson.loads(clear.read_bytes()))

        figures.cold_us = _per_call_us(samples // 10, cold)
        figures.plain_us = _per_call_us(samples // 10, plaintext)


def _config(oauth: ThreadedOAuth, upstream: ThreadedUpstream) -> str:
    return (
        oauth.config("openai-codex", KIMI)
        + f'\n[providers.{KIMI}]\nbase_url = "{upstream.base_url}"\n'
        + 'default_model = "gpt-fake"\n'
    )


async def _login(daemon: Client, oauth: ThreadedOAuth) -> None:
    """A kimi-coding device login, approved at the fake at once."""
    flow = await daemon.call("auth.oauth.start", {"provider": KIMI})
    oauth.fake.approve(flow["userCode"])
    outcome = await daemon.call("auth.oauth.wait", {"flowId": flow["flowId"], "timeoutMs": 10_000})
    assert outcome["status"] == "complete", outcome


async def _burst(daemon: Client) -> list[float]:
    """``BURST`` concurrent chat.send calls; each one's latency in ms."""
    params = {"provider": KIMI, "messages": [{"role": "user", "content": "hi"}]}

    async def one() -> float:
        started = time.perf_counter()
        await daemon.call("chat.send", params)
        return (time.perf_counter() - started) * 1000

    return list(await asyncio.gather(*(one() for _ in range(BURST))))


async def through_daemon(
    socket: Path, oauth: ThreadedOAuth, rounds: int, samples: int, figures: Figures
) -> None:
    """Login start latency, then refresh bursts against fresh-token bursts."""
    async with Client(socket) as daemon:
        starts, infos = [], []
        for _ in range(samples):
            t0 = time.perf_counter()
            flow = await daemon.call("auth.oauth.start", {"provider": "openai-codex"})
            starts.append((time.perf_counter() - t0) * 1000)
            await daemon.call("auth.oauth.cancel", {"flowId": flow["flowId"]})
            t0 = time.perf_counter()
            await daemon.call("daemon.info")
            infos.append((time.perf_counter() - t0) * 1000)
        figures.start_ms, figures.info_ms = statistics.median(starts), statistics.median(infos)
        refreshes, expired, fresh = [], [], []
        for round_ in range(rounds + 1):
            oauth.fake.access_lifetime = 60.0  # inside the daemon's 5-minute renewal margin
            await _login(daemon, oauth)
            oauth.fake.access_lifetime = 3600.0  # what the one refresh hands out
            before = oauth.fake.refresh_counts[KIMI]
            expired_round = await _burst(daemon)
            refreshes.append(oauth.fake.refresh_counts[KIMI] - before)
            fresh_round = await _burst(daemon)
            if round_:  # round 0 warms up: the adapter's import, the upstream's connections
                expired += expired_round
                fresh += fresh_round
        figures.refreshes = max(refreshes)
        figures.expired_p50_ms = statistics.median(expired)
        figures.fresh_p50_ms = statistics.median(fresh)


def measure(quick: bool) -> Figures:
    """Every figure, the daemon and the fakes started and stopped here."""
    figures = Figures()
    samples = 2_000 if quick else 20_000
    with tempfile.TemporaryDirectory(prefix="sb-bench-auth-") as work:
        run_loop(vault_reads(Path(work), samples, figures))
    upstream = ThreadedUpstream()
    try:
        with running_oauth(device_interval=0.02) as oauth:
            config = _config(oauth, upstream)
            with running_daemon(config=config) as daemon:
                try:
                    run_loop(through_daemon(daemon.socket, oauth, 2 if quick else 5, 50, figures))
                except Exception:
                    print("\n".join(log_problems(daemon.log_text())), file=sys.stderr)
                    raise
    finally:
        upstream.close()
    return figures


def sections(f: Figures) -> list[Section]:
    """The report's rows."""
    added = f.expired_p50_ms - f.fresh_p50_ms
    return [
        (
            "Vault (in process; baseline: the same record in plaintext)",
            [
                Row("cached read (us)", f.cached_us, f.dict_us, ".1f", Target("< 50", _lt(50))),
                Row(
                    "cold read + decrypt (us)",
                    f.cold_us,
                    f.plain_us,
                    ".1f",
                    Target("< 1000", _lt(1000)),
                ),
            ],
        ),
        (
            "Logins through the daemon (baseline: daemon.info)",
            [
                Row(
                    "auth.oauth.start to URL p50 (ms)",
                    f.start_ms,
                    f.info_ms,
                    ".2f",
                    Target("< 20", _lt(20)),
                )
            ],
        ),
        (
            f"{BURST} concurrent chat.send, token expiring (baseline: token fresh)",
            [
                Row(
                    "refresh grants sent", f.refreshes, 1.0, ".0f", Target("== 1", lambda v: v == 1)
                ),
                Row("p50 latency (ms)", f.expired_p50_ms, f.fresh_p50_ms, ".2f"),
                Row("added p50 by the refresh (ms)", added, float("nan"), ".2f"),
            ],
        ),
    ]


def _lt(limit: float) -> Callable[[float], bool]:
    return lambda value: value < limit


def run(quick: bool) -> bool:
    """Measure and print; False when a figure could not be measured."""
    print("\nCredential benchmark (vault, login start, refresh under load)", flush=True)
    figures = measure(quick)
    table = sections(figures)
    print(render(table))
    print(targets_summary(table), flush=True)
    values: list[Any] = [v for v in vars(figures).values()]
    return all(v == v for v in values)  # nan != nan: a figure that was not measured
