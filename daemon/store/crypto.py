"""Sealing vault records: AES-256-GCM. The only module that imports ``cryptography``.

An envelope is the JSON object ``{"v": 1, "kid": ..., "nonce": ..., "ct": ...}``. The record's
name (e.g. ``openai-codex.default``) is the associated data, so a record copied or renamed to
another name no longer opens. ``kid`` names the key without revealing it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
VERSION = 1


class Undecryptable(Exception):
    """A record that does not open; ``reason`` says why in words a person can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VaultKey:
    """A vault key, its public id, and the file it came from (never its bytes in a repr)."""

    secret: bytes = field(repr=False)
    source: Path | None = None
    kid: str = field(init=False)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise ValueError(f"a vault key is {KEY_BYTES} bytes")
        digest = hashlib.sha256(b"switchboard-vault-kid\0" + self.secret).hexdigest()
        object.__setattr__(self, "kid", digest[:16])


def new_key(source: Path | None = None) -> VaultKey:
    """A fresh random key."""
    return VaultKey(AESGCM.generate_key(bit_length=KEY_BYTES * 8), source)


def seal(key: VaultKey, name: str, plaintext: bytes) -> bytes:
    """The envelope holding ``plaintext`` as record ``name``."""
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(key.secret).encrypt(nonce, plaintext, name.encode())
    envelope = {
        "v": VERSION,
        "kid": key.kid,
        "nonce": base64.b64encode(nonce).decode(),
        "ct": base64.b64encode(ciphertext).decode(),
    }
    return json.dumps(envelope).encode()


def unseal(keys: Mapping[str, VaultKey], name: str, envelope: bytes) -> bytes:
    """The plaintext of record ``name``; Undecryptable says why it cannot be had."""
    version, kid, nonce, ciphertext = _parse(envelope)
    if version != VERSION:
        raise Undecryptable(f"written by another version (v{version})")
    key = keys.get(kid)
    if key is None:
        raise Undecryptable(f"sealed with another vault key (key id {kid})")
    try:
        return AESGCM(key.secret).decrypt(nonce, ciphertext, name.encode())
    except (InvalidTag, ValueError):
        raise Undecryptable("tampered, or renamed from another record") from None


def _parse(envelope: bytes) -> tuple[int, str, bytes, bytes]:
    """The envelope's fields, each of the type it must have (JSON allows anything)."""
    try:
        parsed = json.loads(envelope)
        version, kid = parsed["v"], parsed["kid"]
        if type(version) is not int or not isinstance(kid, str):  # bool is an int subclass
            raise TypeError
        nonce = base64.b64decode(parsed["nonce"], validate=True)
        ciphertext = base64.b64decode(parsed["ct"], validate=True)
    except (ValueError, KeyError, TypeError):
        raise Undecryptable("truncated or not a vault record") from None
    return version, _printable(kid), nonce, ciphertext


def _printable(kid: str) -> str:
    """A kid as it may appear in a reason: short, hex only (the file could say anything)."""
    return kid if len(kid) <= 64 and all(c in "0123456789abcdef" for c in kid) else "unknown"
