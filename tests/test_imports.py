"""Start-up stays light: the daemon's modules do not import the browser stack (DESIGN.md §1)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.daemon import REPO

HEAVY = ("playwright",)


def test_importing_the_daemon_does_not_import_playwright() -> None:
    code = (
        "import sys, daemon, daemon.cli, daemon.serve, daemon.app, daemon.client\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_python_dash_m_daemon_is_the_switchboard_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "daemon", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("serve", "status", "rpc", "stdio", "doctor", "install-systemd"):
        assert command in result.stdout
