"""Where secrets must never be: files under a directory, log text, answers."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def files_holding(root: Path, secrets: Iterable[str]) -> list[str]:
    """Files under ``root`` whose bytes contain any of ``secrets`` (as ``path: secret#``)."""
    wanted = [(index, secret.encode()) for index, secret in enumerate(secrets) if secret]
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        found += [f"{path}: secret #{index}" for index, secret in wanted if secret in data]
    return found


def any_file(root: Path) -> bool:
    """True when ``root`` holds at least one regular file."""
    return any(path.is_file() for path in root.rglob("*"))
