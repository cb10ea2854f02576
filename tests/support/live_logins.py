"""Logins made for real: a daemon signs in through the fake authorization server
(:mod:`tests.fakes.oauth`), then calls the login-bound families' chat fakes
(:mod:`tests.fakes.families`), which accept exactly the tokens that server issued and still
holds live. A token the server revoked, expired or rotated away is a 401 at the chat fake, as
at the real provider.

:func:`signed_in_rig` starts the three (authorization server, chat fake, daemon) and, when the
test is over, stops the daemon and checks that no secret the authorization server issued or
was shown reached the daemon's log (written at debug level), an answer the test collected, or
a file under the state dir::

    with signed_in_rig() as rig:
        async with rig.client() as daemon:
            await rig.device_login(daemon, "kimi-coding")
            answer = await daemon.call("chat.send", rig.ask("kimi-coding"))
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from daemon.client import Client
from tests.fakes.families.logins import bearer
from tests.fakes.families.script import expected_text
from tests.fakes.families.server import FakeFamilies, load_wires
from tests.fakes.families.wire import Wire
from tests.fakes.oauth.server import FakeOAuth
from tests.support.daemon import DaemonProcess, start_daemon
from tests.support.leaks import assert_daemon_leaked_nothing
from tests.support.logins import LOG_EVERYTHING, Answers
from tests.support.oauth import ThreadedOAuth, running_oauth
from tests.support.upstream import Threaded, threaded_families

# The logins with a device method, each with a chat fake of its family.
DEVICE_LOGINS = ("qwen-portal", "kimi-coding", "minimax-portal", "github-copilot", "openai-codex")
QUESTION = "how warm is Lisbon"
# The token kind a call carries: Copilot calls with the token its exchange minted.
_CALL_TOKEN = {"github-copilot": "copilot"}
# What each family insists on besides a live token (the families' own fakes say why).
_RULES: Mapping[str, Callable[[Mapping[str, str], FakeOAuth], bool]] = {
    "qwen-portal": lambda headers, oauth: headers.get("x-dashscope-authtype") == "qwen-oauth",
    "minimax-portal": lambda headers, oauth: "x-api-key" not in headers,
    "openai-codex": lambda headers, oauth: (
        headers.get("chatgpt-account-id") == oauth.user.account_id
    ),
}


def _any_headers(headers: Mapping[str, str], oauth: FakeOAuth) -> bool:
    return True


def _call_token(provider: str) -> str:
    return _CALL_TOKEN.get(provider, "access")


def _live_wire(wire: Wire, oauth: FakeOAuth) -> Wire:
    kind = _call_token(wire.provider)
    rule = _RULES.get(wire.provider, _any_headers)

    def authorized(headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
        token = bearer(headers)
        return token in oauth.live_tokens(wire.provider, kind) and rule(headers, oauth)

    return dataclasses.replace(wire, authorized=authorized)


def _chat_fake(oauth: FakeOAuth) -> Threaded[FakeFamilies]:
    wires = [_live_wire(w, oauth) for w in load_wires() if w.provider in DEVICE_LOGINS]
    return threaded_families(wires)


def _point_logins_at(oauth: FakeOAuth, chat_base: str) -> None:
    # The logins that name their API base (qwen's resource_url, minimax's, Copilot's
    # endpoints.api) name the chat fake's mounts.
    oauth.qwen_resource_url = f"{chat_base}/qwen"
    oauth.minimax_resource_url = f"{chat_base}/minimax/anthropic"
    oauth.copilot_api_url = f"{chat_base}/copilot/api"


def rig_config(oauth: ThreadedOAuth, chat_base: str) -> str:
    """The daemon's config: every device login pointed at the fake authorization server, the
    two providers whose login names no base at the chat fake, no retries (a test counts
    requests), and no breaker in the way.

    The three whose login names the API base get a base where nothing listens: a call that
    ignored the login's base fails here, on this machine, instead of reaching a real host."""
    dead = "http://127.0.0.1:9"  # the discard port: connection refused
    return f"""{oauth.config(*DEVICE_LOGINS)}
[providers.kimi-coding]
base_url = "{chat_base}/kimi/coding/v1"

[providers.openai-codex]
base_url = "{chat_base}/codex/backend-api/codex"

[providers.qwen-portal]
base_url = "{dead}/v1"

[providers.minimax-portal]
base_url = "{dead}/anthropic/v1"

[providers.github-copilot]
base_url = "{dead}"

[reliability]
retries = 0
breaker_threshold = 1000
"""


class Recorder:
    """A daemon client that keeps every answer, results and errors alike, for the leak check."""

    def __init__(self, client: Client, answers: list[object]) -> None:
        # ``Client.call``, remembering what came back in ``answers``.
        self.call = Answers(answers).recording(client)

    async def credentials(self, provider: str) -> list[dict[str, Any]]:
        """auth.status's credential rows for ``provider``."""
        status = await self.call("auth.status")
        return [row for row in status["credentials"] if row["provider"] == provider]


