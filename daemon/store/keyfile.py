"""Where the vault key comes from, in DESIGN.md's order, and how it is written.

1. ``$CREDENTIALS_DIRECTORY/vault-key``: systemd's ``LoadCredential=vault-key:PATH``;
2. ``$SWITCHBOARD_VAULT_KEY_FILE``;
3. ``<state dir>/vault-key``, created (0600, exclusively, so two daemons starting at once
   agree on one key) the first time the daemon starts.

A key file holds the 32 key bytes, raw or base64 (the generated one is base64 text, so it can
be copied into a password manager). A rekey writes the next key beside the current one as
``<key file>.next`` before it touches any record; records sealed with either open, so a rekey
cut short loses nothing and simply runs again.

Blocking: the vault calls these through ``asyncio.to_thread``.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from daemon.store import files
from daemon.store.crypto import KEY_BYTES, VaultKey, new_key

CREDENTIAL_NAME = "vault-key"
ENV_KEY_FILE = "SWITCHBOARD_VAULT_KEY_FILE"
NEXT_SUFFIX = ".next"


class KeyUnavailable(Exception):
    """The key cannot be had; ``reason`` says what to fix (it names files, never bytes)."""

    def __init__(self, reason: str, path: Path | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


@dataclass(frozen=True, slots=True)
class KeyLocation:
    """The key file in use, and whether the daemon may write it (only the generated one)."""

    path: Path
    source: str  # "systemd", "env" or "generated"

    @property
    def writable(self) -> bool:
        return self.source == "generated"

    @property
    def next_path(self) -> Path:
        return self.path.with_name(self.path.name + NEXT_SUFFIX)


def locate(environ: Mapping[str, str], state_dir: Path) -> KeyLocation:
    """Which key file this daemon uses."""
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / CREDENTIAL_NAME).exists():
        return KeyLocation(Path(credentials) / CREDENTIAL_NAME, "systemd")
    if environ.get(ENV_KEY_FILE):
        return KeyLocation(Path(environ[ENV_KEY_FILE]).expanduser(), "env")
    return KeyLocation(state_dir / CREDENTIAL_NAME, "generated")


def load(location: KeyLocation, records: int = 0) -> tuple[VaultKey, VaultKey | None]:
    """The current key (created when it is the generated one and absent) and a pending
    next key of an unfinished rekey, if any.

    ``records`` is how many records the vault holds: a generated key is only created for an
    empty vault, since a new key would open none of them (the old one was lost or moved).
    """
    if location.writable and not location.path.exists():
        if records:
            raise KeyUnavailable(
                f"the vault key file {location.path} is gone but {records} record(s) were "
                "sealed with it: put it back (or move the records away to start afresh)",
                location.path,
            )
        files.ensure_dir(location.path.parent)
        files.create_exclusive(location.path, encode(new_key()))
    current = read(location.path)
    following = read(location.next_path) if location.next_path.exists() else None
    return current, following


def read(path: Path) -> VaultKey:
    """The key in ``path``; KeyUnavailable says why not."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KeyUnavailable(f"the vault key file {path} does not exist", path) from None
    except OSError as exc:
        reason = f"the vault key file {path} cannot be read ({exc.strerror})"
        raise KeyUnavailable(reason, path) from None
    return VaultKey(_decode(raw, path), path)


def _decode(raw: bytes, path: Path) -> bytes:
    if len(raw) == KEY_BYTES:
        return raw
    try:
        decoded = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != KEY_BYTES:
        raise KeyUnavailable(
            f"the vault key file {path} must hold {KEY_BYTES} bytes, raw or base64", path
        )
    return decoded


def encode(key: VaultKey) -> bytes:
    """A key as the text of a key file."""
    return base64.b64encode(key.secret) + b"\n"


def too_open(path: Path) -> bool:
    """True when users other than the owner may read the key file."""
    try:
        return bool(stat.S_IMODE(os.stat(path).st_mode) & 0o077)
    except OSError:
        return False
