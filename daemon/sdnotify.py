"""systemd's notify protocol (``Type=notify``): READY, STOPPING, STATUS and the watchdog.

A no-op when ``NOTIFY_SOCKET`` is unset, so the daemon behaves the same outside systemd.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping

from daemon.log import get_logger

log = get_logger("daemon.sdnotify")


class Notifier:
    """Sends ``KEY=value`` datagrams to the socket systemd named in ``NOTIFY_SOCKET``."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # An abstract socket ("@name") is spelled with a leading NUL byte on the wire.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid_ok = env.get("WATCHDOG_PID", str(os.getpid())) == str(os.getpid())
        self.watchdog_interval_s = int(usec) / 2e6 if usec.isdigit() and pid_ok else None
        os.environ.pop("NOTIFY_SOCKET", None)  # not for our children

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def send(self, *fields: str) -> None:
        """Send one state update, e.g. ``send("READY=1", "STATUS=serving")``."""
        if not self._address:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto("\n".join(fields).encode(), self._address)
            except OSError as exc:
                log.warning("sd_notify_failed", error=exc.strerror)

    async def watchdog(self) -> None:
        """Ping systemd's watchdog at half its interval for as long as the loop is alive."""
        if self.watchdog_interval_s is None:
            return
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_interval_s)