@dataclasses.dataclass
class Rig:
    """The authorization server, the chat fake and the daemon of one test."""

    oauth: ThreadedOAuth
    chat: Threaded[FakeFamilies]
    daemon: DaemonProcess
    answers: list[object] = dataclasses.field(default_factory=list)
    # Every daemon of the test (a restart, a second process on the same state dir).
    daemons: list[DaemonProcess] = dataclasses.field(default_factory=list)

    @property
    def fake(self) -> FakeOAuth:
        return self.oauth.fake

    @contextlib.asynccontextmanager
    async def client(self, daemon: DaemonProcess | None = None) -> AsyncIterator[Recorder]:
        """A connected :class:`Recorder` to ``daemon`` (default: the first one)."""
        async with Client((daemon or self.daemon).socket) as connected:
            yield Recorder(connected, self.answers)

    def another_daemon(self) -> DaemonProcess:
        """A second daemon process on the first one's state dir (same vault, same key)."""
        state = {"XDG_STATE_HOME": self.daemon.env["XDG_STATE_HOME"]}
        config = rig_config(self.oauth, self.chat.base_url)
        process = start_daemon(config=config, env=state, args=LOG_EVERYTHING)
        self.daemons.append(process)
        return process

    def daemon_with(
        self, env: Mapping[str, str], edit: Callable[[str], str] = str
    ) -> DaemonProcess:
        """Another daemon with a vault of its own, ``env`` added to its environment, and its
        config passed through ``edit``."""
        config = edit(rig_config(self.oauth, self.chat.base_url))
        process = start_daemon(config=config, env=env, args=LOG_EVERYTHING)
        self.daemons.append(process)
        return process

    async def device_login(
        self, daemon: Recorder, provider: str, **params: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start ``provider``'s device login, approve its code at the fake as the person
        would, and wait for the daemon to finish: (start's answer, wait's answer)."""
        flow = await daemon.call("auth.oauth.start", {"provider": provider, **params})
        self.fake.approve(flow["userCode"])
        outcome = await daemon.call(
            "auth.oauth.wait", {"flowId": flow["flowId"], "timeoutMs": 20_000}
        )
        assert outcome["status"] == "complete", outcome
        return flow, outcome

    def chats_for(self, marker: str) -> list[Any]:
        """The chat fake's requests of the call whose model carried ``marker``."""
        return self.chat.fake.requests_for(marker)

    def call_tokens(self, provider: str) -> list[str]:
        """The live tokens the server issued that a call to ``provider`` carries (Copilot's:
        those its exchange minted), oldest first."""
        return self.fake.live_tokens(provider, _call_token(provider))

    def tokens_sent(self, marker: str) -> list[str]:
        """The bearer tokens the calls marked ``marker`` carried, in order."""
        return [bearer(seen.headers) for seen in self.chats_for(marker)]


def marker() -> str:
    """A scenario id that tells one call's requests apart at the chat fake."""
    return f"scenario={uuid.uuid4().hex[:10]}"


def ask(provider: str, scenario: str, **params: Any) -> dict[str, Any]:
    """chat.send's params: one question to ``provider``, marked with ``scenario``."""
    messages = [{"role": "user", "content": QUESTION}]
    return {"provider": provider, "model": f"fake-model+{scenario}", "messages": messages, **params}


def answered(result: Mapping[str, Any]) -> None:
    """The chat fake's echo came back."""
    assert result["message"]["content"] == expected_text(QUESTION), result


def check_leaks(rig: Rig, daemon: DaemonProcess, extra: list[object] | None = None) -> None:
    """No issued secret in ``daemon``'s log or state dir, or in any answer collected."""
    assert_daemon_leaked_nothing(daemon, [*rig.answers, *(extra or [])], rig.fake)


@contextlib.contextmanager
def signed_in_rig(device_interval: float = 0.05) -> Iterator[Rig]:
    """A fresh authorization server, chat fake and daemon; on exit every daemon must stop
    cleanly and nothing may have leaked."""
    with running_oauth(device_interval=device_interval) as oauth:
        chat = _chat_fake(oauth.fake)
        try:
            _point_logins_at(oauth.fake, chat.base_url)
            daemon = start_daemon(config=rig_config(oauth, chat.base_url), args=LOG_EVERYTHING)
            rig = Rig(oauth, chat, daemon, daemons=[daemon])
            try:
                yield rig
                for process in reversed(rig.daemons):
                    assert process.stop() == 0, process.log_text()
                for process in rig.daemons:
                    check_leaks(rig, process)
            finally:
                for process in reversed(rig.daemons):
                    process.close()
        finally:
            oauth.fake.clear_faults()  # let hung requests go before the servers stop
            chat.close()
