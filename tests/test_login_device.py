"""Device logins through the real daemon, against the fake authorization server.

RFC 8628 and the dialects oauth-flows.md documents (sections 2, 3.2, 3.5-3.7, 3.10): qwen
with PKCE and a ``resource_url``, kimi with kimi-cli's device headers, MiniMax's ``user_code``
grant with its ``status`` answers and absolute-ms expiry, GitHub's device flow followed by the
Copilot token exchange, and Codex's own three-step device login. Each one is started, shown,
approved at the fake as a person would, finished by the daemon's polling, listed by
auth.status and used by chat.send, whose request reaches the family's chat fake with a token
that server issued. Then what goes wrong: slow_down, a denied or expired code, a token endpoint
that answers HTML, 500 or garbage while the daemon polls, and the CLI a person runs.

Every test runs in a rig (:func:`tests.support.live_logins.signed_in_rig`) that ends with the
leak check: no token, code or verifier in the daemon's log, an answer, or its state dir.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from daemon.errors import LoginFailed
from tests.conftest import result_validator
from tests.fakes.oauth import codex, copilot, minimax, rfc8628
from tests.fakes.oauth.devices import DeviceGrant
from tests.fakes.oauth.server import Fault
from tests.fakes.oauth.wire import s256
from tests.support.daemon import REPO
from tests.support.live_logins import (
    DEVICE_LOGINS,
    Recorder,
    Rig,
    answered,
    ask,
    marker,
    signed_in_rig,
)

INTERVAL_S = 0.05  # the fake's device interval in these tests
SLOW_DOWN_S = 5.0  # RFC 8628 3.5
# Where each dialect polls.
POLLS = {
    "qwen-portal": rfc8628.QWEN_TOKEN,
    "kimi-coding": rfc8628.KIMI_TOKEN,
    "minimax-portal": minimax.TOKEN,
    "github-copilot": copilot.TOKEN,
    "openai-codex": codex.DEVICE + "/token",
}
WAIT_MS = 20_000
KIMI_HEADERS = (
    "x-msh-platform",
    "x-msh-version",
    "x-msh-device-name",
    "x-msh-device-model",
    "x-msh-os-version",
    "x-msh-device-id",
)


@pytest.fixture
def rig() -> Iterator[Rig]:
    with signed_in_rig(device_interval=INTERVAL_S) as made:
        yield made


async def start(daemon: Recorder, provider: str) -> dict[str, Any]:
    return dict(await daemon.call("auth.oauth.start", {"provider": provider, "method": "device"}))


async def wait(daemon: Recorder, flow: dict[str, Any], timeout_ms: int = WAIT_MS) -> dict[str, Any]:
    return dict(
        await daemon.call("auth.oauth.wait", {"flowId": flow["flowId"], "timeoutMs": timeout_ms})
    )


def grant_of(rig: Rig, flow: dict[str, Any]) -> DeviceGrant:
    with rig.fake.lock:
        grant = rig.fake.devices.by_user_code(flow["userCode"])
    assert grant is not None, flow
    return grant


def interval_of(rig: Rig, grant: DeviceGrant) -> float:
    with rig.fake.lock:
        return grant.interval


def polls(rig: Rig, provider: str) -> int:
    return len(rig.fake.requests_to(POLLS[provider]))


def next_poll(rig: Rig, provider: str) -> int:
    """Wait for the daemon's next poll to be answered; the number of polls so far."""
    count = polls(rig, provider) + 1
    rig.oauth.wait_for(POLLS[provider], count)
    return count


# --- each dialect, end to end -----------------------------------------------------------------


@pytest.mark.parametrize("provider", DEVICE_LOGINS)
async def test_a_device_login_shows_a_code_signs_in_and_calls_with_the_issued_token(
    provider: str, rig: Rig
) -> None:
    async with rig.client() as daemon:
        flow = await start(daemon, provider)
        result_validator("auth.oauth.start")(flow)
        assert (flow["provider"], flow["method"]) == (provider, "device")
        assert flow["userCode"] == grant_of(rig, flow).user_code
        assert flow["verificationUri"].startswith(rig.oauth.base_url + "/")
        assert flow["intervalMs"] == INTERVAL_S * 1000
        assert (await wait(daemon, flow, timeout_ms=200))["status"] == "pending"

        rig.fake.approve(flow["userCode"])
        done = await wait(daemon, flow)
        assert done == {
            "flowId": flow["flowId"],
            "provider": provider,
            "status": "complete",
            "account": "default",
        }
        [row] = await daemon.credentials(provider)
        assert (row["kind"], row["origin"], row["source"]) == ("oauth", "login", "vault")

        scenario = marker()
        answered(await daemon.call("chat.send", ask(provider, scenario)))
    # The call carried the token the server issued for this login (Copilot: the token its
    # exchange minted from the GitHub token), and it is the only one.
    assert rig.tokens_sent(scenario) == rig.call_tokens(provider)


