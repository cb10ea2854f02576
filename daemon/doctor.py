"""``switchboard doctor``: check the set-up and say, for each problem, what to do."""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from daemon.config import Settings
from daemon.errors import DaemonError


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class Finding:
    verdict: Verdict
    what: str
    fix: str = ""


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _private_dir(path: Path, label: str) -> Finding:
    try:
        info = path.stat()
    except FileNotFoundError:
        return Finding(
            Verdict.WARN, f"{label} {path} does not exist yet", "it is made on first start"
        )
    if info.st_uid != os.getuid():
        return Finding(
            Verdict.FAIL, f"{label} {path} belongs to uid {info.st_uid}", f"remove {path}"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        return Finding(Verdict.FAIL, f"{label} {path} is open to other users", f"chmod 700 {path}")
    return Finding(Verdict.OK, f"{label} {path} (0700, yours)")


def check_config(settings: Settings) -> Finding:
    where = settings.config_path or "none (built-in defaults)"
    return Finding(Verdict.OK, f"config {where} is valid")


def check_socket(settings: Settings) -> list[Finding]:
    findings = [_private_dir(settings.socket.parent, "socket directory")]
    path = settings.socket
    try:
        info = path.lstat()
    except FileNotFoundError:
        return [
            *findings,
            Finding(
                Verdict.WARN,
                f"no socket at {path}: the daemon is not running",
                "start it: switchboard serve (or make run, or systemd)",
            ),
        ]
    if not stat.S_ISSOCK(info.st_mode):
        return [*findings, Finding(Verdict.FAIL, f"{path} is not a socket", f"move {path} away")]
    if stat.S_IMODE(info.st_mode) & 0o077:
        findings.append(
            Finding(Verdict.FAIL, f"socket {path} is open to others", f"chmod 600 {path}")
        )
    return [*findings, _check_answer(settings)]


def _check_answer(settings: Settings) -> Finding:
    from daemon.cli import run
    from daemon.client import Client

    async def ask() -> dict[str, object]:
        async with Client(settings.socket) as daemon:
            info: dict[str, object] = await daemon.call("daemon.info")
            return info

    try:
        info = run(ask())
    except DaemonError:
        return Finding(
            Verdict.FAIL,
            f"{settings.socket} exists but no daemon answers",
            "a daemon died: start it again (the stale socket is replaced)",
        )
    return Finding(Verdict.OK, f"daemon {info['version']} answers (pid {info['pid']})")


def check_chromium(settings: Settings) -> Finding:
    configured = settings.sections.get("bridges", {}).get("browser")
    candidates = [configured] if configured else [shutil.which(n) for n in CHROMIUM_NAMES]
    found = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    if found:
        return Finding(Verdict.OK, f"Chromium for website bridges: {found}")
    return Finding(
        Verdict.WARN,
        "no Chromium found: website bridges (chat.z.ai, chat.qwen.ai) are off",
        "install it (Debian: apt-get install chromium) or set [bridges].browser",
    )


def check_vault(settings: Settings) -> list[Finding]:
    """Where the vault key comes from, whether it reads, and records set aside."""
    from daemon.store import keyfile
    from daemon.store.vault import CORRUPT_MARK

    location = keyfile.locate(os.environ, settings.state_dir)
    if not location.path.exists():
        if location.writable:
            return [Finding(Verdict.OK, f"vault key {location.path} is made on first start")]
        return [
            Finding(
                Verdict.FAIL,
                f"vault key {location.path} ({location.source}) does not exist",
                "create it (head -c 32 /dev/urandom | base64 > FILE) or fix the setting",
            )
        ]
    try:
        key = keyfile.read(location.path)
    except keyfile.KeyUnavailable as exc:
        return [Finding(Verdict.FAIL, exc.reason, "restore the key file from your backup")]
    findings = [
        Finding(Verdict.OK, f"vault key {key.kid} from {location.path} ({location.source})")
    ]
    if keyfile.too_open(location.path):
        findings.append(
            Finding(
                Verdict.FAIL, f"{location.path} is open to others", f"chmod 600 {location.path}"
            )
        )
    aside = sorted((settings.state_dir / "vault").glob(f"*{CORRUPT_MARK}*"))
    if aside:
        findings.append(
            Finding(
                Verdict.WARN,
                f"{len(aside)} vault record(s) set aside, e.g. {aside[0]}",
                "log in again (switchboard login PROVIDER), or restore the key they were "
                "sealed with and move the file back",
            )
        )
    return findings


def doctor(settings: Settings) -> int:
    """Print every finding; exit 1 when any is a failure."""
    findings = [
        check_config(settings),
        *check_socket(settings),
        _private_dir(settings.state_dir, "state directory"),
        *check_vault(settings),
        check_chromium(settings),
    ]
    for finding in findings:
        print(f"[{finding.verdict:>4}] {finding.what}")
        if finding.fix and finding.verdict is not Verdict.OK:
            print(f"       fix: {finding.fix}")
    return 1 if any(f.verdict is Verdict.FAIL for f in findings) else 0
