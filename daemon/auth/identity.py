"""Who this daemon says it is to authorization servers that want to know (kimi's X-Msh headers).

Login rows carry header *templates* (``{device_id}``, ``{version}``, ...); the values come from
here, once per daemon start. The device id is random, created on first use and kept (0600) in
the state dir, so a provider sees one device across restarts, as with its own CLI.
"""

from __future__ import annotations

import platform
import secrets
from pathlib import Path

from daemon import __version__
from daemon.store import files

DEVICE_ID_FILE = "device-id"


def client_identity(state_dir: Path) -> dict[str, str]:
    """The values login header templates may name. Blocking (reads or creates a file)."""
    return {
        "device_id": _device_id(state_dir / DEVICE_ID_FILE),
        "version": __version__,
        "hostname": platform.node() or "localhost",
        "machine": platform.machine() or "unknown",
        "system": platform.system() or "unknown",
        "os_version": platform.release() or "unknown",
    }


def _device_id(path: Path) -> str:
    try:
        files.ensure_dir(path.parent)
        files.create_exclusive(path, secrets.token_hex(16).encode())
        text = path.read_text().strip()
    except OSError:  # an unusable state dir (daemon.health says so): one id for this run
        text = ""
    return text or secrets.token_hex(16)