async def test_qwen_proves_its_pkce_on_every_poll_and_calls_the_resource_url(rig: Rig) -> None:
    async with rig.client() as daemon:
        await rig.device_login(daemon, "qwen-portal")
        scenario = marker()
        answered(await daemon.call("chat.send", ask("qwen-portal", scenario)))
    [asked] = rig.fake.requests_to(rfc8628.QWEN_DEVICE)
    assert asked.body["code_challenge_method"] == "S256"
    verifiers = {poll.body["code_verifier"] for poll in rig.fake.requests_to(rfc8628.QWEN_TOKEN)}
    assert [s256(v) for v in verifiers] == [asked.body["code_challenge"]]
    # The config's base for qwen is a dead port: the call went where resource_url said.
    [seen] = rig.chats_for(scenario)
    assert seen.path == "/qwen/v1/chat/completions"


async def test_kimi_sends_its_device_identity_on_every_call_to_the_server(rig: Rig) -> None:
    async with rig.client() as daemon:
        await rig.device_login(daemon, "kimi-coding")
    calls = rig.fake.requests_to(rfc8628.KIMI_DEVICE) + rig.fake.requests_to(rfc8628.KIMI_TOKEN)
    for call in calls:
        assert all(call.headers.get(name) for name in KIMI_HEADERS), call.headers
    assert len({call.headers["x-msh-device-id"] for call in calls}) == 1
    assert "scope" not in calls[0].body, "kimi's device request names no scope"


async def test_minimax_polls_its_user_code_and_keeps_its_absolute_ms_deadlines(rig: Rig) -> None:
    async with rig.client() as daemon:
        flow, _ = await rig.device_login(daemon, "minimax-portal")
        [row] = await daemon.credentials("minimax-portal")
    grant = grant_of(rig, flow)
    # expired_in is an epoch-ms deadline on both answers, not a duration.
    assert flow["expiresAt"] == int(grant.expires_at * 1000)
    [token] = rig.fake.live_tokens("minimax-portal")
    with rig.fake.lock:
        expires_at = rig.fake.store.tokens[token].expires_at
    assert expires_at is not None
    assert row["expiresAt"] == int(expires_at * 1000)
    [asked] = rig.fake.requests_to(minimax.DEVICE)
    assert asked.body["state"]
    assert asked.body["code_challenge_method"] == "S256"
    for poll in rig.fake.requests_to(minimax.TOKEN):
        assert poll.body["grant_type"] == minimax.USER_CODE_GRANT
        assert poll.body["user_code"] == flow["userCode"]
        assert s256(poll.body["code_verifier"]) == asked.body["code_challenge"]


async def test_copilot_trades_the_github_token_once_and_calls_with_the_copilot_token(
    rig: Rig,
) -> None:
    async with rig.client() as daemon:
        await rig.device_login(daemon, "github-copilot")
        scenario = marker()
        answered(await daemon.call("chat.send", ask("github-copilot", scenario)))
        [row] = await daemon.credentials("github-copilot")
    [github] = rig.fake.live_tokens("github-copilot", "access")
    [exchange] = rig.fake.requests_to(copilot.EXCHANGE)
    assert exchange.headers["authorization"] == f"token {github}"
    assert exchange.headers["editor-version"].startswith("vscode/")
    assert rig.fake.copilot_exchanges == 1
    [seen] = rig.chats_for(scenario)
    assert seen.path == "/copilot/api/chat/completions", "the base endpoints.api named"
    assert rig.tokens_sent(scenario) == rig.fake.live_tokens("github-copilot", "copilot")
    assert row["refreshable"] is True, "the GitHub token mints the next Copilot token"


