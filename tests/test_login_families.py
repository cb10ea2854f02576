"""What a login brings to a call, beyond the contract every family keeps.

The contract suite (``test_family_contract.py``) runs each login-bound family through the same
cases as every other. These specs pin what only logins have: the API base a login names
(qwen's ``resource_url``, Copilot's ``endpoints.api``) with no base URL in the config at all;
the second step an import leaves to the first call (Copilot's token exchange, Code Assist's
project discovery), done once and renewed ahead of expiry; the identity each family insists on
(the row's headers, the ChatGPT account, Copilot's per-call headers) and what its gateway says
without it; and the typed error that asks for a new login when nothing else can help.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.errors import NeedsLogin, UpstreamAuthFailed, UpstreamRejected
from daemon.providers.catalog import PROVIDERS
from tests.fakes.families import github_copilot, google_gemini_cli, kimi_coding, logins
from tests.fakes.families import openai_codex as codex
from tests.fakes.families.script import expected_text
from tests.fakes.families.server import FakeFamilies, daemon_config, load_wires
from tests.fakes.families.wire import Wire
from tests.support.daemon import DaemonProcess, running_daemon
from tests.support.sign_ins import import_logins, login_home, signed_in_daemon
from tests.support.upstream import Threaded, threaded_families
from tests.support.wsrpc import Rpc, websocket

LOGINS = [w for w in load_wires() if w.sign_in is not None]
BY_ID = {w.provider: w for w in LOGINS}
QUESTION = "how warm is Lisbon"
# Providers the config defines on the fakes' mounts with no login: a call carries its key in
# the request, and the family's own rules show when the row's identity is missing.
BARE = """
[providers.kimi-bare]
api = "openai-completions"
base_url = "{base}/kimi/coding/v1"

[providers.copilot-bare]
api = "openai-completions"
base_url = "{base}/copilot/api"

