"""Where the daemon listens: systemd's passed sockets, or a Unix socket it binds, plus TCP.

Binding the Unix socket is guarded by a lock file beside it (``<socket>.lock``, holding the
owner's pid), so two daemons never fight over one path: the second exits with a clear
message. A socket file left by a daemon that died is replaced; one that still answers is not.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from daemon.config import Settings
from daemon.errors import ListenerUnavailable
from daemon.rpc.context import ListenerInfo

SD_LISTEN_FDS_START = 3
BACKLOG = 512  # pending connections; aiohttp's sites are given it too (their default: 128)


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening socket and how daemon.info describes it."""

    sock: socket.socket
    info: ListenerInfo


def systemd_sockets(environ: Mapping[str, str] | None = None) -> list[socket.socket]:
    """Sockets passed by systemd socket activation (``LISTEN_FDS`` for this pid), if any."""
    env = os.environ if environ is None else environ
    if env.get("LISTEN_PID") != str(os.getpid()):
        return []
    count = int(env.get("LISTEN_FDS", "0"))
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)  # not for our children
    sockets = [socket.socket(fileno=SD_LISTEN_FDS_START + i) for i in range(count)]
    for sock in sockets:
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise ListenerUnavailable(
                f"fd {sock.fileno()} from systemd is not a listening socket "
                "(the socket unit must use Accept=no)"
            )
        sock.setblocking(False)
    return sockets


def _describe(sock: socket.socket, activation: Literal["bound", "systemd"]) -> ListenerInfo:
    if sock.family == socket.AF_UNIX:
        path = str(sock.getsockname())
        return {"kind": "unix", "address": path, "auth": "peer-uid", "activation": activation}
    host, port = sock.getsockname()[:2]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return {"kind": "tcp", "address": address, "auth": "bearer", "activation": activation}


def prepare_runtime_dir(path: Path) -> None:
    """Create the socket's directory 0700; refuse one another user could write into."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = path.stat()
    if info.st_uid != os.getuid():
        raise ListenerUnavailable(f"{path} belongs to uid {info.st_uid}, not to this user")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)


def _take_lock(lock_path: Path) -> int:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        serving = lock_path.with_suffix("")
        raise ListenerUnavailable(
            f"another switchboard daemon (pid {owner}) is already serving {serving}"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _clear_stale(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ListenerUnavailable(f"{path} exists and is not a socket; move it away")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
            raise ListenerUnavailable(f"{path}: {exc.strerror}") from None
        path.unlink(missing_ok=True)  # left by a daemon that died
        return
    finally:
        probe.close()
    raise ListenerUnavailable(f"something is already listening on {path} (systemd's socket unit?)")


def bind_unix(path: Path) -> socket.socket:
    """A listening Unix socket at ``path``, created 0600 (no window with wider permissions)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise ListenerUnavailable(f"cannot bind {path}: {exc.strerror}") from None
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


def bind_tcp(host: str, port: int) -> socket.socket:
    """A listening loopback TCP socket."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ListenerUnavailable(f"cannot bind {host}:{port}: {exc.strerror}") from None
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


@contextlib.contextmanager
def open_listeners(settings: Settings) -> Iterator[list[Listener]]:
    """Every socket to serve on; bound sockets and the lock are released on exit."""
    with contextlib.ExitStack() as stack:
        passed = systemd_sockets()
        listeners = [Listener(s, _describe(s, "systemd")) for s in passed]
        if not passed:
            own = _bind_own_unix(settings.socket, stack)
            listeners.append(Listener(own, _describe(own, "bound")))
        if settings.tcp is not None and not any(x.info["kind"] == "tcp" for x in listeners):
            tcp = bind_tcp(*settings.tcp)
            stack.callback(tcp.close)
            listeners.append(Listener(tcp, _describe(tcp, "bound")))
        yield listeners


def _bind_own_unix(path: Path, stack: contextlib.ExitStack) -> socket.socket:
    prepare_runtime_dir(path.parent)
    lock_path = path.with_name(path.name + ".lock")
    lock_fd = _take_lock(lock_path)
    stack.callback(os.close, lock_fd)
    _clear_stale(path)
    sock = bind_unix(path)
    stack.callback(path.unlink, missing_ok=True)
    stack.callback(sock.close)
    return sock