async def test_codex_redeems_the_code_its_device_login_hands_over(rig: Rig) -> None:
    async with rig.client() as daemon:
        await rig.device_login(daemon, "openai-codex", method="device")
        scenario = marker()
        answered(await daemon.call("chat.send", ask("openai-codex", scenario)))
    [usercode] = rig.fake.requests_to(codex.DEVICE + "/usercode")
    assert usercode.body == {"client_id": codex.CLIENT_ID}
    handed = [p for p in rig.fake.requests_to(codex.DEVICE + "/token")][-1]
    assert set(handed.body) == {"device_auth_id", "user_code"}
    [redeemed] = rig.fake.requests_to(codex.TOKEN)
    assert redeemed.body["grant_type"] == "authorization_code"
    assert redeemed.body["redirect_uri"] == codex.device_redirect_uri(rig.fake)
    [seen] = rig.chats_for(scenario)
    assert seen.headers["chatgpt-account-id"] == rig.fake.user.account_id


# --- pacing -------------------------------------------------------------------------------------


async def test_after_slow_down_the_daemon_polls_five_seconds_slower_for_good(rig: Rig) -> None:
    # qwen says slow_down with HTTP 429.
    async with rig.client() as daemon:
        flow = await start(daemon, "qwen-portal")
        grant = grant_of(rig, flow)
        next_poll(rig, "qwen-portal")
        # The next poll reaches the server sooner than its interval by the server's clock (a
        # request held up on the way, a clock step): it answers slow_down.
        rig.fake.advance(-1.0)
        told = next_poll(rig, "qwen-portal")
        while interval_of(rig, grant) == INTERVAL_S:
            told = next_poll(rig, "qwen-portal")
        rig.fake.approve(flow["userCode"])
        assert (await wait(daemon, flow))["status"] == "complete"
    # The server counts every poll against its interval and grows it by 5 s for each one too
    # soon: it grew once, so no poll after slow_down came sooner than interval + 5 s.
    assert interval_of(rig, grant) == INTERVAL_S + SLOW_DOWN_S
    assert polls(rig, "qwen-portal") == told + 1, "the next poll was the one that got tokens"


async def test_github_s_slow_down_names_the_interval_and_the_daemon_keeps_to_it(
    rig: Rig,
) -> None:
    async with rig.client() as daemon:
        flow = await start(daemon, "github-copilot")
        grant = grant_of(rig, flow)
        with rig.fake.lock:
            grant.interval = 1.0  # the server wants more than it said: slow_down says 6 s
        told = next_poll(rig, "github-copilot")
        while interval_of(rig, grant) == 1.0:
            told = next_poll(rig, "github-copilot")
        rig.fake.approve(flow["userCode"])
        assert (await wait(daemon, flow))["status"] == "complete"
    # Only interval + 5 s (5.05) would have been too soon for the 6 s GitHub named.
    assert interval_of(rig, grant) == 1.0 + SLOW_DOWN_S
    assert polls(rig, "github-copilot") == told + 1


# --- a person says no, or never answers -------------------------------------------------------


@pytest.mark.parametrize("provider", ["kimi-coding", "minimax-portal", "openai-codex"])
async def test_a_denied_code_fails_the_login_with_a_typed_error(provider: str, rig: Rig) -> None:
    async with rig.client() as daemon:
        flow = await start(daemon, provider)
        rig.fake.deny(flow["userCode"])
        done = await wait(daemon, flow)
        assert done["status"] == "failed", done
        assert done["error"]["code"] == LoginFailed.code
        assert "denied" in done["error"]["data"]["detail"]
        assert done["error"]["data"]["nextStep"] == LoginFailed.next_step
        assert await daemon.credentials(provider) == []


async def test_a_code_past_its_lifetime_ends_the_login_as_expired(rig: Rig) -> None:
    async with rig.client() as daemon:
        flow = await start(daemon, "kimi-coding")
        next_poll(rig, "kimi-coding")
        with rig.fake.lock:
            lifetime = rig.fake.device_lifetime
        rig.fake.advance(lifetime + 1)  # the server answers expired_token from now on
        done = await wait(daemon, flow)
        assert done["status"] == "expired", done
        assert done["error"]["code"] == LoginFailed.code
        assert "expired" in done["error"]["data"]["detail"]
        assert await daemon.credentials("kimi-coding") == []


