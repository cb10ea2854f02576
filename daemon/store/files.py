"""Files the vault writes: atomic and 0600 from creation, and a cross-process lock.

All of it blocks; the vault calls it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

TEMP_PREFIX = ".tmp-"
TEMP_TOKEN_BYTES = 6
MAX_RECORD_BYTES = 1 << 20


def ensure_dir(path: Path) -> None:
    """``path`` exists as a directory only its owner can enter."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:  # something else has the name
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(path)) from None
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file (0600), fsync, rename, directory fsync.

    A reader (or a crash) sees the old content or the new one, never a part.
    """
    temp = _written_beside(path, data)
    try:
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    sync_dir(path.parent)


def create_exclusive(path: Path, data: bytes) -> bool:
    """Write ``data`` as a new 0600 file; False when ``path`` exists already.

    The file appears whole or not at all (written beside it, then hard-linked into place,
    which fails when another process got there first), so a crash never leaves a
    half-written file that a later start would take as the real one.
    """
    temp = _written_beside(path, data)
    try:
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    sync_dir(path.parent)
    return True


def _written_beside(path: Path, data: bytes) -> Path:
    """A new 0600 temp file next to ``path`` holding ``data``, on disk (fsync'd)."""
    temp = _temp_path(path)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    return temp


def _temp_path(path: Path) -> Path:
    return path.with_name(f"{TEMP_PREFIX}{secrets.token_hex(TEMP_TOKEN_BYTES)}-{path.name}")


def temp_target(name: str) -> str | None:
    """The name of the file a temp file of :func:`write_atomic` was to replace, if it is one."""
    if not name.startswith(TEMP_PREFIX):
        return None
    token, dash, target = name[len(TEMP_PREFIX) :].partition("-")
    return target if dash and len(token) == 2 * TEMP_TOKEN_BYTES and target else None


def sync_dir(path: Path) -> None:
    """fsync a directory, so a rename or unlink in it survives a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_small(path: Path) -> bytes | None:
    """The file's bytes (at most a record's size); None when it does not exist."""
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_RECORD_BYTES + 1)
    except FileNotFoundError:
        return None


def move_aside(path: Path) -> Path:
    """Rename ``path`` to ``<name>.corrupt-<UTC time>``, never over an existing file."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for attempt in range(100):
        target = path.with_name(f"{path.name}.corrupt-{stamp}" + (f"-{attempt}" if attempt else ""))
        try:
            os.link(path, target)
        except FileExistsError:
            continue
        path.unlink()
        sync_dir(path.parent)
        return target
    raise OSError(f"cannot move {path.name} aside")


def remove_temp_files(directory: Path, lock_for: Callable[[str], Path]) -> list[str]:
    """Drop the temp files a crash left behind (never records); the names dropped.

    A temp file is only a leftover when nobody is writing it: its target's lock
    (``lock_for(target name)``) is taken without waiting first, so a write in flight in
    another process (which holds that lock) keeps its temp file.
    """
    removed = []
    for leftover in sorted(directory.glob(f"{TEMP_PREFIX}*")):
        target = temp_target(leftover.name)
        fd = try_lock(lock_for(target)) if target else None
        if target and fd is None:
            continue  # being written right now
        try:
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
                removed.append(leftover.name)
        finally:
            if fd is not None:
                os.close(fd)
    return removed


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created 0600) for the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def try_lock(path: Path, shared: bool = False) -> int | None:
    """A ``flock`` on ``path`` (exclusive, or shared with other shared holders) if it can be
    had now: the fd (close it to release), else None."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_lock(path: Path) -> int:
    """Take an exclusive ``flock`` on ``path``; the caller closes the fd to release it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd
