"""Logins in use, through the real daemon: refresh, rotation, revocation, logout.

A login made through the fake authorization server is used by chat.send against its family's
chat fake, which takes only tokens that server still holds live. So a refresh the daemon skips,
a rotated refresh token it loses, or a revoked token it keeps sending all show up as a failed
call or as the server's own reuse detection (RFC 9700 4.14.2: a rotated refresh token
presented again revokes its whole family). Specs (oauth-flows.md section 2):

- a token that expires within the margin is refreshed before the call; one the provider
  refuses (401) is refreshed once and the call retried;
- the rotated refresh token is in the vault: a restarted daemon refreshes with it;
- concurrent calls share one refresh; a second daemon on the same vault that refreshed first
  is read from the vault, never raced;
- a refresh refused for real asks for `switchboard login <id>` and keeps the record; a token
  endpoint that answers HTML, 500, garbage or nothing is a typed, retryable error, and a token
  that still works keeps being used;
- logout deletes the record and revokes where the provider has an endpoint.

Every test ends with the leak check (log, collected answers and CLI output, state dir).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.auth.logins import LOGINS_BY_PROVIDER
from daemon.auth.oauth_http import OAuthRefusal, checked
from daemon.auth.records import Kind, Login, Origin
from daemon.auth.tokens import login_from_answer
from daemon.errors import (
    CredentialsMissing,
    LoginFailed,
    NeedsLogin,
    UpstreamAuthFailed,
    UpstreamTimeout,
    UpstreamUnavailable,
    VaultRecordInvalid,
)
from tests.fakes.oauth import codex, rfc8628
from tests.fakes.oauth.grants import issue
from tests.fakes.oauth.server import Fault
from tests.fakes.oauth.wire import jwt
from tests.support.daemon import DaemonProcess, run_python
from tests.support.live_logins import (
    DEVICE_LOGINS,
    Recorder,
    Rig,
    answered,
    ask,
    marker,
    signed_in_rig,
)

SHORT_S = 60.0  # a token lifetime inside the daemon's five-minute renewal margin
LONG_S = 3600.0
BAD_ANSWERS = [Fault.HTML, Fault.SERVER_ERROR, Fault.GARBAGE]
# Where each login renews: its refresh grants, or Copilot's token exchange.
RENEWALS = {
    "qwen-portal": rfc8628.QWEN_TOKEN,
    "kimi-coding": rfc8628.KIMI_TOKEN,
    "minimax-portal": "/minimax/oauth2/token",
    "openai-codex": codex.TOKEN,
    "github-copilot": "/github/api/copilot_internal/v2/token",
}


@pytest.fixture
def rig() -> Iterator[Rig]:
    with signed_in_rig() as made:
        yield made


def method_for(provider: str) -> dict[str, str]:
    return {"method": "device"} if provider == "openai-codex" else {}


async def log_in(rig: Rig, daemon: Recorder, provider: str, lifetime_s: float = LONG_S) -> None:
    """A device login whose access token lives ``lifetime_s``; later tokens live LONG_S."""
    rig.fake.access_lifetime = lifetime_s
    rig.fake.copilot_lifetime = lifetime_s
    await rig.device_login(daemon, provider, **method_for(provider))
    rig.fake.access_lifetime = LONG_S
    rig.fake.copilot_lifetime = LONG_S


def renewals(rig: Rig, provider: str) -> int:
    """Tokens the server handed out to renew ``provider``'s login."""
    if provider == "github-copilot":
        return rig.fake.copilot_exchanges - 1  # the first one belongs to the login
    return rig.fake.refresh_counts[provider]


def refuse_live_tokens(rig: Rig, provider: str) -> None:
    """The provider stops taking the tokens it handed out for calls (a password change, a
    revoked session): the daemon still thinks they are good."""
    for token in rig.call_tokens(provider):
        rig.fake.revoke_token(token)


def refresh_tokens_sent(rig: Rig, provider: str) -> list[str]:
    grants = rig.fake.requests_to(RENEWALS[provider])
    return [g.body["refresh_token"] for g in grants if g.body.get("grant_type") == "refresh_token"]


async def record(daemon: Recorder, provider: str) -> dict[str, Any] | None:
    rows = await daemon.credentials(provider)
    return rows[0] if rows else None