[providers.code-assist-bare]
api = "google-gemini-cli"
base_url = "{base}/code-assist/v1internal"
project = "{config_project}"
"""


def _config(base_url: str, wires: list[Wire]) -> str:
    reliability = "retries = 0\nbreaker_threshold = 1000"
    main = daemon_config(base_url, wires, reliability, bases_from_logins=True)
    bare = BARE.format(base=base_url, config_project=google_gemini_cli.CONFIG_PROJECT)
    return main + bare


@pytest.fixture(scope="module")
def fake() -> Iterator[Threaded[FakeFamilies]]:
    with threaded_families(LOGINS) as threaded:
        yield threaded


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def daemon(fake: Threaded[FakeFamilies], home: Path) -> Iterator[DaemonProcess]:
    config = _config(fake.base_url, LOGINS)
    with signed_in_daemon(home, LOGINS, fake.base_url, config) as process:
        yield process


def scenario() -> str:
    return f"scenario={uuid.uuid4().hex[:10]}"


def ask(provider: str, marker: str, **params: Any) -> dict[str, Any]:
    messages = params.pop("messages", [{"role": "user", "content": QUESTION}])
    return {"provider": provider, "model": f"fake-model+{marker}", "messages": messages, **params}


def answered(answer: dict[str, Any]) -> dict[str, Any]:
    assert "result" in answer, answer
    result: dict[str, Any] = answer["result"]
    assert result["message"]["content"] == expected_text(QUESTION), result
    return result


# --- the base a login names -------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["qwen-portal", "github-copilot"])
async def test_a_call_goes_to_the_base_the_login_named(
    provider: str, rpc: Rpc, fake: Threaded[FakeFamilies]
) -> None:
    # The config names no base URL for these two: only the login's can have led here.
    marker = scenario()
    answered(await rpc.call("chat.send", ask(provider, marker)))
    [seen] = fake.fake.requests_for(marker)
    assert seen.path.startswith(BY_ID[provider].mount + "/")


# --- the second step an import leaves to the first call ----------------------------------------


async def test_code_assist_finds_the_project_once_and_calls_with_it(
    rpc: Rpc, fake: Threaded[FakeFamilies]
) -> None:
    # A fresh import: the CLI's file holds no project, so the login is not complete yet.
    again = {"provider": "google-gemini-cli", "overwrite": True}
    assert (await rpc.call("auth.oauth.import", again))["result"]["imported"]
    before = len(google_gemini_cli.DISCOVERIES)
    markers = [scenario(), scenario()]
    for marker in markers:
        answered(await rpc.call("chat.send", ask("google-gemini-cli", marker, stream=True)))
    # The first use found the project and the vault kept it: one loadCodeAssist for both
    # calls, and both name the account's project, not the config's.
    assert len(google_gemini_cli.DISCOVERIES) == before + 1
    for marker in markers:
        [seen] = fake.fake.requests_for(marker)
        assert seen.body["project"] == google_gemini_cli.PROJECT


async def test_a_project_the_account_was_not_given_is_refused_by_code_assist(rpc: Rpc) -> None:
    params = ask("code-assist-bare", scenario(), apiKey=logins.access_token("google-gemini-cli"))
    answer = await rpc.call("chat.send", params)
    assert answer["error"]["code"] == UpstreamAuthFailed.code, answer
    assert answer["error"]["data"]["status"] == 403
    assert google_gemini_cli.CONFIG_PROJECT in answer["error"]["data"]["detail"]


async def test_copilot_reuses_its_token_while_it_is_good(
    rpc: Rpc, fake: Threaded[FakeFamilies]
) -> None:
    markers = [scenario(), scenario()]
    for marker in markers:
        answered(await rpc.call("chat.send", ask("github-copilot", marker)))
    tokens = [fake.fake.requests_for(m)[0].headers["authorization"] for m in markers]
    assert tokens[0] == tokens[1] == f"Bearer {github_copilot.TOKENS.minted[-1]}"


async def test_copilot_exchanges_again_before_its_token_expires(
    tmp_path: Path,
) -> None:
    # Tokens that live two minutes are inside the daemon's five-minute renewal margin from the
    # moment they are minted: every call must see a fresh one minted ahead of expiry.
    tokens = github_copilot.CopilotTokens(lifetime_s=120)
    wires = [github_copilot.wire(tokens)]
    with threaded_families(wires) as threaded:
        env = login_home(tmp_path, wires, threaded.base_url)
        config = daemon_config(threaded.base_url, wires, bases_from_logins=True)
        with running_daemon(config=config, env=env) as process:
            await import_logins(process, wires)
            async with websocket(process) as rpc:
                for count in (1, 2, 3):
                    marker = scenario()
                    answered(await rpc.call("chat.send", ask("github-copilot", marker)))
                    [seen] = threaded.fake.requests_for(marker)
                    assert len(tokens.minted) == count
                    assert seen.headers["authorization"] == f"Bearer {tokens.minted[-1]}"


# --- the identity each family insists on ----------------------------------------------------


@pytest.mark.parametrize("provider", sorted(BY_ID))
async def test_every_header_of_the_row_reaches_the_provider(
    provider: str, rpc: Rpc, fake: Threaded[FakeFamilies]
) -> None:
    marker = scenario()
    answered(await rpc.call("chat.send", ask(provider, marker)))
    [seen] = fake.fake.requests_for(marker)
    row = next(r for r in PROVIDERS if r.id == provider)
    sent = {(name.lower(), value) for name, value in seen.headers.items()}
    # X-Initiator is the row's default; the family says per call who started the turn.
    wanted = {(name.lower(), value) for name, value in row.headers if name != "X-Initiator"}
    assert wanted <= sent, wanted - sent
    assert seen.headers["authorization"].startswith("Bearer ")


async def test_a_codex_call_names_its_account_and_session(
    rpc: Rpc, fake: Threaded[FakeFamilies]
) -> None:
    markers = [scenario(), scenario()]
    for marker in markers:
        answered(await rpc.call("chat.send", ask("openai-codex", marker)))
    seen = [fake.fake.requests_for(m)[0] for m in markers]
    assert {s.headers["chatgpt-account-id"] for s in seen} == {codex.ACCOUNT}
    sessions = [uuid.UUID(s.headers["session_id"]) for s in seen]
    assert sessions[0] != sessions[1]
    assert [s.body["store"] for s in seen] == [False, False]


async def test_a_key_that_is_no_chatgpt_login_asks_for_one_and_sends_nothing(
    rpc: Rpc, fake: Threaded[FakeFamilies]
) -> None:
    marker = scenario()
    answer = await rpc.call("chat.send", ask("openai-codex", marker, apiKey="sk-platform-0000"))
    assert answer["error"]["code"] == NeedsLogin.code, answer
    assert answer["error"]["data"]["command"] == "switchboard login openai-codex"
    assert "sk-platform-0000" not in json.dumps(answer)
    assert fake.fake.requests_for(marker) == []


async def test_copilot_says_who_started_the_turn(rpc: Rpc, fake: Threaded[FakeFamilies]) -> None:
    tool = {"name": "search", "parameters": {"type": "object"}}
    marker = scenario()
    first = await rpc.call("chat.send", ask("github-copilot", f"{marker}+tools", tools=[tool]))
    assistant = first["result"]["message"]
    messages = [
        {"role": "user", "content": QUESTION},
        assistant,
        {"role": "tool", "toolCallId": assistant["toolCalls"][0]["id"], "content": "18 C"},
    ]
    second = await rpc.call(
        "chat.send", ask("github-copilot", f"{marker}+tools", messages=messages, tools=[tool])
    )
    assert "result" in second, second
    initiators = [s.headers["x-initiator"] for s in fake.fake.requests_for(marker)]
    assert initiators == ["user", "agent"]


async def test_kimi_refuses_a_client_that_is_no_coding_agent(rpc: Rpc) -> None:
    # The same API and token as kimi-coding's, without the row's kimi-cli identity.
    params = ask("kimi-bare", scenario(), apiKey=logins.access_token("kimi-coding"))
    answer = await rpc.call("chat.send", params)
    assert answer["error"]["code"] == UpstreamAuthFailed.code, answer
    assert answer["error"]["data"]["status"] == 403
    assert kimi_coding.AGENTS_ONLY in answer["error"]["data"]["detail"]


async def test_copilot_refuses_a_call_without_editor_headers_in_its_own_words(rpc: Rpc) -> None:
    answered(await rpc.call("chat.send", ask("github-copilot", scenario())))  # a live token
    token = github_copilot.TOKENS.minted[-1]
    answer = await rpc.call("chat.send", ask("copilot-bare", scenario(), apiKey=token))
    assert answer["error"]["code"] == UpstreamRejected.code, answer
    wanted = "bad request: missing Editor-Version header for IDE auth"
    assert answer["error"]["data"]["detail"] == wanted
    assert token not in json.dumps(answer)


# --- when only a new login helps ------------------------------------------------------------


async def test_an_expired_login_whose_refresh_is_refused_asks_for_a_new_login(
    rpc: Rpc, fake: Threaded[FakeFamilies], home: Path
) -> None:
    wire = BY_ID["minimax-portal"]
    assert wire.sign_in is not None
    expired = {**wire.sign_in.content(fake.base_url), "expiry_date": 1_000_000_000_000}
    path = home / "expired-minimax.json"
    path.write_text(json.dumps(expired))
    refused = len(logins.REFUSED)
    try:
        params = {"provider": wire.provider, "path": str(path), "overwrite": True}
        assert (await rpc.call("auth.oauth.import", params))["result"]["imported"]
        marker = scenario()
        answer = await rpc.call("chat.send", ask(wire.provider, marker))
        assert answer["error"]["code"] == NeedsLogin.code, answer
        assert answer["error"]["data"]["command"] == f"switchboard login {wire.provider}"
        assert len(logins.REFUSED) == refused + 1, "one refresh was tried"
        assert fake.fake.requests_for(marker) == [], "an expired token is not sent"
    finally:
        restore = {"provider": wire.provider, "overwrite": True}
        assert (await rpc.call("auth.oauth.import", restore))["result"]["imported"]
