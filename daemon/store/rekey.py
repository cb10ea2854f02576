"""``switchboard vault rekey``: every record re-encrypted under a new key, safe to interrupt.

With the generated key (``<state dir>/vault-key``) the new key is written beside it as
``vault-key.next`` first, then each record is re-sealed under it (atomically, under the
record's lock), and only then does ``vault-key.next`` replace ``vault-key``. Until that last
rename the vault opens records sealed with either key, so a rekey cut short loses nothing;
running it again finishes the job with the same next key.

With a key from systemd or ``SWITCHBOARD_VAULT_KEY_FILE`` the daemon may not rewrite the key
file: the new key is read from ``new_key_file`` and the operator points the configuration at
it afterwards. Blocking; the daemon must not be running: the CLI asks the daemon on its
socket, and every open vault holds a shared lock on ``<vault>/.in-use`` that a rekey must
take exclusively, so a daemon on another socket (or another rekey) is refused too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from daemon.store import files, keyfile
from daemon.store.crypto import Undecryptable, VaultKey, new_key, seal, unseal
from daemon.store.keyfile import KeyLocation, KeyUnavailable
from daemon.store.vault import IN_USE, LOCK_PREFIX, SUFFIX, record_names


@dataclass(frozen=True, slots=True)
class Rekeyed:
    """What a rekey did."""

    records: int  # re-sealed under the new key
    unreadable: tuple[str, ...]  # left as they were: they open with no key we hold
    key_file: Path  # where the new key is now (or must be pointed at)
    kid: str


def rekey(directory: Path, location: KeyLocation, new_key_file: Path | None = None) -> Rekeyed:
    """Re-seal every record of ``directory`` under a new key; KeyUnavailable says why not
    (among other things: a daemon, or another rekey, has the vault open)."""
    files.ensure_dir(directory)
    alone = files.try_lock(directory / IN_USE)
    if alone is None:
        raise KeyUnavailable(
            f"{directory} is open in a running daemon (or another rekey): stop it first",
            directory,
        )
    try:
        return _rekey(directory, location, new_key_file)
    finally:
        os.close(alone)


def _rekey(directory: Path, location: KeyLocation, new_key_file: Path | None) -> Rekeyed:
    current, pending = keyfile.load(location, len(record_names(directory)))
    if pending is not None and pending.kid == current.kid:
        pending = None  # the last rekey replaced the key and stopped before removing .next
    target = _target(location, pending, new_key_file)
    keys = {key.kid: key for key in (current, pending, target) if key is not None}
    done: list[str] = []
    unreadable: list[str] = []
    for name in record_names(directory):
        if _reseal(directory, directory / f"{name}{SUFFIX}", name, keys, target):
            done.append(name)
        else:
            unreadable.append(name)
    if location.writable:
        files.write_atomic(location.path, keyfile.encode(target))
        location.next_path.unlink(missing_ok=True)
        files.sync_dir(location.path.parent)
    return Rekeyed(len(done), tuple(unreadable), new_key_file or location.path, target.kid)


def _target(location: KeyLocation, pending: VaultKey | None, new_key_file: Path | None) -> VaultKey:
    if not location.writable:
        if new_key_file is None:
            raise KeyUnavailable(
                f"the vault key comes from {location.path} ({location.source}), which switchboard "
                "does not rewrite: create a new key file and pass it with --new-key-file",
                location.path,
            )
        return keyfile.read(new_key_file)
    given = keyfile.read(new_key_file) if new_key_file else None
    if pending is not None:  # an interrupted rekey: finish it with the same key
        if given is not None and given.kid != pending.kid:
            raise KeyUnavailable(
                f"an interrupted rekey to the key in {location.next_path} is not finished: run "
                "`switchboard vault rekey` without --new-key-file first",
                location.next_path,
            )
        return pending
    target = given or new_key()
    files.write_atomic(location.next_path, keyfile.encode(target))
    return target


def _reseal(
    directory: Path, path: Path, name: str, keys: dict[str, VaultKey], target: VaultKey
) -> bool:
    with files.exclusive_lock(directory / f"{LOCK_PREFIX}{name}"):
        envelope = files.read_small(path)
        if envelope is None:  # deleted meanwhile
            return True
        try:
            plaintext = unseal(keys, name, envelope)
        except Undecryptable:
            return False
        files.write_atomic(path, seal(target, name, plaintext))
    return True
