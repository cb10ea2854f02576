"""API keys in the vault, through the real daemon: set, check, use, list, delete, survive."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.auth.logins import LOGINS, LoginSpec
from daemon.client import Client
from daemon.errors import KeyRejected, LoginNotAllowed, UnknownProvider
from daemon.providers.model import LoginMethod
from tests.conftest import result_validator
from tests.support.daemon import DaemonProcess, run_python, serving_daemon
from tests.support.leaks import any_file, files_holding
from tests.support.upstream import ThreadedUpstream, upstream_config

STORED = "sk-test-stored-in-vault-7777"
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def key_daemon(upstream: ThreadedUpstream) -> Iterator[DaemonProcess]:
    """A daemon of its own (its vault starts empty) whose providers point at the fake."""
    with serving_daemon(config=upstream_config(upstream.base_url)) as daemon:
        yield daemon


def keys_sent(upstream: ThreadedUpstream) -> list[str]:
    return [r.headers.get("authorization", "") for r in upstream.fake.requests]


async def test_a_stored_key_is_checked_used_before_config_and_listed_without_its_value(
    key_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    async with Client(key_daemon.socket) as daemon:
        stored = await daemon.call("auth.apikey.set", {"provider": "fake", "key": STORED})
        assert stored == {"provider": "fake", "account": "default", "validated": True}
        upstream.fake.requests.clear()
        answer = await daemon.call("chat.send", {"provider": "fake", "messages": HELLO})
        assert answer["message"]["content"] == "Echo: hello"
        assert keys_sent(upstream) == [f"Bearer {STORED}"], "the vault comes before config"
        status = await daemon.call("auth.status")
    result_validator("auth.status")(status)
    mine = [c for c in status["credentials"] if c["provider"] == "fake"]
    assert {(c["source"], c["kind"]) for c in mine} == {("vault", "api_key"), ("config", "api_key")}
    assert STORED not in repr(status)


async def test_a_refused_key_is_not_stored(
    key_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    async with Client(key_daemon.socket) as daemon:
        with pytest.raises(KeyRejected) as refused:
            await daemon.call("auth.apikey.set", {"provider": "fake", "key": "bad-key"})
        assert "bad-key" not in repr(refused.value.to_rpc())
        status = await daemon.call("auth.status")
        assert not [c for c in status["credentials"] if c["source"] == "vault"]
        unchecked = {"provider": "fake", "key": "bad-key", "validate": False}
        assert (await daemon.call("auth.apikey.set", unchecked))["validated"] is False


async def test_delete_forgets_the_key_and_config_takes_over(
    key_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    async with Client(key_daemon.socket) as daemon:
        await daemon.call("auth.apikey.set", {"provider": "fake", "key": STORED})
        removed = await daemon.call("auth.apikey.delete", {"provider": "fake"})
        assert removed == {"provider": "fake", "account": "default", "removed": True}
        again = await daemon.call("auth.apikey.delete", {"provider": "fake"})
        assert again["removed"] is False
        upstream.fake.requests.clear()
        await daemon.call("chat.send", {"provider": "fake", "messages": HELLO})
    assert keys_sent(upstream) == ["Bearer sk-test-fallback-0000"]


async def test_a_key_stored_or_deleted_between_calls_is_the_next_calls_key(
    key_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    # The daemon remembers a provider's resolved keys; a change in the vault must end that.
    async with Client(key_daemon.socket) as daemon:
        upstream.fake.requests.clear()
        await daemon.call("chat.send", {"provider": "fake", "messages": HELLO})
        await daemon.call("auth.apikey.set", {"provider": "fake", "key": STORED, "validate": False})
        await daemon.call("chat.send", {"provider": "fake", "messages": HELLO})
        await daemon.call("auth.apikey.delete", {"provider": "fake"})
        await daemon.call("chat.send", {"provider": "fake", "messages": HELLO})
    config = "Bearer sk-test-fallback-0000"
    assert keys_sent(upstream) == [config, f"Bearer {STORED}", config]


async def test_a_stored_key_survives_a_restart_and_is_never_on_disk_in_clear(
    upstream: ThreadedUpstream, tmp_path: Path
) -> None:
    state = {"XDG_STATE_HOME": str(tmp_path)}  # shared by both daemons, kept between them
    config = upstream_config(upstream.base_url)
    with serving_daemon(config=config, env=state) as first:
        async with Client(first.socket) as daemon:
            await daemon.call("auth.apikey.set", {"provider": "fake", "key": STORED})
    assert any_file(tmp_path)
    assert files_holding(tmp_path, [STORED]) == []
    with serving_daemon(config=config, env=state) as second:
        async with Client(second.socket) as daemon:
            upstream.fake.requests.clear()
            await daemon.call("chat.send", {"provider": "fake", "messages": HELLO})
    assert keys_sent(upstream) == [f"Bearer {STORED}"]


async def test_an_unknown_provider_and_an_anthropic_browser_login_are_typed_refusals(
    key_daemon: DaemonProcess,
) -> None:
    async with Client(key_daemon.socket) as daemon:
        with pytest.raises(UnknownProvider):
            await daemon.call("auth.apikey.set", {"provider": "nope", "key": "k"})
        with pytest.raises(LoginNotAllowed) as refused:
            await daemon.call("auth.oauth.start", {"provider": "claude", "method": "browser"})
        assert refused.value.data["methods"] == ["api_key"]


async def test_the_api_key_login_says_where_to_get_a_key_and_takes_it(
    key_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    async with Client(key_daemon.socket) as daemon:
        flow = await daemon.call("auth.oauth.start", {"provider": "openai"})
        result_validator("auth.oauth.start")(flow)
        assert (flow["method"], flow["url"]) == ("api_key", "https://platform.openai.com/api-keys")
        done = await daemon.call(
            "auth.oauth.complete", {"flowId": flow["flowId"], "apiKey": STORED}
        )
        assert done["status"] == "complete"
        waited = await daemon.call("auth.oauth.wait", {"flowId": flow["flowId"]})
        assert waited == done


API_KEY_ROWS = [spec for spec in LOGINS if LoginMethod.API_KEY in spec.methods]


@pytest.fixture
def every_key_daemon(upstream: ThreadedUpstream) -> Iterator[DaemonProcess]:
    """A daemon whose providers with an api_key login all list their models at the fake."""
    tables = "".join(
        f'\n[providers.{spec.provider}]\nbase_url = "{upstream.base_url}"\n'
        for spec in API_KEY_ROWS
        if spec.provider != "openai"
    )
    with serving_daemon(config=upstream_config(upstream.base_url) + tables) as daemon:
        yield daemon


@pytest.mark.parametrize("spec", API_KEY_ROWS, ids=lambda spec: spec.provider)
async def test_every_api_key_login_names_where_to_get_a_key_checks_it_and_keeps_it(
    every_key_daemon: DaemonProcess, upstream: ThreadedUpstream, spec: LoginSpec
) -> None:
    key = f"sk-test-{spec.provider}-0000"
    async with Client(every_key_daemon.socket) as daemon:
        flow = await daemon.call(
            "auth.oauth.start", {"provider": spec.provider, "method": "api_key"}
        )
        assert flow["url"] == spec.key_url
        upstream.fake.requests.clear()
        done = await daemon.call("auth.oauth.complete", {"flowId": flow["flowId"], "apiKey": key})
        assert done["status"] == "complete"
        checked = [r for r in upstream.fake.requests if r.path.endswith("/models")]
        status = await daemon.call("auth.status")
    assert len(checked) == 1, "the key is checked with one cheap call"
    row = next(c for c in status["credentials"] if c["provider"] == spec.provider)
    assert (row["kind"], row["source"]) == ("api_key", "vault")
    assert key not in repr(status)


def login_cli(daemon: DaemonProcess, provider: str, typed: str) -> subprocess.CompletedProcess[str]:
    """``switchboard login PROVIDER`` with ``typed`` as what the person types."""
    env = {k: v for k, v in daemon.env.items() if k != "NOTIFY_SOCKET"}
    return run_python(
        "-m", "daemon", "login", provider, "--socket", str(daemon.socket), env=env, stdin=typed
    )


def test_the_cli_asks_for_a_key_again_when_the_provider_refuses_it(
    key_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    done = login_cli(key_daemon, "openai", f"bad-key\n{STORED}\n")
    assert done.returncode == 0, done.stderr
    assert "Create a key at: https://platform.openai.com/api-keys" in done.stdout
    assert "not accepted: openai refused the key" in done.stderr
    assert "logged in to openai (account default)" in done.stdout
    assert STORED not in done.stdout + done.stderr, "a typed key is never echoed"


def test_the_cli_cancels_the_login_when_input_ends(key_daemon: DaemonProcess) -> None:
    done = login_cli(key_daemon, "openai", "")
    assert done.returncode == 130
    assert "login cancelled" in done.stderr
