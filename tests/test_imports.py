"""Start-up stays light: the daemon's modules do not import the browser stack (DESIGN.md §1)."""

from __future__ import annotations

from tests.support.daemon import run_python

HEAVY = (
    "playwright",
    *(
        f"daemon.adapters.{m}"
        for m in (
            "openai_completions",
            "anthropic_messages",
            "openai_responses",
            "google_generative_ai",
        )
    ),
)


def test_importing_the_daemon_does_not_import_playwright() -> None:
    code = (
        "import sys, daemon, daemon.cli, daemon.serve, daemon.app, daemon.client\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_python_dash_m_daemon_is_the_switchboard_command() -> None:
    result = run_python("-m", "daemon", "--help")
    for command in ("serve", "status", "rpc", "stdio", "doctor", "install-systemd"):
        assert command in result.stdout
