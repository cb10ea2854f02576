"""``switchboard login`` as a person runs it, against a real daemon and the fake server.

The CLI is a child process with pipes for its terminal: the test reads the URL it prints,
signs in at the fake, and types the address the browser ended on; or presses Ctrl-C (SIGINT)
while it waits, which must cancel the flow in the daemon, not just end the command.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.daemon import REPO, DaemonProcess
from tests.support.leaks import assert_daemon_leaked_nothing
from tests.support.logins import (
    WAIT_MS,
    Answers,
    held_port,
    login_daemon,
    query,
    redirect_port,
)
from tests.support.oauth import ThreadedOAuth

CODEX = "openai-codex"
EXIT_TIMEOUT_S = 30.0  # a safety net: every run here ends well before it


@pytest.fixture(scope="module")
def daemon(oauth: ThreadedOAuth, answers: Answers) -> Iterator[DaemonProcess]:
    with login_daemon(oauth, answers, oauth.config(CODEX)) as started:
        yield started


class Terminal:
    """The CLI's end of a terminal: what it printed (prompts end without a newline), and
    lines typed into it."""

    def __init__(self, proc: asyncio.subprocess.Process, answers: Answers) -> None:
        self.proc = proc
        self._answers = answers
        self.printed = {"stdout": "", "stderr": ""}
        self._unread = {"stdout": 0, "stderr": 0}  # where the next expect() starts

    async def expect(self, stream: str, pattern: str) -> re.Match[str]:
        """Read ``stream`` (stdout or stderr) until what is new on it matches ``pattern``."""
        pipe = self.proc.stdout if stream == "stdout" else self.proc.stderr
        assert pipe is not None
        async with asyncio.timeout(EXIT_TIMEOUT_S):
            while not (
                found := re.compile(pattern, re.M).search(
                    self.printed[stream], self._unread[stream]
                )
            ):
                chunk = await pipe.read(4096)
                assert chunk, f"{stream} ended before {pattern!r}: {self.printed[stream]!r}"
                self.printed[stream] += chunk.decode()
        self._unread[stream] = found.end()
        return found

    async def type(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def exit_code(self) -> int:
        """Wait for the exit; everything it printed is kept for the leak check."""
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        async with asyncio.timeout(EXIT_TIMEOUT_S):
            out, err = await asyncio.gather(self.proc.stdout.read(), self.proc.stderr.read())
            code = await self.proc.wait()
        self.printed["stdout"] += out.decode()
        self.printed["stderr"] += err.decode()
        self._answers.seen.append(self.printed)
        return code


@contextlib.asynccontextmanager
async def login_cli(daemon: DaemonProcess, answers: Answers, *args: str) -> AsyncIterator[Terminal]:
    """``python -m daemon login ARGS --socket <the daemon's>`` with piped stdio."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "daemon",
        "login",
        *args,
        "--socket",
        str(daemon.socket),
        cwd=REPO,
        env=daemon.env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield Terminal(proc, answers)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_login_no_browser_prints_the_url_and_takes_the_pasted_address(
    oauth: ThreadedOAuth, daemon: DaemonProcess, answers: Answers
) -> None:
    async with login_cli(daemon, answers, CODEX, "--no-browser", "--account", "cli") as cli:
        url = (await cli.expect("stdout", r"^  (http\S+)$"))[1]
        location = await oauth.wait(oauth.fake.browse(url))
        await cli.expect("stderr", r"redirect URL or code: ")
        stale = location.replace(query(location)["state"], "not-this-login")
        await cli.type(stale)  # a wrong answer is refused and asked for again
        await cli.expect("stderr", r"not accepted: .*state")
        await cli.type(location)
        assert await cli.exit_code() == 0
    assert "logged in to openai-codex (account cli)" in cli.printed["stdout"]
    async with answers.connected(daemon) as call:
        status = await call("auth.status")
    rows = [r for r in status["credentials"] if (r["provider"], r.get("account")) == (CODEX, "cli")]
    assert [(r["kind"], r["origin"]) for r in rows] == [("oauth", "login")]


async def test_ctrl_c_while_waiting_cancels_the_flow_in_the_daemon(
    daemon: DaemonProcess, answers: Answers
) -> None:
    async with login_cli(daemon, answers, CODEX, "--no-browser", "--account", "ctrl-c") as cli:
        url = (await cli.expect("stdout", r"^  (http\S+)$"))[1]
        flow_id = (await cli.expect("stderr", r"\(login (fl_\S+); Ctrl-C cancels it\)"))[1]
        await cli.expect("stderr", r"redirect URL or code: ")
        cli.proc.send_signal(signal.SIGINT)
        assert await cli.exit_code() == 130
    assert "login cancelled" in cli.printed["stderr"]
    async with answers.connected(daemon) as call:
        outcome = await call("auth.oauth.wait", {"flowId": flow_id, "timeoutMs": WAIT_MS})
    assert outcome == {"flowId": flow_id, "provider": CODEX, "status": "cancelled"}
    held_port(redirect_port({"url": url})).close()  # its loopback port is free again


def test_nothing_the_cli_logins_saw_leaked(
    oauth: ThreadedOAuth, daemon: DaemonProcess, answers: Answers
) -> None:
    """No secret in the daemon's log, its answers, what the CLI printed, or the state dir."""
    assert_daemon_leaked_nothing(daemon, answers.seen, oauth.fake)