async def test_minimax_s_code_expires_at_the_epoch_ms_deadline_it_was_given(rig: Rig) -> None:
    # MiniMax has no expired_token: its deadline, read as epoch ms, is what ends the login.
    with rig.fake.lock:
        rig.fake.device_lifetime = 1.0
    async with rig.client() as daemon:
        flow = await start(daemon, "minimax-portal")
        assert flow["expiresAt"] == int(grant_of(rig, flow).expires_at * 1000)
        done = await wait(daemon, flow)
        assert done["status"] == "expired", done
        assert done["error"]["code"] == LoginFailed.code


# --- a token endpoint that misbehaves while the daemon polls ----------------------------------


@pytest.mark.parametrize("fault", [Fault.HTML, Fault.SERVER_ERROR, Fault.GARBAGE])
async def test_a_few_bad_answers_while_polling_are_tolerated(fault: Fault, rig: Rig) -> None:
    rig.fake.fail(fault, "kimi-coding", times=2)
    async with rig.client() as daemon:
        await rig.device_login(daemon, "kimi-coding")
    assert polls(rig, "kimi-coding") == 3, "two bad answers, then the tokens"


async def test_bad_answers_that_come_and_go_never_add_up(rig: Rig) -> None:
    rig.fake.fail(Fault.SERVER_ERROR, "kimi-coding", times=2)
    async with rig.client() as daemon:
        flow = await start(daemon, "kimi-coding")
        rig.oauth.wait_for(POLLS["kimi-coding"], 3)  # two 500s, then authorization_pending
        rig.fake.fail(Fault.HTML, "kimi-coding", times=2)
        rig.oauth.wait_for(POLLS["kimi-coding"], 5)
        rig.fake.approve(flow["userCode"])
        assert (await wait(daemon, flow))["status"] == "complete"


async def test_a_token_endpoint_that_keeps_answering_html_fails_the_login(rig: Rig) -> None:
    rig.fake.fail(Fault.HTML, "kimi-coding")
    async with rig.client() as daemon:
        flow = await start(daemon, "kimi-coding")
        done = await wait(daemon, flow)
        assert done["status"] == "failed", done
        assert done["error"]["code"] == LoginFailed.code
        assert "HTML page (HTTP 403)" in done["error"]["data"]["detail"]
        assert await daemon.credentials("kimi-coding") == []
    assert polls(rig, "kimi-coding") == 3


async def test_a_device_endpoint_answering_html_is_a_typed_refusal_to_start(rig: Rig) -> None:
    rig.fake.fail(Fault.HTML, path=rfc8628.KIMI_DEVICE, times=1)
    async with rig.client() as daemon:
        with pytest.raises(LoginFailed) as refused:
            await start(daemon, "kimi-coding")
        assert "HTML page (HTTP 403)" in str(refused.value.detail)
        await rig.device_login(daemon, "kimi-coding")  # nothing was left half-started


async def test_a_copilot_exchange_that_fails_after_approval_fails_the_login_typed(
    rig: Rig,
) -> None:
    rig.fake.fail(Fault.SERVER_ERROR, path=copilot.EXCHANGE)
    async with rig.client() as daemon:
        flow = await start(daemon, "github-copilot")
        rig.fake.approve(flow["userCode"])
        done = await wait(daemon, flow)
        assert done["status"] == "failed", done
        assert done["error"]["code"] == LoginFailed.code
        assert "HTTP 500" in done["error"]["data"]["detail"]
        assert await daemon.credentials("github-copilot") == []


# --- the CLI a person runs --------------------------------------------------------------------


def test_the_cli_shows_the_code_and_says_logged_in_once_it_is_approved(rig: Rig) -> None:
    # Piped, as a wrapper script would run it: the code must show while the command waits.
    env = {
        k: v for k, v in rig.daemon.env.items() if k not in ("NOTIFY_SOCKET", "PYTHONUNBUFFERED")
    }
    command = [sys.executable, "-m", "daemon", "login", "kimi-coding"]
    command += ["--socket", str(rig.daemon.socket)]
    with subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as cli:
        assert cli.stdout is not None
        shown = cli.stdout.readline()
        assert shown.startswith(f"Open {rig.oauth.base_url}/kimi/device and enter the code:")
        rig.fake.approve(shown.split()[-1])
        out, err = cli.communicate(timeout=60)
    rig.answers += [shown, out, err]
    assert cli.returncode == 0, err
    assert "logged in to kimi-coding (account default)" in out
