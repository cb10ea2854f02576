"""The credential vault on its own (no daemon): sealing, setting aside, keys, files, locks, rekey.

Each test opens a real :class:`Vault` on a fresh directory; faults are made the way they happen
(bytes changed on disk, a key file swapped, a process killed mid-rekey), never by patching.
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing
import multiprocessing.synchronize
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from daemon.errors import RequestInvalid, VaultUnavailable
from daemon.store import crypto, files, keyfile
from daemon.store.crypto import Undecryptable, new_key, seal, unseal
from daemon.store.keyfile import KeyLocation, KeyUnavailable
from daemon.store.rekey import rekey
from daemon.store.vault import Vault, record_name
from tests.support.daemon import REPO
from tests.support.leaks import files_holding

SECRET = "sk-test-vault-secret-4242"
PAYLOAD = {"kind": "api_key", "secret_key": SECRET}


def generated(state: Path) -> KeyLocation:
    """The key a daemon without systemd or SWITCHBOARD_VAULT_KEY_FILE uses."""
    return keyfile.locate({}, state)


def from_env(path: Path) -> KeyLocation:
    return keyfile.locate({keyfile.ENV_KEY_FILE: str(path)}, path.parent)


def key_file(path: Path, raw: bool = False) -> Path:
    """A fresh key written to ``path`` (raw bytes or base64 text)."""
    key = new_key()
    path.write_bytes(key.secret if raw else keyfile.encode(key))
    return path


def kid_of(record: Path) -> str:
    kid: str = json.loads(record.read_bytes())["kid"]
    return kid


async def stored(state: Path, records: Mapping[str, Mapping[str, object]]) -> KeyLocation:
    """A vault under ``state`` holding ``records`` ("provider.account": payload)."""
    location = generated(state)
    async with Vault(state / "vault", location) as vault:
        for name, payload in records.items():
            provider, account = name.split(".")
            await vault.put(provider, account, payload)
    return location


def temp_files(directory: Path) -> list[str]:
    return [path.name for path in directory.glob(f"{files.TEMP_PREFIX}*")]


def corrupt_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.corrupt-*"))


# -- sealing -------------------------------------------------------------------------------------


def test_a_sealed_record_opens_under_its_name_only_and_shows_no_plaintext() -> None:
    key = new_key()
    envelope = seal(key, "openai.default", SECRET.encode())
    assert set(json.loads(envelope)) == {"v", "kid", "nonce", "ct"}
    assert SECRET.encode() not in envelope
    assert key.secret not in envelope
    assert unseal({key.kid: key}, "openai.default", envelope) == SECRET.encode()
    with pytest.raises(Undecryptable, match="renamed"):
        unseal({key.kid: key}, "openai.work", envelope)
    assert key.secret.hex() not in repr(key)


def test_two_seals_of_the_same_secret_differ() -> None:
    key = new_key()
    assert seal(key, "a.default", b"same") != seal(key, "a.default", b"same")


def test_cryptography_is_imported_only_by_the_crypto_module() -> None:
    importing = re.compile(r"^\s*(from|import)\s+cryptography\b", re.MULTILINE)
    users = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "daemon").rglob("*.py"))
        if importing.search(path.read_text())
    ]
    assert users == ["daemon/store/crypto.py"]


def test_a_record_name_holds_the_provider_first_and_never_an_email() -> None:
    assert record_name("openai-codex", "default") == "openai-codex.default"
    assert record_name("My.Local_llm", "work-2") == "My.Local_llm.work-2"  # a config provider
    with pytest.raises(RequestInvalid):
        record_name("openai-codex", "me@example.com")
    for outside in ("../escape", "a/b", ".hidden", ""):
        with pytest.raises(RequestInvalid):
            record_name(outside, "default")


async def test_a_record_file_is_named_for_its_provider_and_account_and_holds_no_secret(
    tmp_path: Path,
) -> None:
    await stored(tmp_path, {"openai-codex.default": PAYLOAD})
    names = [p.name for p in (tmp_path / "vault").iterdir() if not p.name.startswith(".")]
    assert names == ["openai-codex.default.rec"]
    assert files_holding(tmp_path, [SECRET]) == []


# -- records that do not open --------------------------------------------------------------------


def _flip_last_ct_byte(data: bytes, key: Path) -> bytes:
    envelope = json.loads(data)
    ct = bytearray(base64.b64decode(envelope["ct"]))
    ct[-1] ^= 0x01
    envelope["ct"] = base64.b64encode(bytes(ct)).decode()
    return json.dumps(envelope).encode()


def _other_version(data: bytes, key: Path) -> bytes:
    return json.dumps({**json.loads(data), "v": 2}).encode()


def _sealed_with_another_key(data: bytes, key: Path) -> bytes:
    return seal(new_key(), "openai.default", json.dumps(PAYLOAD).encode())


def _kid_of_the_wrong_type(data: bytes, key: Path) -> bytes:
    return json.dumps({**json.loads(data), "kid": ["not", "a", "string"]}).encode()


def _sealed_non_object(data: bytes, key: Path) -> bytes:
    return seal(keyfile.read(key), "openai.default", b'["a list, not a record"]')


FAULTS: dict[str, tuple[Callable[[bytes, Path], bytes], str]] = {
    "tampered": (_flip_last_ct_byte, "tampered"),
    "truncated": (lambda data, key: data[: len(data) // 2], "truncated"),
    "empty": (lambda data, key: b"", "truncated"),
    "another version": (_other_version, "another version"),
    "another key": (_sealed_with_another_key, "another vault key"),
    "a kid of the wrong type": (_kid_of_the_wrong_type, "not a vault record"),
    "not a credential record": (_sealed_non_object, "not a credential record"),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
async def test_a_record_that_does_not_open_is_set_aside_intact_reported_and_never_overwritten(
    tmp_path: Path, fault: str
) -> None:
    change, reason = FAULTS[fault]
    location = await stored(tmp_path, {"openai.default": PAYLOAD, "anthropic.default": PAYLOAD})
    record = tmp_path / "vault" / "openai.default.rec"
    bad = change(record.read_bytes(), location.path)
    record.write_bytes(bad)

    async with Vault(tmp_path / "vault", location) as vault:
        assert vault.unavailable is None
        assert await vault.get("openai") is None
        assert await vault.get("anthropic") == PAYLOAD, "the other records still open"
        [problem] = vault.problems()
        assert problem["record"] == "openai.default"
        assert reason in problem["reason"]
        [aside] = corrupt_files(tmp_path / "vault")
        assert problem["movedTo"] == str(aside)
        assert aside.read_bytes() == bad, "set aside as it was"
        assert vault.health()[0] == "degraded"
        assert "1 record(s) set aside" in vault.health()[1]

        await vault.put("openai", "default", {"kind": "api_key", "secret_key": "sk-new"})
        assert aside.read_bytes() == bad, "a new record never replaces the one set aside"
        assert await vault.reload("openai") == {"kind": "api_key", "secret_key": "sk-new"}

    async with Vault(tmp_path / "vault", location) as reopened:
        assert reopened.problems() == [
            {"record": "openai.default", "reason": "set aside earlier", "movedTo": str(aside)}
        ]


async def test_a_record_copied_to_another_name_does_not_open(tmp_path: Path) -> None:
    location = await stored(tmp_path, {"openai.default": PAYLOAD})
    vault_dir = tmp_path / "vault"
    (vault_dir / "openai.work.rec").write_bytes((vault_dir / "openai.default.rec").read_bytes())
    async with Vault(vault_dir, location) as vault:
        assert await vault.get("openai", "work") is None
        assert await vault.get("openai", "default") == PAYLOAD
        assert [p["record"] for p in vault.problems()] == ["openai.work"]
        assert "renamed" in vault.problems()[0]["reason"]


async def test_a_record_known_absent_is_not_read_again_until_written_or_reloaded(
    tmp_path: Path,
) -> None:
    location = await stored(tmp_path, {})
    record = tmp_path / "vault" / "openai.default.rec"
    async with Vault(tmp_path / "vault", location) as vault:
        assert await vault.get("openai") is None
        sealed_elsewhere = seal(
            keyfile.load(location, 0)[0], "openai.default", json.dumps(PAYLOAD).encode()
        )
        record.write_bytes(sealed_elsewhere)  # another process's write, unseen until a reload
        assert await vault.get("openai") is None, "a known miss is answered from memory"
        assert await vault.reload("openai") == PAYLOAD
        assert await vault.get("openai") == PAYLOAD
        assert await vault.delete("openai")
        assert await vault.get("openai") is None
        await vault.put("openai", "default", {"kind": "api_key", "secret_key": "sk-new"})
        assert await vault.get("openai") == {"kind": "api_key", "secret_key": "sk-new"}


async def test_a_record_spoiled_while_the_vault_is_open_is_set_aside_on_its_next_read(
    tmp_path: Path,
) -> None:
    location = await stored(tmp_path, {})
    async with Vault(tmp_path / "vault", location) as vault:
        await vault.put("openai", "default", PAYLOAD)
        assert vault.health()[0] == "ready"
        (tmp_path / "vault" / "openai.default.rec").write_bytes(b"{}")
        results = await asyncio.gather(vault.reload("openai"), vault.reload("openai"))
        assert list(results) == [None, None]
        assert len(vault.problems()) == 1, "two readers set it aside once"
        assert len(corrupt_files(tmp_path / "vault")) == 1


async def test_a_write_over_a_record_sealed_with_another_key_sets_it_aside_first(
    tmp_path: Path,
) -> None:
    location = await stored(tmp_path, {})
    async with Vault(tmp_path / "vault", location) as vault:
        foreign = seal(new_key(), "openai.default", json.dumps(PAYLOAD).encode())
        (tmp_path / "vault" / "openai.default.rec").write_bytes(foreign)  # another process's
        await vault.put("openai", "default", {"kind": "api_key", "secret_key": "sk-new"})
        [aside] = corrupt_files(tmp_path / "vault")
        assert aside.read_bytes() == foreign
        assert [p["record"] for p in vault.problems()] == ["openai.default"]


# -- the key -------------------------------------------------------------------------------------


def test_the_key_comes_from_systemd_then_the_environment_then_the_state_dir(
    tmp_path: Path,
) -> None:
    credentials, state = tmp_path / "credentials", tmp_path / "state"
    credentials.mkdir()
    env_key = tmp_path / "env-key"
    both = {"CREDENTIALS_DIRECTORY": str(credentials), keyfile.ENV_KEY_FILE: str(env_key)}
    assert keyfile.locate(both, state) == KeyLocation(env_key, "env"), "no vault-key there"
    (credentials / "vault-key").write_bytes(b"x")
    assert keyfile.locate(both, state) == KeyLocation(credentials / "vault-key", "systemd")
    assert keyfile.locate({keyfile.ENV_KEY_FILE: str(env_key)}, state).source == "env"
    assert keyfile.locate({}, state) == KeyLocation(state / "vault-key", "generated")
    assert [loc.writable for loc in (keyfile.locate(both, state), keyfile.locate({}, state))] == [
        False,
        True,
    ]


async def test_a_generated_key_is_0600_base64_and_made_once(tmp_path: Path) -> None:
    location = await stored(tmp_path, {"openai.default": PAYLOAD})
    text = location.path.read_bytes()
    assert len(base64.b64decode(text.strip(), validate=True)) == crypto.KEY_BYTES
    assert stat.S_IMODE(location.path.stat().st_mode) == 0o600
    async with Vault(tmp_path / "vault", generated(tmp_path)) as vault:
        assert await vault.get("openai") == PAYLOAD
    assert location.path.read_bytes() == text
    assert temp_files(tmp_path) == []


async def test_a_lost_generated_key_is_not_replaced_while_records_need_it(
    tmp_path: Path,
) -> None:
    location = await stored(tmp_path, {"openai.default": PAYLOAD})
    record = (tmp_path / "vault" / "openai.default.rec").read_bytes()
    location.path.rename(tmp_path / "key-moved-away")
    async with Vault(tmp_path / "vault", location) as vault:
        assert vault.unavailable is not None
        assert "1 record(s) were sealed with it: put it back" in vault.unavailable
    with pytest.raises(KeyUnavailable, match="put it back"):
        rekey(tmp_path / "vault", location)
    assert not location.path.exists()
    assert (tmp_path / "vault" / "openai.default.rec").read_bytes() == record
    assert corrupt_files(tmp_path / "vault") == []
    (tmp_path / "key-moved-away").rename(location.path)
    assert await contents(tmp_path, location) == {"openai.default": PAYLOAD, "problems": []}


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "base64"])
async def test_a_key_file_holds_32_bytes_raw_or_as_base64(tmp_path: Path, raw: bool) -> None:
    path = key_file(tmp_path / "key", raw=raw)
    async with Vault(tmp_path / "vault", from_env(path)) as vault:
        await vault.put("openai", "default", PAYLOAD)
    same_key = keyfile.read(path)
    other_form = tmp_path / "other-form"
    other_form.write_bytes(keyfile.encode(same_key) if raw else same_key.secret)
    async with Vault(tmp_path / "vault", from_env(other_form)) as vault:
        assert await vault.get("openai") == PAYLOAD
        assert vault.problems() == []


@pytest.mark.parametrize(
    "content", [b"", b"too short", b"A" * 45, b"\x00" * 33], ids=["empty", "text", "b64", "33"]
)
async def test_a_malformed_key_file_leaves_the_vault_unavailable_with_a_reason(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "key"
    path.write_bytes(content)
    async with Vault(tmp_path / "vault", from_env(path)) as vault:
        assert vault.unavailable is not None
        assert str(path) in vault.unavailable
        assert "32 bytes" in vault.unavailable
        assert vault.health() == ("unavailable", vault.unavailable)
        with pytest.raises(VaultUnavailable) as refused:
            await vault.put("openai", "default", PAYLOAD)
        assert refused.value.to_rpc()["data"]["nextStep"]


async def test_a_missing_key_file_named_by_the_environment_is_not_replaced(
    tmp_path: Path,
) -> None:
    path = tmp_path / "absent-key"
    async with Vault(tmp_path / "vault", from_env(path)) as vault:
        assert vault.unavailable == f"the vault key file {path} does not exist"
    assert not path.exists(), "only the generated key is ever created"


# -- files ---------------------------------------------------------------------------------------


async def test_records_keys_and_locks_are_0600_and_the_directory_0700(tmp_path: Path) -> None:
    (tmp_path / "vault").mkdir(mode=0o755)
    (tmp_path / "vault").chmod(0o755)
    await stored(tmp_path, {"openai.default": PAYLOAD})
    assert stat.S_IMODE((tmp_path / "vault").stat().st_mode) == 0o700
    made = [tmp_path / "vault-key", *(tmp_path / "vault").iterdir()]
    assert {p.name for p in made} == {
        "vault-key",
        "openai.default.rec",
        ".lock-openai.default",
        ".in-use",
    }
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in made} == {p.name: 0o600 for p in made}


async def test_temp_and_stray_files_are_never_read_as_records_and_crash_leftovers_go(
    tmp_path: Path,
) -> None:
    location = await stored(tmp_path, {"openai.default": PAYLOAD})
    vault_dir = tmp_path / "vault"
    crashed = vault_dir / ".tmp-0123456789ab-openai.default.rec"
    crashed.write_bytes(b"half a rec")
    in_flight = vault_dir / ".tmp-ba9876543210-anthropic.default.rec"
    in_flight.write_bytes(b"being written")
    writer = files.open_lock(vault_dir / ".lock-anthropic.default")  # another process writing
    for stray in ("notes.rec", "README", "openai.Me@Example.rec"):
        (vault_dir / stray).write_text("someone else's file")
    try:
        async with Vault(vault_dir, location) as vault:
            assert not crashed.exists()
            assert in_flight.exists(), "a write in flight elsewhere keeps its temp file"
            assert await vault.entries() == [("openai", "default")]
            assert vault.problems() == []
    finally:
        os.close(writer)


async def _every_call(vault: Vault) -> list[str]:
    """The name of each vault call that did not raise VaultUnavailable."""
    calls = {
        "get": lambda: vault.get("openai"),
        "reload": lambda: vault.reload("openai"),
        "put": lambda: vault.put("openai", "default", PAYLOAD),
        "delete": lambda: vault.delete("openai"),
        "entries": vault.entries,
    }
    answered = []
    for name, call in calls.items():
        try:
            await call()
        except VaultUnavailable:
            continue
        answered.append(name)
    try:
        vault.locked("openai")
    except VaultUnavailable:
        return answered
    return [*answered, "locked"]


async def test_a_vault_directory_that_cannot_be_made_leaves_it_unavailable(
    tmp_path: Path,
) -> None:
    # Root ignores permission bits, so "not writable" is made a way that holds for root too:
    # the state directory is a regular file, so nothing can be created inside it.
    state = tmp_path / "state"
    state.write_text("a file where a directory should be")
    async with Vault(state / "vault", generated(state)) as vault:
        assert vault.unavailable is not None
        assert str(state) in vault.unavailable
        assert vault.health()[0] == "unavailable"
        assert await _every_call(vault) == []
    assert state.read_text() == "a file where a directory should be"


async def test_a_vault_path_that_is_a_file_leaves_it_unavailable(tmp_path: Path) -> None:
    (tmp_path / "vault").write_text("not a directory")
    async with Vault(tmp_path / "vault", generated(tmp_path)) as vault:
        assert vault.unavailable == (
            f"{tmp_path / 'vault'}: not a directory (the vault needs a directory it can write)"
        )
        assert await _every_call(vault) == []


async def test_a_directory_that_goes_away_after_open_is_a_typed_error_per_call(
    tmp_path: Path,
) -> None:
    location = await stored(tmp_path, {"openai.default": PAYLOAD})
    async with Vault(tmp_path / "vault", location) as vault:
        (tmp_path / "vault").rename(tmp_path / "moved")
        (tmp_path / "vault").write_text("not a directory any more")
        with pytest.raises(VaultUnavailable) as refused:
            await vault.put("anthropic", "default", PAYLOAD)
        assert "the vault needs a directory it can write" in str(refused.value.detail)
        with pytest.raises(VaultUnavailable):
            await vault.reload("openai")
    assert sorted(p.name for p in (tmp_path / "moved").glob("*.rec")) == ["openai.default.rec"]


# -- two processes -------------------------------------------------------------------------------


def _increment(directory: str, times: int, start: multiprocessing.synchronize.Barrier) -> None:
    """Add 1 to the shared counter ``times`` times, each a locked read-modify-write."""

    async def run() -> None:
        state = Path(directory)
        async with Vault(state / "vault", generated(state)) as vault:
            start.wait()
            for _ in range(times):
                async with vault.locked("counter", "default"):
                    current = await vault.reload("counter", "default") or {"n": 0}
                    await vault.put("counter", "default", {"n": current["n"] + 1})

    asyncio.run(run())


async def test_two_processes_never_lose_an_update_to_the_same_record(tmp_path: Path) -> None:
    await stored(tmp_path, {"counter.default": {"n": 0}})
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(3)
    times = 40
    workers = [
        context.Process(target=_increment, args=(str(tmp_path), times, start)) for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    async with Vault(tmp_path / "vault", generated(tmp_path)) as vault:
        assert await vault.get("counter", "default") == {"n": 3 * times}


# -- rekey ---------------------------------------------------------------------------------------

RECORDS = {f"p{index}.default": {"secret_key": f"sk-rekey-{index}"} for index in range(6)}


async def contents(state: Path, location: KeyLocation) -> dict[str, object]:
    """Every record as a fresh vault opens it, and the problems it found."""
    async with Vault(state / "vault", location) as vault:
        assert vault.unavailable is None, vault.unavailable
        opened: dict[str, object] = {
            f"{p}.{a}": await vault.get(p, a) for p, a in await vault.entries()
        }
        return {**opened, "problems": vault.problems()}


async def test_rekey_reseals_every_record_under_a_new_generated_key(tmp_path: Path) -> None:
    location = await stored(tmp_path, RECORDS)
    old = keyfile.read(location.path)
    done = rekey(tmp_path / "vault", location)
    new = keyfile.read(location.path)
    assert (done.records, done.unreadable, done.kid) == (len(RECORDS), (), new.kid)
    assert new.kid != old.kid
    assert not location.next_path.exists()
    assert {kid_of(p) for p in (tmp_path / "vault").glob("*.rec")} == {new.kid}
    assert await contents(tmp_path, location) == {**RECORDS, "problems": []}
    with pytest.raises(Undecryptable, match="another vault key"):
        unseal({old.kid: old}, "p0.default", (tmp_path / "vault" / "p0.default.rec").read_bytes())


def _rekey_in_a_child(state: Path) -> subprocess.Popen[bytes]:
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from daemon.store import keyfile\nfrom daemon.store.rekey import rekey\n"
        "state = Path(sys.argv[1])\n"
        "rekey(state / 'vault', keyfile.locate({}, state))\n"
    )
    return subprocess.Popen([sys.executable, "-c", code, str(state)], cwd=REPO)  # noqa: S603


def _wait_for(condition: Callable[[], bool], child: subprocess.Popen[bytes]) -> None:
    """Until ``condition`` holds; waiting on the child between checks notices if it exits."""
    for _ in range(1200):
        if condition():
            return
        try:
            child.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"the child exited ({child.returncode}) before the condition held")
    raise AssertionError("the condition never held")


async def test_a_rekey_killed_halfway_loses_nothing_and_a_second_run_finishes_it(
    tmp_path: Path,
) -> None:
    location = await stored(tmp_path, RECORDS)
    old_kid = keyfile.read(location.path).kid
    vault_dir = tmp_path / "vault"
    # Records are re-sealed in name order: holding p3's lock stops the rekey there.
    held = files.open_lock(vault_dir / ".lock-p3.default")
    child = _rekey_in_a_child(tmp_path)
    try:
        _wait_for(lambda: kid_of(vault_dir / "p2.default.rec") != old_kid, child)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        os.close(held)
    pending = keyfile.read(location.next_path)
    kids = [kid_of(vault_dir / f"{name}.rec") for name in RECORDS]
    assert kids == [pending.kid] * 3 + [old_kid] * 3, "killed with half the records re-sealed"

    async with Vault(vault_dir, location) as vault:
        assert vault.health() == (
            "degraded",
            "a rekey was interrupted: run `switchboard vault rekey` again",
        )
    assert await contents(tmp_path, location) == {**RECORDS, "problems": []}

    done = rekey(vault_dir, location)
    assert done.kid == pending.kid == keyfile.read(location.path).kid
    assert not location.next_path.exists()
    assert {kid_of(vault_dir / f"{name}.rec") for name in RECORDS} == {pending.kid}
    assert await contents(tmp_path, location) == {**RECORDS, "problems": []}


async def test_a_rekey_stopped_after_replacing_the_key_makes_a_fresh_key_next_time(
    tmp_path: Path,
) -> None:
    location = await stored(tmp_path, RECORDS)
    location.next_path.write_bytes(location.path.read_bytes())  # only .next left to remove
    before = keyfile.read(location.path).kid
    done = rekey(tmp_path / "vault", location)
    assert done.kid != before
    assert await contents(tmp_path, location) == {**RECORDS, "problems": []}


async def test_a_new_key_file_other_than_the_pending_one_is_refused(tmp_path: Path) -> None:
    location = await stored(tmp_path, RECORDS)
    location.next_path.write_bytes(keyfile.encode(new_key()))
    with pytest.raises(KeyUnavailable, match="without --new-key-file"):
        rekey(tmp_path / "vault", location, key_file(tmp_path / "new-key"))


async def test_rekey_with_a_key_switchboard_does_not_own_needs_a_new_key_file(
    tmp_path: Path,
) -> None:
    old_key = key_file(tmp_path / "old-key")
    old_text = old_key.read_bytes()
    async with Vault(tmp_path / "vault", from_env(old_key)) as vault:
        for name, payload in RECORDS.items():
            await vault.put(name.split(".")[0], "default", payload)
    with pytest.raises(KeyUnavailable, match="--new-key-file"):
        rekey(tmp_path / "vault", from_env(old_key))
    new_file = key_file(tmp_path / "new-key", raw=True)
    done = rekey(tmp_path / "vault", from_env(old_key), new_file)
    assert (done.records, done.key_file, done.kid) == (
        len(RECORDS),
        new_file,
        keyfile.read(new_file).kid,
    )
    assert old_key.read_bytes() == old_text, "the operator's key file is never rewritten"
    assert await contents(tmp_path, from_env(new_file)) == {**RECORDS, "problems": []}


async def test_rekey_never_runs_beside_an_open_vault_nor_a_vault_opens_mid_rekey(
    tmp_path: Path,
) -> None:
    location = await stored(tmp_path, RECORDS)
    key = location.path.read_bytes()
    async with Vault(tmp_path / "vault", location), Vault(tmp_path / "vault", location) as two:
        assert two.unavailable is None, "two daemons may share a vault"
        with pytest.raises(KeyUnavailable, match="open in a running daemon"):
            rekey(tmp_path / "vault", location)
    assert location.path.read_bytes() == key
    assert not location.next_path.exists()

    rekeying = files.open_lock(tmp_path / "vault" / ".in-use")  # what a rekey holds
    try:
        async with Vault(tmp_path / "vault", location) as vault:
            assert vault.unavailable is not None
            assert "`switchboard vault rekey` is re-encrypting" in vault.unavailable
    finally:
        os.close(rekeying)
    assert await contents(tmp_path, location) == {**RECORDS, "problems": []}


async def test_rekey_leaves_temp_files_and_records_set_aside_alone(tmp_path: Path) -> None:
    location = await stored(tmp_path, RECORDS)
    vault_dir = tmp_path / "vault"
    (vault_dir / ".tmp-0123456789ab-p0.default.rec").write_bytes(b"half")
    aside = vault_dir / "p9.default.rec.corrupt-20240101T000000"
    aside.write_bytes(b"kept")
    done = rekey(vault_dir, location)
    assert (done.records, done.unreadable) == (len(RECORDS), ())
    assert aside.read_bytes() == b"kept"
