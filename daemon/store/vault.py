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
- Every record is opened once when the vault opens, so ``daemon.health`` knows at start what
  it cannot read. A record that does not open (tampered, truncated, another key, another
  version) is moved aside (``<name>.rec.corrupt-<time>``, its bytes untouched) under the
  record's lock and reported by :meth:`Vault.problems` (``auth.status``, ``daemon.health``).
  A write never replaces such a record: it is set aside first.
- An open vault holds a shared ``flock`` on ``.in-use``; ``switchboard vault rekey`` takes it
  exclusively, so it never runs beside a daemon, nor a daemon opens the vault mid-rekey.
- Temp files a crash left are removed on open, unless their record's lock is held (another
  process is writing it); names starting with a dot are never records.
- A vault that cannot be used (no key, a directory that is not writable) does not stop the
  daemon: calls that need it get :class:`~daemon.errors.VaultUnavailable` saying what to fix,
  and everything else keeps working. A file operation that fails later (a full disk, the
  directory gone) is the same typed error for that call, and loses nothing on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

import orjson
import structlog

from daemon.errors import RequestInvalid, VaultUnavailable
from daemon.store import files, keyfile
from daemon.store.crypto import Undecryptable, VaultKey, seal, unseal
from daemon.store.keyfile import KeyLocation, KeyUnavailable

log = structlog.get_logger("daemon.store")
T = TypeVar("T")

SUFFIX = ".rec"
CORRUPT_MARK = ".corrupt-"
LOCK_PREFIX = ".lock-"
IN_USE = ".in-use"  # flock'd shared by every open vault, exclusively by a rekey
DEFAULT_ACCOUNT = "default"
_ACCOUNT = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_PROVIDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # config may name new providers
_RECORD = re.compile(rf"{_PROVIDER.pattern}\.{_ACCOUNT.pattern}")


@functools.lru_cache(maxsize=1024)  # asked on every call; the same few names each time
def record_name(provider: str, account: str) -> str:
    """``provider.account``: the file's stem and the envelope's associated data."""
    if not _ACCOUNT.fullmatch(account):
        raise RequestInvalid(
            "an account is 1-63 lowercase letters, digits, '-' or '_' (a label, not an e-mail)",
            field="account",
        )
    if not _PROVIDER.fullmatch(provider):  # never a path out of the vault directory
        raise RequestInvalid(
            "a provider id that can name a vault record is letters, digits, '.', '-' or '_'",
            field="provider",
        )
    return f"{provider}.{account}"


