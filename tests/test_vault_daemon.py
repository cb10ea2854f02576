"""The vault through the real daemon: crashes, spoiled records, wrong keys, an unusable
directory and ``switchboard vault rekey``, each as a user would meet it.

Daemons that share a state directory get ``XDG_STATE_HOME``; the fake provider records the key
each request carries, which is how a test sees which credential the daemon used.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from daemon.auth.records import Login
from daemon.client import Client
from daemon.errors import DaemonUnreachable, VaultUnavailable
from daemon.store import keyfile
from daemon.store.crypto import new_key
from daemon.store.vault import Vault
from tests.conftest import result_validator
from tests.support.daemon import DaemonProcess, run_python, running_daemon, serving_daemon
from tests.support.leaks import files_holding
from tests.support.upstream import ThreadedUpstream, upstream_config

STORED = "sk-test-vault-daemon-8888"
CONFIG_KEY = "sk-test-fallback-0000"  # upstream_config's key for the "fake" provider
ENV_KEY = "sk-test-env-key-5555"
HELLO = [{"role": "user", "content": "hello"}]


def shared_state(tmp_path: Path) -> dict[str, str]:
    return {"XDG_STATE_HOME": str(tmp_path)}


def vault_dir(tmp_path: Path) -> Path:
    return tmp_path / "switchboard" / "vault"


def keys_sent(upstream: ThreadedUpstream) -> list[str]:
    return [r.headers.get("authorization", "") for r in upstream.fake.requests]


async def chat_key(daemon: Client, upstream: ThreadedUpstream, provider: str = "fake") -> str:
    """The key the daemon sends the provider for one chat."""
    upstream.fake.requests.clear()
    answer = await daemon.call("chat.send", {"provider": provider, "messages": HELLO})
    assert answer["message"]["content"] == "Echo: hello"
    [sent] = keys_sent(upstream)
    return sent.removeprefix("Bearer ")


async def store_key(daemon: Client, key: str, account: str = "default") -> Any:
    params = {"provider": "fake", "account": account, "key": key, "validate": False}
    return await daemon.call("auth.apikey.set", params)


async def health_of_vault(daemon: Client) -> dict[str, Any]:
    health = await daemon.call("daemon.health")
    result_validator("daemon.health")(health)
    vault: dict[str, Any] = health["components"]["vault"]
    return vault


async def store_one(config: str, state: Mapping[str, str], key: str = STORED) -> None:
    with serving_daemon(config=config, env=state) as first:
        async with Client(first.socket) as daemon:
            await store_key(daemon, key)


# -- a crash in the middle of writing ------------------------------------------------------------

ACCOUNTS = ("default", *(f"a{index}" for index in range(7)))
ROUNDS = 30  # writes per record in the burst, all in flight at once
KILL_AFTER = 20  # acknowledged writes before the SIGKILL


def old_value(account: str) -> str:
    return f"sk-test-old-{account}"


def new_value(account: str, index: int) -> str:
    return f"sk-test-new-{account}-{index:03d}"


async def burst_then_kill(daemon: DaemonProcess) -> set[tuple[str, str]]:
    """Write every record ROUNDS times concurrently; SIGKILL the daemon once KILL_AFTER writes
    have been acknowledged. The (account, key) pairs it acknowledged."""
    async with Client(daemon.socket) as client:
        calls = {
            asyncio.create_task(store_key(client, new_value(account, index), account)): (
                account,
                new_value(account, index),
            )
            for index in range(ROUNDS)
            for account in ACCOUNTS
        }
        pending: set[asyncio.Task[Any]] = set(calls)
        while len(calls) - len(pending) < KILL_AFTER:
            _done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        daemon.proc.kill()
        await asyncio.wait(pending)
    acknowledged = {calls[task] for task in calls if task.exception() is None}
    cut_off = [task for task in calls if isinstance(task.exception(), DaemonUnreachable)]
    assert cut_off, "the kill landed while writes were still in flight"
    assert len(acknowledged) + len(cut_off) == len(calls), "every other call failed by the kill"
    return acknowledged


async def read_back(state: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Each fake account's key as a fresh vault on the same directory opens it, and problems."""
    async with Vault(state / "vault", keyfile.locate({}, state)) as vault:
        assert vault.unavailable is None, vault.unavailable
        keys = {}
        for provider, account in await vault.entries():
            payload = await vault.get(provider, account)
            assert payload is not None
            keys[account] = str(Login.from_json(payload).secret_key)
        return keys, vault.problems()