def cli(rig: Rig, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m daemon ARGS --socket <the rig's>``, its output kept for the leak check."""
    env = {k: v for k, v in rig.daemon.env.items() if k != "NOTIFY_SOCKET"}
    done = run_python("-m", "daemon", *args, "--socket", str(rig.daemon.socket), env=env)
    rig.answers += [done.stdout, done.stderr]
    return done


# --- refresh before expiry and on a 401 ---------------------------------------------------------


async def test_a_token_about_to_expire_is_refreshed_before_the_call(rig: Rig) -> None:
    async with rig.client() as daemon:
        await log_in(rig, daemon, "kimi-coding", lifetime_s=SHORT_S)
        before = await record(daemon, "kimi-coding")
        assert before is not None
        assert before["lastRefresh"] is None
        [first] = rig.fake.live_tokens("kimi-coding")
        scenario = marker()
        answered(await daemon.call("chat.send", ask("kimi-coding", scenario)))
        after = await record(daemon, "kimi-coding")
    assert rig.fake.refresh_counts["kimi-coding"] == 1
    [sent] = rig.tokens_sent(scenario)
    assert sent != first
    assert sent == rig.fake.live_tokens("kimi-coding")[-1], "the token the refresh issued"
    assert after is not None
    assert after["lastRefresh"] is not None
    assert after["expiresAt"] > before["expiresAt"]


@pytest.mark.parametrize("provider", DEVICE_LOGINS)
async def test_a_token_the_provider_refuses_is_renewed_once_and_the_call_retried(
    provider: str, rig: Rig
) -> None:
    async with rig.client() as daemon:
        await log_in(rig, daemon, provider)
        refuse_live_tokens(rig, provider)
        scenario = marker()
        answered(await daemon.call("chat.send", ask(provider, scenario)))
    assert renewals(rig, provider) == 1
    refused, retried = rig.tokens_sent(scenario)
    assert refused != retried
    assert rig.call_tokens(provider) == [retried]


async def test_a_call_refused_again_right_after_a_renewal_is_not_renewed_twice(rig: Rig) -> None:
    async with rig.client() as daemon:
        await log_in(rig, daemon, "kimi-coding")
        scenario = marker()
        with pytest.raises(UpstreamAuthFailed):
            await daemon.call("chat.send", ask("kimi-coding", f"{scenario}+fault=http_401"))
    assert rig.fake.refresh_counts["kimi-coding"] == 1
    assert len(rig.chats_for(scenario)) == 2


async def test_a_copilot_token_minted_from_an_env_key_is_minted_again_once_refused(
    rig: Rig,
) -> None:
    async with rig.client() as daemon:
        await log_in(rig, daemon, "github-copilot")  # only to get a GitHub token the fake knows
    (github_token,) = rig.fake.live_tokens("github-copilot", "access")
    keyed = rig.daemon_with({"COPILOT_GITHUB_TOKEN": github_token})
    async with rig.client(keyed) as daemon:
        first = marker()
        answered(await daemon.call("chat.send", ask("github-copilot", first)))
        refuse_live_tokens(rig, "github-copilot")  # the Copilot tokens, not the GitHub one
        second = marker()
        answered(await daemon.call("chat.send", ask("github-copilot", second)))
    (minted,) = rig.tokens_sent(first)
    refused, again = rig.tokens_sent(second)
    assert (refused, minted != github_token) == (minted, True)
    assert again != refused
    assert rig.fake.live_tokens("github-copilot", "copilot") == [again]


async def test_a_copilot_env_key_goes_as_it_is_while_the_exchange_is_not_enabled(
    rig: Rig,
) -> None:
    async with rig.client() as daemon:
        await log_in(rig, daemon, "github-copilot")  # the other daemon: the check has secrets
    copilot_api = f'base_url = "{rig.chat.base_url}/copilot/api"'

    def not_enabled(config: str) -> str:
        # No exchange, so no login names the API's base: the config does.
        config = config.replace("enabled = true", "enabled = false")
        return config.replace('base_url = "http://127.0.0.1:9"\n', copilot_api + "\n")

    keyed = rig.daemon_with({"COPILOT_GITHUB_TOKEN": "gho_not-exchanged-0001"}, not_enabled)
    before = rig.fake.copilot_exchanges
    async with rig.client(keyed) as daemon:
        scenario = marker()
        with pytest.raises(UpstreamAuthFailed):  # the fake takes only minted Copilot tokens
            await daemon.call("chat.send", ask("github-copilot", scenario))
    assert rig.tokens_sent(scenario)[0] == "gho_not-exchanged-0001"
    assert rig.fake.copilot_exchanges == before


def contents(path: object) -> bytes:
    return Path(str(path)).read_bytes()


async def test_a_login_whose_record_was_set_aside_says_so_instead_of_no_credentials(
    rig: Rig,
) -> None:
    async with rig.client() as daemon:
        await log_in(rig, daemon, "kimi-coding")
    assert rig.daemon.stop() == 0
    record = Path(rig.daemon.state_dir) / "vault" / "kimi-coding.default.rec"
    truncated = record.read_bytes()[:40]  # by a failing disk, say
    record.write_bytes(truncated)
    again = rig.another_daemon()
    async with rig.client(again) as daemon:
        with pytest.raises(VaultRecordInvalid) as unreadable:
            await daemon.call("chat.send", ask("kimi-coding", marker()))
    moved = unreadable.value.data["movedTo"]
    assert ".corrupt-" in str(moved)
    assert contents(moved) == truncated, "set aside as it was, never rewritten"


# --- rotation ---------------------------------------------------------------------------------


async def test_a_restarted_daemon_refreshes_with_the_rotated_token(rig: Rig) -> None:
    async with rig.client() as daemon:
        await log_in(rig, daemon, "kimi-coding", lifetime_s=SHORT_S)
        answered(await daemon.call("chat.send", ask("kimi-coding", marker())))
    assert rig.daemon.stop() == 0
    # The login's refresh token was spent by the first refresh; the vault must hold the new one.
    with rig.fake.lock:
        refresh = [t for t, v in rig.fake.store.tokens.items() if v.kind == "refresh"]
    assert len(refresh) == 2
    issued_at_login, rotated = refresh

    again = rig.another_daemon()  # the same state dir: the same vault and key
    rig.fake.expire_tokens("access")  # the daemon still thinks its access token good
    async with rig.client(again) as daemon:
        answered(await daemon.call("chat.send", ask("kimi-coding", marker())))
    assert refresh_tokens_sent(rig, "kimi-coding") == [issued_at_login, rotated]
    assert rig.fake.refresh_counts["kimi-coding"] == 2


async def test_an_imported_login_is_refreshed_and_rotated_like_any_other(
    rig: Rig, tmp_path: Path
) -> None:
    # kimi-cli's own file, holding tokens the server issued to kimi-cli a while ago.
    with rig.fake.lock:
        grant = rig.fake.store.open(
            "kimi-coding", rfc8628.KIMI_CLIENT_ID, rig.fake.user, rfc8628.KIMI_SCOPE
        )
        issued = issue(rig.fake, rfc8628.KIMI_DIALECT, grant, refresh=True)
    assert issued.refresh is not None
    path = tmp_path / "kimi-code.json"
    content = {
        "access_token": issued.access.value,
        "refresh_token": issued.refresh.value,
        "expires_at": time.time() + SHORT_S,
        "scope": rfc8628.KIMI_SCOPE,
        "token_type": "Bearer",
        "expires_in": SHORT_S,
    }
    path.write_text(json.dumps(content))
    async with rig.client() as daemon:
        params = {"provider": "kimi-coding", "path": str(path)}
        assert (await daemon.call("auth.oauth.import", params))["imported"] is True
        scenario = marker()
        answered(await daemon.call("chat.send", ask("kimi-coding", scenario)))
        rig.fake.expire_tokens("access")
        answered(await daemon.call("chat.send", ask("kimi-coding", marker())))
    assert rig.fake.refresh_counts["kimi-coding"] == 2
    first, second = refresh_tokens_sent(rig, "kimi-coding")
    assert first == issued.refresh.value
    assert second != first, "the second refresh used the token the first one rotated in"
    assert json.loads(path.read_text()) == content, "the CLI's own file is left as it was"


# --- many calls, many processes ---------------------------------------------------------------


async def test_a_hundred_calls_on_an_expiring_token_share_one_refresh(rig: Rig) -> None:
    async with rig.client() as daemon:
        # Every token this server hands out lives inside the renewal margin.
        await log_in(rig, daemon, "kimi-coding", lifetime_s=SHORT_S)
        rig.fake.access_lifetime = SHORT_S
        scenario = marker()
        calls = [daemon.call("chat.send", ask("kimi-coding", scenario)) for _ in range(100)]
        for result in await asyncio.gather(*calls):
            answered(result)
    assert rig.fake.refresh_counts["kimi-coding"] == 1
    assert set(rig.tokens_sent(scenario)) == {rig.fake.live_tokens("kimi-coding")[-1]}


async def test_a_login_another_daemon_renewed_is_read_from_the_vault_not_raced(rig: Rig) -> None:
    async with rig.client() as first:
        await log_in(rig, first, "kimi-coding")
        other = rig.another_daemon()  # a second process on the same vault
        refuse_live_tokens(rig, "kimi-coding")
        async with rig.client(other) as second:
            answered(await second.call("chat.send", ask("kimi-coding", marker())))
        assert rig.fake.refresh_counts["kimi-coding"] == 1
        # The first daemon's token is refused too. Its refresh token was spent by the other
        # daemon: sending it would be reuse, which revokes the whole family, the other
        # daemon's new tokens included. It reads the vault instead and uses theirs.
        answered(await first.call("chat.send", ask("kimi-coding", marker())))
    assert rig.fake.refresh_counts["kimi-coding"] == 1
    assert len(refresh_tokens_sent(rig, "kimi-coding")) == 1, "no refresh token sent twice"
    assert len(rig.fake.live_tokens("kimi-coding", "refresh")) == 1, "the family is intact"


# --- when renewing fails ------------------------------------------------------------------------


def kill_the_login(rig: Rig, provider: str) -> None:
    """The person revoked the app at the provider: every token of the login is dead."""
    if provider == "github-copilot":  # the GitHub token, and the Copilot tokens it minted
        for token in rig.fake.live_tokens(provider, "access"):
            rig.fake.revoke_token(token)
        refuse_live_tokens(rig, provider)
        return
    for token in rig.fake.live_tokens(provider, "refresh"):
        rig.fake.revoke_token(token)  # a refresh token takes its family along


@pytest.mark.parametrize("provider", DEVICE_LOGINS)
async def test_a_renewal_refused_for_real_asks_for_a_new_login_and_keeps_the_record(
    provider: str, rig: Rig
) -> None:
    async with rig.client() as daemon:
        await log_in(rig, daemon, provider)
        kill_the_login(rig, provider)
        with pytest.raises(NeedsLogin) as refused:
            await daemon.call("chat.send", ask(provider, marker()))
        assert refused.value.data["command"] == f"switchboard login {provider}"
        assert refused.value.data["provider"] == provider
        assert await record(daemon, provider) is not None, "nothing is deleted for the person"


@pytest.mark.parametrize(
    ("provider", "style", "said"),
    [
        ("openai-codex", "flat", "refresh_token_reused"),
        ("openai-codex", "nested", "refresh_token_reused"),
        ("kimi-coding", "flat", "invalid_grant"),
    ],
)
async def test_a_refresh_token_someone_else_already_spent_asks_for_a_new_login(
    provider: str, style: str, said: str, rig: Rig
) -> None:
    rig.fake.codex_error_style = style
    async with rig.client() as daemon:
        await log_in(rig, daemon, provider)
        # Another client rotated this login's refresh token past the vault (the official
        # CLI the login was shared with, say): what the vault holds is spent.
        with rig.fake.lock:
            for token in rig.fake.store.tokens.values():
                token.used = token.used or token.kind == "refresh"
        refuse_live_tokens(rig, provider)
        with pytest.raises(NeedsLogin) as refused:
            await daemon.call("chat.send", ask(provider, marker()))
        assert said in str(refused.value.detail)
        assert refused.value.data["command"] == f"switchboard login {provider}"
        assert await record(daemon, provider) is not None
    assert len(refresh_tokens_sent(rig, provider)) == 1, "asked once, then told the person"


@pytest.mark.parametrize("fault", BAD_ANSWERS)
async def test_a_failed_early_renewal_keeps_using_the_token_that_still_works(
    fault: Fault, rig: Rig
) -> None:
    async with rig.client() as daemon:
        await log_in(rig, daemon, "kimi-coding", lifetime_s=SHORT_S)
        [token] = rig.fake.live_tokens("kimi-coding")
        rig.fake.fail(fault, "kimi-coding")
        scenario = marker()
        answered(await daemon.call("chat.send", ask("kimi-coding", scenario)))
        assert rig.tokens_sent(scenario) == [token]
        rig.fake.clear_faults()
        answered(await daemon.call("chat.send", ask("kimi-coding", marker())))
    assert rig.fake.refresh_counts["kimi-coding"] == 1, "renewed once the server answered"
    assert "login_refresh_deferred" in rig.daemon.log_text()


@pytest.mark.parametrize("fault", BAD_ANSWERS)
async def test_a_refused_token_whose_renewal_fails_is_a_retryable_error_that_loses_nothing(
    fault: Fault, rig: Rig
) -> None:
    async with rig.client() as daemon:
        await log_in(rig, daemon, "kimi-coding")
        refuse_live_tokens(rig, "kimi-coding")
        rig.fake.fail(fault, "kimi-coding")
        with pytest.raises(UpstreamUnavailable) as failed:
            await daemon.call("chat.send", ask("kimi-coding", marker()))
        assert failed.value.data["provider"] == "kimi-coding"
        assert "could not be renewed now" in str(failed.value.detail)
        assert UpstreamUnavailable.retryable
        rig.fake.clear_faults()
        answered(await daemon.call("chat.send", ask("kimi-coding", marker())))
    assert rig.fake.refresh_counts["kimi-coding"] == 1


async def call_while_the_renewal_hangs(rig: Rig, daemon: Recorder, timeout_ms: int) -> None:
    """kimi's tokens are refused and the server holds the renewal that follows: the call ends
    at ``timeout_ms`` with the renewal still in flight."""
    await log_in(rig, daemon, "kimi-coding")
    refuse_live_tokens(rig, "kimi-coding")
    rig.fake.fail(Fault.HANG, "kimi-coding")
    with pytest.raises(UpstreamTimeout):
        await daemon.call("chat.send", {**ask("kimi-coding", marker()), "timeoutMs": timeout_ms})


async def test_a_renewal_the_server_never_answers_ends_the_call_and_still_lands(
    rig: Rig,
) -> None:
    async with rig.client() as daemon:
        await call_while_the_renewal_hangs(rig, daemon, timeout_ms=1500)
        # The server now answers the refresh it was holding (and rotates the refresh token).
        # The daemon must still take that answer into the vault: the old refresh token is
        # spent, and presenting it again would revoke the login.
        rig.fake.clear_faults()
        answered(await daemon.call("chat.send", ask("kimi-coding", marker())))
    assert rig.fake.refresh_counts["kimi-coding"] == 1
    assert len(refresh_tokens_sent(rig, "kimi-coding")) == 1


ANSWERS = [
    (400, {"error": "invalid_grant", "error_description": "revoked"}, "refused"),
    (401, {"error": "invalid_grant", "code": "refresh_token_reused"}, "refused"),
    (200, {"status": "error", "base_resp": {"status_msg": "expired"}}, "refused"),
    (429, {"error": "slow_down"}, "refused"),  # qwen's device poll: pace, not give up
    (429, {"error": {"message": "Too many requests", "type": "rate_limit"}}, "not now"),
    (429, {"error": "rate_limit_exceeded"}, "not now"),
    (500, {"error": "server_error"}, "not now"),
    (503, {}, "not now"),
]


@pytest.mark.parametrize(("status", "body", "meaning"), ANSWERS)
def test_only_a_refusal_asks_for_a_new_login_a_busy_server_is_retried(
    status: int, body: dict[str, Any], meaning: str
) -> None:
    # oauth_http.checked decides: OAuthRefusal (the token is dead: NeedsLogin) or LoginFailed
    # (the server cannot answer now: UpstreamUnavailable, retried, the token kept).
    kind = OAuthRefusal if meaning == "refused" else LoginFailed
    with pytest.raises(kind):
        checked(status, body, "https://auth.example.test/token")


def test_a_refreshed_token_keeps_its_own_expiry_never_the_old_one() -> None:
    # Codex's refresh answer may name no expires_in: the JWT's exp says it. An opaque token
    # without one has no known expiry (the first 401 renews it), not the spent one's.
    stale = Login(
        kind=Kind.OAUTH,
        origin=Origin.LOGIN,
        secret_access="spent-access-token",
        secret_refresh="kept-refresh-token",
        expires_at_ms=1_000,
    )
    exp = int(time.time()) + 3600
    answer = {"access_token": jwt({"exp": exp}), "refresh_token": "rotated-refresh-token"}
    fresh = login_from_answer(LOGINS_BY_PROVIDER["openai-codex"], answer, stale)
    assert fresh.expires_at_ms == exp * 1000
    assert fresh.secret_refresh == "rotated-refresh-token"
    opaque = {"access_token": "opaque-access-token"}
    renewed = login_from_answer(LOGINS_BY_PROVIDER["kimi-coding"], opaque, stale)
    assert renewed.expires_at_ms is None
    assert renewed.secret_refresh == "kept-refresh-token"
    assert renewed.refreshed_at_ms is not None


def logged(daemon: DaemonProcess, event: str) -> None:
    """Wait until ``daemon`` has logged ``event`` (it logs as it goes; bounded)."""
    deadline = time.monotonic() + 10
    while f'"event":"{event}"' not in daemon.log_text():
        assert time.monotonic() < deadline, f"no {event} in the log"
        time.sleep(0.01)


async def test_a_renewal_in_flight_when_the_daemon_stops_still_lands_in_the_vault(
    rig: Rig,
) -> None:
    async with rig.client() as daemon:
        await call_while_the_renewal_hangs(rig, daemon, timeout_ms=1000)
    rig.daemon.proc.send_signal(signal.SIGTERM)
    logged(rig.daemon, "daemon_draining")
    rig.fake.clear_faults()  # the answer comes while the daemon is on its way out
    assert rig.daemon.proc.wait(timeout=30) == 0
    again = rig.another_daemon()
    async with rig.client(again) as daemon:
        answered(await daemon.call("chat.send", ask("kimi-coding", marker())))
    assert rig.fake.refresh_counts["kimi-coding"] == 1
    assert len(refresh_tokens_sent(rig, "kimi-coding")) == 1


# --- logout -------------------------------------------------------------------------------------


async def test_logout_revokes_at_the_provider_and_forgets_the_login(rig: Rig) -> None:
    async with rig.client() as daemon:
        await log_in(rig, daemon, "openai-codex")
        answered(await daemon.call("chat.send", ask("openai-codex", marker())))
        [refresh] = rig.fake.live_tokens("openai-codex", "refresh")
        out = await daemon.call("auth.oauth.logout", {"provider": "openai-codex"})
        assert out == {
            "provider": "openai-codex",
            "account": "default",
            "removed": True,
            "revoked": True,
        }
        [revocation] = rig.fake.requests_to(codex.REVOKE)
        assert revocation.body["token"] == refresh
        assert rig.fake.live_tokens("openai-codex", "access") == [], "the family is revoked"
        assert await record(daemon, "openai-codex") is None
        with pytest.raises(CredentialsMissing):
            await daemon.call("chat.send", ask("openai-codex", marker()))


async def test_logout_without_a_revoke_endpoint_still_forgets_the_login(rig: Rig) -> None:
    async with rig.client() as daemon:
        await log_in(rig, daemon, "kimi-coding")
        out = await daemon.call("auth.oauth.logout", {"provider": "kimi-coding"})
        assert (out["removed"], out["revoked"]) == (True, False)
        assert await record(daemon, "kimi-coding") is None
        again = await daemon.call("auth.oauth.logout", {"provider": "kimi-coding"})
        assert (again["removed"], again["revoked"]) == (False, False)


@pytest.mark.parametrize("fault", [Fault.HTML, Fault.SERVER_ERROR])
async def test_logout_forgets_the_login_when_the_revocation_fails(fault: Fault, rig: Rig) -> None:
    async with rig.client() as daemon:
        await log_in(rig, daemon, "openai-codex")
        rig.fake.fail(fault, path=codex.REVOKE)
        out = await daemon.call("auth.oauth.logout", {"provider": "openai-codex"})
        assert (out["removed"], out["revoked"]) == (True, False)
        assert await record(daemon, "openai-codex") is None


# --- the CLI ----------------------------------------------------------------------------------


async def test_the_cli_lists_the_login_and_logs_out_of_it(rig: Rig) -> None:
    async with rig.client() as daemon:
        await log_in(rig, daemon, "openai-codex")
        await log_in(rig, daemon, "kimi-coding")
    listed = cli(rig, "auth")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split()[1:4] for line in listed.stdout.splitlines()[1:]}
    assert rows["openai-codex"] == ["default", "oauth", "vault"]
    assert rows["kimi-coding"] == ["default", "oauth", "vault"]

    revoked = cli(rig, "logout", "openai-codex")
    assert (revoked.returncode, revoked.stdout) == (
        0,
        "logged out of openai-codex (default) and revoked\n",
    )
    plain = cli(rig, "logout", "kimi-coding")
    assert (plain.returncode, plain.stdout) == (0, "logged out of kimi-coding (default)\n")
    gone = cli(rig, "logout", "kimi-coding")
    assert (gone.returncode, gone.stdout) == (1, "no stored login for kimi-coding (default)\n")
    assert cli(rig, "auth").stdout.splitlines()[1:] == []