def record_names(directory: Path) -> list[str]:
    """The records in ``directory``, sorted: ``provider.account.rec`` files, not temp files
    (pathlib's ``*`` matches dot files too) nor anything else someone left there."""
    names = (path.name.removesuffix(SUFFIX) for path in directory.glob(f"*{SUFFIX}"))
    return sorted(name for name in names if _RECORD.fullmatch(name))


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
        # None marks a record known to be absent: a provider with no login is asked on every call,
        # and going to disk each time was a sixth of the daemon's work per request.
        self._cache: dict[str, dict[str, Any] | None] = {}
        self.changes = 0  # grows with every record memory learns (credentials are memoized by it)
        self._locks: dict[str, asyncio.Lock] = {}
        self._holders: dict[str, asyncio.Task[Any]] = {}
        self._problems: list[Problem] = []
        self.unavailable: str | None = "not opened"
        self.notes: list[str] = []  # things to tell the operator that do not stop the vault
        self._in_use: int | None = None

    async def __aenter__(self) -> Vault:
        try:
            await asyncio.to_thread(self._open)
            for name in await self._io(self._names):
                await self._load(name)
        except (KeyUnavailable, OSError, VaultUnavailable) as exc:
            self.unavailable = _reason(exc, self)
            log.warning("vault_unavailable", reason=self.unavailable)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._cache.clear()
        if self._in_use is not None:
            os.close(self._in_use)
            self._in_use = None

    def _open(self) -> None:
        files.ensure_dir(self.directory)
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise OSError(13, "Permission denied", str(self.directory))
        self._in_use = files.try_lock(self.directory / IN_USE, shared=True)
        if self._in_use is None:
            raise VaultUnavailable(
                f"`switchboard vault rekey` is re-encrypting {self.directory}: restart the "
                "daemon when it has finished"
            )
        current, following = keyfile.load(self.location, len(self._names()))
        self._keys = {key.kid: key for key in (current, following) if key is not None}
        self._write_key = current
        if following is not None:
            self.notes.append("a rekey was interrupted: run `switchboard vault rekey` again")
        if keyfile.too_open(self.location.path):
            self.notes.append(f"{self.location.path} is readable by other users (chmod 600)")
        files.remove_temp_files(self.directory, self._lock_of_file)
        self._problems = [
            Problem(
                path.name.split(CORRUPT_MARK)[0].removesuffix(SUFFIX),
                "set aside earlier",
                str(path),
            )
            for path in sorted(self.directory.glob(f"*{SUFFIX}{CORRUPT_MARK}*"))
        ]
        self.unavailable = None

    # -- reading ------------------------------------------------------------------------------

    async def get(self, provider: str, account: str = DEFAULT_ACCOUNT) -> dict[str, Any] | None:
        """The record's payload (from memory once read); None when there is none.

        Records are written through this object, so memory follows every change this daemon
        makes; ``reload`` reads what another process may have changed."""
        name = record_name(provider, account)
        try:
            return self._cache[name]
        except KeyError:
            return await self.reload(provider, account)

    async def reload(self, provider: str, account: str = DEFAULT_ACCOUNT) -> dict[str, Any] | None:
        """The record's payload as it is on disk now (another process may have changed it)."""
        name = record_name(provider, account)
        self._require()
        return await self._load(name)

    async def _load(self, name: str) -> dict[str, Any] | None:
        envelope = await self._io(files.read_small, self._path(name))
        payload = None
        if envelope is not None:
            try:
                payload = self._unseal(name, envelope)
            except Undecryptable:
                payload = await self._set_aside(name)
        self._cache[name] = payload
        self.changes += 1
        return payload

    def _unseal(self, name: str, envelope: bytes) -> dict[str, Any]:
        try:
            payload = orjson.loads(unseal(self._keys, name, envelope))
        except orjson.JSONDecodeError:
            raise Undecryptable("not a credential record") from None
        if not isinstance(payload, dict):
            raise Undecryptable("not a credential record")
        return payload

    async def _set_aside(self, name: str) -> dict[str, Any] | None:
        """Read the record again under its lock and move it aside if it still does not open
        (another process may have rewritten it meanwhile: then that is the record)."""
        async with self._record_lock(name):
            payload, problem = await self._io(self._set_aside_locked, name)
        if problem is not None:
            self._report(problem)
        return payload

    def _set_aside_locked(self, name: str) -> tuple[dict[str, Any] | None, Problem | None]:
        path = self._path(name)
        envelope = files.read_small(path)
        if envelope is None:
            return None, None
        try:
            return self._unseal(name, envelope), None
        except Undecryptable as exc:
            return None, Problem(name, exc.reason, str(files.move_aside(path)))

    def _report(self, problem: Problem) -> None:
        self._problems.append(problem)
        log.warning("vault_record_set_aside", record=problem.record, reason=problem.reason)

    async def entries(self) -> list[tuple[str, str]]:
        """(provider, account) of every record, sorted."""
        self._require()
        names = await self._io(self._names)
        return [(name.rsplit(".", 1)[0], name.rsplit(".", 1)[1]) for name in names]

    def _names(self) -> list[str]:
        return record_names(self.directory)

    # -- writing ------------------------------------------------------------------------------

    async def put(self, provider: str, account: str, payload: Mapping[str, Any]) -> None:
        """Replace the record with ``payload``, atomically, under the record's lock."""
        name = record_name(provider, account)
        self._require()
        async with self._record_lock(name):
            problem = await self._io(self._write, name, dict(payload))
        if problem is not None:
            self._report(problem)
        self._cache[name] = dict(payload)
        self.changes += 1

    def _write(self, name: str, payload: dict[str, Any]) -> Problem | None:
        """Under the record's lock; a record there that does not open is set aside first."""
        assert self._write_key is not None
        path, problem = self._path(name), None
        existing = files.read_small(path)
        if existing is not None:
            try:
                self._unseal(name, existing)
            except Undecryptable as exc:
                problem = Problem(name, exc.reason, str(files.move_aside(path)))
        files.write_atomic(path, seal(self._write_key, name, orjson.dumps(payload)))
        return problem

    async def delete(self, provider: str, account: str = DEFAULT_ACCOUNT) -> bool:
        """Remove the record; True when there was one."""
        name = record_name(provider, account)
        self._require()
        async with self._record_lock(name):
            removed = await self._io(self._unlink, name)
        self._cache[name] = None
        self.changes += 1
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
            with self._os_errors():
                fd = await _take_flock(self._lock_of(name))
            if task is not None:
                self._holders[name] = task
            try:
                yield
            finally:
                self._holders.pop(name, None)
                os.close(fd)

    def _lock_of(self, name: str) -> Path:
        return self.directory / f"{LOCK_PREFIX}{name}"

    def _lock_of_file(self, file_name: str) -> Path:
        return self._lock_of(file_name.removesuffix(SUFFIX))

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

    async def _io(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` in a thread; a failing file operation is VaultUnavailable."""
        with self._os_errors():
            return await asyncio.to_thread(work, *args)

    @contextlib.contextmanager
    def _os_errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            reason = _reason(exc, self)
            log.warning("vault_io_failed", reason=reason)
            raise VaultUnavailable(reason, path=str(self.directory)) from None


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


def _reason(exc: KeyUnavailable | OSError | VaultUnavailable, vault: Vault) -> str:
    if isinstance(exc, KeyUnavailable):
        return exc.reason
    if isinstance(exc, VaultUnavailable):
        return exc.detail or exc.message
    where = exc.filename or vault.directory
    return f"{where}: {exc.strerror or 'I/O error'} (the vault needs a directory it can write)"