async def test_a_sigkill_during_a_burst_of_writes_leaves_every_record_old_or_new(
    upstream: ThreadedUpstream, tmp_path: Path
) -> None:
    config = upstream_config(upstream.base_url)
    with running_daemon(config=config, env=shared_state(tmp_path)) as daemon:
        async with Client(daemon.socket) as client:
            for account in ACCOUNTS:
                await store_key(client, old_value(account), account)
        acknowledged = await burst_then_kill(daemon)
        assert daemon.proc.wait(timeout=10) < 0

    keys, problems = await read_back(tmp_path / "switchboard")
    assert problems == []
    assert set(keys) == set(ACCOUNTS), "no record lost"
    for account, key in keys.items():
        assert key in {old_value(account), *(new_value(account, i) for i in range(ROUNDS))}
        if any(acked == account for acked, _ in acknowledged):
            assert key != old_value(account), f"{account}: an acknowledged write was lost"

    with serving_daemon(config=config, env=shared_state(tmp_path)) as restarted:
        async with Client(restarted.socket) as client:
            status = await client.call("auth.status")
            assert (await health_of_vault(client))["status"] == "ready"
            assert await chat_key(client, upstream) == keys["default"]
    in_vault = {c["account"] for c in status["credentials"] if c["source"] == "vault"}
    assert (in_vault, status["problems"]) == (set(ACCOUNTS), [])
    every_key = [old_value(a) for a in ACCOUNTS]
    every_key += [new_value(a, i) for a in ACCOUNTS for i in range(ROUNDS)]
    assert files_holding(tmp_path, every_key) == []


# -- records that do not open --------------------------------------------------------------------


def content(path: str) -> bytes:
    return Path(path).read_bytes()


def put_back(aside: str, record: Path) -> None:
    """What an operator does once the right key is back: rename the record into place."""
    Path(aside).replace(record)


def tamper(record: Path) -> bytes:
    """Flip one character of the record's ciphertext; the spoiled bytes."""
    envelope = json.loads(record.read_bytes())
    ct = envelope["ct"]
    envelope["ct"] = ("B" if ct[0] == "A" else "A") + ct[1:]
    spoiled = json.dumps(envelope).encode()
    record.write_bytes(spoiled)
    return spoiled


async def test_a_spoiled_record_is_reported_and_set_aside_while_chat_goes_on(
    upstream: ThreadedUpstream, tmp_path: Path
) -> None:
    config, state = upstream_config(upstream.base_url), shared_state(tmp_path)
    await store_one(config, state)
    spoiled = tamper(vault_dir(tmp_path) / "fake.default.rec")

    with serving_daemon(config=config, env=state) as second:
        async with Client(second.socket) as daemon:
            vault = await health_of_vault(daemon)
            assert vault["status"] == "degraded"
            assert "1 record(s) set aside (see auth.status)" in vault["detail"]
            assert (await daemon.call("daemon.health"))["status"] == "degraded"
            status = await daemon.call("auth.status")
            assert await chat_key(daemon, upstream) == CONFIG_KEY
    result_validator("auth.status")(status)
    [problem] = status["problems"]
    assert problem["record"] == "fake.default"
    assert "tampered" in problem["reason"]
    assert content(problem["movedTo"]) == spoiled
    assert not (vault_dir(tmp_path) / "fake.default.rec").exists()


async def test_the_wrong_vault_key_sets_records_aside_and_the_right_one_gets_them_back(
    upstream: ThreadedUpstream, tmp_path: Path
) -> None:
    config, state = upstream_config(upstream.base_url), shared_state(tmp_path)
    await store_one(config, state)
    record = vault_dir(tmp_path) / "fake.default.rec"
    original = record.read_bytes()
    other_key = tmp_path / "other-key"
    other_key.write_bytes(keyfile.encode(new_key()))

    wrong = {**state, keyfile.ENV_KEY_FILE: str(other_key)}
    with serving_daemon(config=config, env=wrong) as second:
        async with Client(second.socket) as daemon:
            status = await daemon.call("auth.status")
            assert await chat_key(daemon, upstream) == CONFIG_KEY
            await store_key(daemon, "sk-test-under-the-wrong-key")
    [problem] = status["problems"]
    assert "another vault key" in problem["reason"]
    assert content(problem["movedTo"]) == original, "set aside byte for byte, not overwritten"

    # The operator's way back: put the set-aside record in place, start with the right key.
    put_back(problem["movedTo"], record)
    with serving_daemon(config=config, env=state) as third:
        async with Client(third.socket) as daemon:
            assert await chat_key(daemon, upstream) == STORED
            assert (await daemon.call("auth.status"))["problems"] == []
    assert files_holding(tmp_path, [STORED, "sk-test-under-the-wrong-key"]) == []


# -- a vault that cannot be used -----------------------------------------------------------------


def env_key_config(base_url: str) -> str:
    """The openai provider at the fake with no key in config: the environment's key is used."""
    return f'[providers.openai]\nbase_url = "{base_url}"\n'


