"""The credential vault: one encrypted record per provider account, on disk under the state dir.

- A record is ``<provider>.<account>.rec`` (``openai-codex.default.rec``): the name holds no
  e-mail and no secret. Its content is :mod:`daemon.store.crypto`'s envelope around the JSON
  payload, sealed with the record's name as associated data.
- Writes are atomic (:func:`daemon.store.files.write_atomic`) and happen under a per-record
  ``flock`` as well as a per-record asyncio lock, so two daemons, or a CLI and a daemon, never
  interleave a read-modify-write. :meth:`Vault.locked` lets a caller (a token refresh) hold a
  record's lock across a whole network exchange; writes inside it do not lock again.
- Every file operation runs in a thread; reads of a record already read are served from
  memory (the token refresh path re-reads from disk with :meth:`Vault.reload`).
- A record that does not open is moved aside (``<name>.rec.corrupt-<time>``) and reported by
  :meth:`Vault.problems` (``auth.status``, ``daemon.health``); it is never overwritten.
- A vault that cannot be used (no key, a directory that is not writable) does not stop the
  daemon: calls that need it get :class:`~daemon.errors.VaultUnavailable` saying what to fix,
  and everything else keeps working.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import orjson
import structlog

from daemon.errors import RequestInvalid, VaultUnavailable
from daemon.store import files, keyfile
from daemon.store.crypto import Undecryptable, VaultKey, seal, unseal
from daemon.store.keyfile import KeyLocation, KeyUnavailable

log = structlog.get_logger("daemon.store")

SUFFIX = ".rec"
CORRUPT_MARK = ".corrupt-"
LOCK_PREFIX = ".lock-"
DEFAULT_ACCOUNT = "default"
_ACCOUNT = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def record_name(provider: str, account: str) -> str:
    """``provider.account``: the file's stem and the envelope's associated data."""
    if not _ACCOUNT.fullmatch(account):
        raise RequestInvalid(
            "an account is 1-63 lowercase letters, digits, '-' or '_' (a label, not an e-mail)",
            field="account",
        )
    return f"{provider}.{account}"


@dataclass(frozen=True, slots=True)
class Problem:
    """A record set aside because it did not open."""

    record: str
    reason: str
    moved_to: str

    def describe(self) -> dict[str, str]:
        return {"record": self.record, "reason": self.reason, "movedTo": self.moved_to}


class Vault:
    """The encrypted records of one state directory; an async context manager."""

    def __init__(self, directory: Path, location: KeyLocation) -> None:
        self.directory = directory
        self.location = location
        self._keys: dict[str, VaultKey] = {}
        self._write_key: VaultKey | None = None
        self._cache: dict[str, dict[str, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._holders: dict[str, asyncio.Task[Any]] = {}
        self._problems: list[Problem] = []
        self.unavailable: str | None = "not opened"
        self.notes: list[str] = []  # things to tell the operator that do not stop the vault

    async def __aenter__(self) -> Vault:
        try:
            await asyncio.to_thread(self._open)
        except (KeyUnavailable, OSError) as exc:
            reason = exc.reason if isinstance(exc, KeyUnavailable) else _os_reason(exc, self)
            self.unavailable = reason
            log.warning("vault_unavailable", reason=reason)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._cache.clear()

    def _open(self) -> None:
        files.ensure_dir(self.directory)
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise OSError(13, "Permission denied", str(self.directory))
        files.remove_temp_files(self.directory)
        current, following = keyfile.load(self.location)
        self._keys = {key.kid: key for key in (current, following) if key is not None}
        self._write_key = current
        if following is not None:
            self.notes.append("a rekey was interrupted: run `switchboard vault rekey` again")
        if keyfile.too_open(self.location.path):
            self.notes.append(f"{self.location.path} is readable by other users (chmod 600)")
        self._problems = [
            Problem(path.name.split(CORRUPT_MARK)[0], "set aside earlier", str(path))
            for path in sorted(self.directory.glob(f"*{SUFFIX}{CORRUPT_MARK}*"))
        ]
        self.unavailable = None

    # -- reading ------------------------------------------------------------------------------

    async def get(self, provider: str, account: str = DEFAULT_ACCOUNT) -> dict[str, Any] | None:
        """The record's payload (from memory once read); None when there is none."""
        name = record_name(provider, account)
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        return await self.reload(provider, account)

    async def reload(self, provider: str, account: str = DEFAULT_ACCOUNT) -> dict[str, Any] | None:
        """The record's payload as it is on disk now (another process may have changed it)."""
        name = record_name(provider, account)
        self._require()
        payload, problem = await asyncio.to_thread(self._read, name)
        if problem is not None:
            self._problems.append(problem)
            log.warning("vault_record_set_aside", record=name, reason=problem.reason)
        if payload is None:
            self._cache.pop(name, None)
        else:
            self._cache[name] = payload
        return payload

    def _read(self, name: str) -> tuple[dict[str, Any] | None, Problem | None]:
        path = self._path(name)
        envelope = files.read_small(path)
        if envelope is None:
            return None, None
        try:
            payload = orjson.loads(unseal(self._keys, name, envelope))
            if not isinstance(payload, dict):
                raise Undecryptable("not a credential record")
        except (Undecryptable, orjson.JSONDecodeError) as exc:
            reason = exc.reason if isinstance(exc, Undecryptable) else "not a credential record"
            return None, Problem(name, reason, str(files.move_aside(path)))
        return payload, None

    async def entries(self) -> list[tuple[str, str]]:
        """(provider, account) of every record, sorted."""
        self._require()
        names = await asyncio.to_thread(self._names)
        return [(name.rsplit(".", 1)[0], name.rsplit(".", 1)[1]) for name in names]

    def _names(self) -> list[str]:
        return sorted(p.name[: -len(SUFFIX)] for p in self.directory.glob(f"*{SUFFIX}"))

    # -- writing ------------------------------------------------------------------------------

    async def put(self, provider: str, account: str, payload: Mapping[str, Any]) -> None:
        """Replace the record with ``payload``, atomically, under the record's lock."""
        name = record_name(provider, account)
        self._require()
        async with self._record_lock(name):
            await asyncio.to_thread(self._write, name, dict(payload))
        self._cache[name] = dict(payload)

    def _write(self, name: str, payload: dict[str, Any]) -> None:
        assert self._write_key is not None
        envelope = seal(self._write_key, name, orjson.dumps(payload))
        files.write_atomic(self._path(name), envelope)

    async def delete(self, provider: str, account: str = DEFAULT_ACCOUNT) -> bool:
        """Remove the record; True when there was one."""
        name = record_name(provider, account)
        self._require()
        async with self._record_lock(name):
            removed = await asyncio.to_thread(self._unlink, name)
        self._cache.pop(name, None)
        return removed

    def _unlink(self, name: str) -> bool:
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            return False
        files.sync_dir(self.directory)
        return True

    # -- locking ------------------------------------------------------------------------------

    def locked(self, provider: str, account: str = DEFAULT_ACCOUNT) -> Any:
        """Hold the record's lock (in this process and across processes) for a block."""
        self._require()
        return self._record_lock(record_name(provider, account))

    @contextlib.asynccontextmanager
    async def _record_lock(self, name: str) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and self._holders.get(name) is task:
            yield  # already held by this task (a write inside locked())
            return
        async with self._locks.setdefault(name, asyncio.Lock()):
            fd = await _take_flock(self.directory / f"{LOCK_PREFIX}{name}")
            if task is not None:
                self._holders[name] = task
            try:
                yield
            finally:
                self._holders.pop(name, None)
                os.close(fd)

    # -- state --------------------------------------------------------------------------------

    def problems(self) -> list[dict[str, str]]:
        """Records set aside (this run or earlier), for ``auth.status`` and ``daemon.health``."""
        return [problem.describe() for problem in self._problems]

    def health(self) -> tuple[Literal["ready", "degraded", "unavailable"], str]:
        """The vault's part of ``daemon.health``: a status and what it means."""
        if self.unavailable is not None:
            return "unavailable", self.unavailable
        notes = list(self.notes)
        if self._problems:
            notes.append(f"{len(self._problems)} record(s) set aside (see auth.status)")
        if notes:
            return "degraded", "; ".join(notes)
        return "ready", f"{self.directory} (key: {self.location.source})"

    def _require(self) -> None:
        if self.unavailable is not None:
            raise VaultUnavailable(self.unavailable, path=str(self.directory))

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}{SUFFIX}"


async def _take_flock(path: Path) -> int:
    """An exclusive flock on ``path``, taken in a thread; never leaked if we are cancelled."""
    future = asyncio.get_running_loop().run_in_executor(None, files.open_lock, path)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(_close_taken)
        raise


def _close_taken(future: asyncio.Future[int]) -> None:
    if not future.cancelled() and future.exception() is None:
        os.close(future.result())


def _os_reason(exc: OSError, vault: Vault) -> str:
    where = exc.filename or vault.directory
    return f"{where}: {exc.strerror or 'I/O error'} (the state directory must be writable)"