async def test_an_unusable_vault_directory_does_not_stop_the_daemon(
    upstream: ThreadedUpstream, tmp_path: Path
) -> None:
    # As root, permission bits do not stop a write: the vault's path is taken by a file.
    (tmp_path / "switchboard").mkdir(mode=0o700)
    vault_dir(tmp_path).write_text("not a directory")
    env = {**shared_state(tmp_path), "OPENAI_API_KEY": ENV_KEY}
    with serving_daemon(config=env_key_config(upstream.base_url), env=env) as daemon_process:
        async with Client(daemon_process.socket) as daemon:
            vault = await health_of_vault(daemon)
            with pytest.raises(VaultUnavailable) as refused:
                await daemon.call(
                    "auth.apikey.set", {"provider": "openai", "key": STORED, "validate": False}
                )
            assert await chat_key(daemon, upstream, "openai") == ENV_KEY
            status = await daemon.call("auth.status")
    assert vault["status"] == "unavailable"
    assert status["vault"] == vault, "auth.status says why only config and env keys are listed"
    assert {
        "provider": "openai",
        "kind": "api_key",
        "source": "env",
        "envKey": "OPENAI_API_KEY",
    } in (status["credentials"])
    assert vault["detail"] == f"{vault_dir(tmp_path)}: not a directory" + (
        " (the vault needs a directory it can write)"
    )
    error = refused.value.to_rpc()
    assert error["code"] == -32040
    assert error["data"]["nextStep"] == VaultUnavailable.next_step
    assert str(vault_dir(tmp_path)) in str(error["data"]["detail"])
    assert vault_dir(tmp_path).read_text() == "not a directory"


# -- switchboard vault rekey ---------------------------------------------------------------------


def rekey_cli(env: Mapping[str, str], socket: Path, *extra: str) -> Any:
    return run_python("-m", "daemon", "vault", "rekey", "--socket", str(socket), *extra, env=env)


def record_kid(tmp_path: Path) -> str:
    kid: str = json.loads((vault_dir(tmp_path) / "fake.default.rec").read_bytes())["kid"]
    return kid


async def test_vault_rekey_refuses_while_the_daemon_runs_then_re_encrypts_every_record(
    upstream: ThreadedUpstream, tmp_path: Path
) -> None:
    config, state = upstream_config(upstream.base_url), shared_state(tmp_path)
    key_path = tmp_path / "switchboard" / "vault-key"
    with serving_daemon(config=config, env=state) as first:
        async with Client(first.socket) as daemon:
            await store_key(daemon, STORED)
        old_key = key_path.read_bytes()
        refused = rekey_cli(first.env, first.socket)
        assert refused.returncode == 1
        assert "stop the daemon first" in refused.stderr
        elsewhere = rekey_cli(first.env, first.root / "another.sock")  # asks no daemon there
        assert elsewhere.returncode == 1
        assert "is open in a running daemon (or another rekey): stop it first" in elsewhere.stderr
        assert key_path.read_bytes() == old_key
        env, socket = dict(first.env), first.socket

    done = rekey_cli(env, socket)
    assert done.returncode == 0, done.stderr
    new_kid = keyfile.read(key_path).kid
    assert f"re-encrypted 1 record(s) under key {new_kid}" in done.stdout
    assert key_path.read_bytes() != old_key
    assert record_kid(tmp_path) == new_kid

    with serving_daemon(config=config, env=state) as restarted:
        async with Client(restarted.socket) as daemon:
            assert await chat_key(daemon, upstream) == STORED
            assert (await health_of_vault(daemon))["status"] == "ready"
    assert files_holding(tmp_path, [STORED]) == []
    assert STORED not in done.stdout + done.stderr


async def test_vault_rekey_with_an_operator_key_takes_the_new_key_file(
    upstream: ThreadedUpstream, tmp_path: Path
) -> None:
    config = upstream_config(upstream.base_url)
    old_key, new_key_file = tmp_path / "old-key", tmp_path / "new-key"
    old_key.write_bytes(keyfile.encode(new_key()))
    new_key_file.write_bytes(new_key().secret)  # raw bytes work too
    env = {**shared_state(tmp_path), keyfile.ENV_KEY_FILE: str(old_key)}
    with serving_daemon(config=config, env=env) as first:
        async with Client(first.socket) as daemon:
            await store_key(daemon, STORED)
        full_env, socket = dict(first.env), first.socket

    refused = rekey_cli(full_env, socket)
    assert refused.returncode == 1
    assert "--new-key-file" in refused.stderr
    done = rekey_cli(full_env, socket, "--new-key-file", str(new_key_file))
    assert done.returncode == 0, done.stderr
    assert f"point env at {new_key_file}" in done.stdout
    assert record_kid(tmp_path) == keyfile.read(new_key_file).kid

    switched = {**env, keyfile.ENV_KEY_FILE: str(new_key_file)}
    with serving_daemon(config=config, env=switched) as restarted:
        async with Client(restarted.socket) as daemon:
            assert await chat_key(daemon, upstream) == STORED
            assert (await daemon.call("auth.status"))["problems"] == []
    assert files_holding(tmp_path, [STORED]) == []
