"""``switchboard install-systemd``: write the user units with this installation's ExecStart."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import TextIO

UNITS = ("switchboard.socket", "switchboard.service")
_REPO_UNITS = Path(__file__).resolve().parent.parent / "systemd"


def unit_dir() -> Path:
    """``$XDG_CONFIG_HOME/systemd/user``, where systemd looks for a user's own units."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def exec_start() -> str:
    """The command line that runs this very installation's daemon."""
    return f"{shlex.quote(sys.executable)} -m daemon serve"


def unit_text(name: str) -> str:
    """The unit file ``name`` as it will be installed (ExecStart pointing here)."""
    template = (_REPO_UNITS / name) if (_REPO_UNITS / name).is_file() else None
    text = (
        template.read_text()
        if template
        else resources.files("daemon").joinpath("units", name).read_text()
    )
    lines = [
        f"ExecStart={exec_start()}" if line.startswith("ExecStart=") else line
        for line in text.splitlines()
    ]
    return "\n".join(lines) + "\n"


def _say(line: str, stream: TextIO | None = None) -> None:
    """One line of the command's output (stdout unless ``stream`` says otherwise)."""
    (stream or sys.stdout).write(line + "\n")


def install(directory: Path | None = None, *, enable: bool = False) -> int:
    """Write both units; with ``enable``, reload systemd and start the socket."""
    target = directory or unit_dir()
    target.mkdir(parents=True, exist_ok=True)
    for name in UNITS:
        (target / name).write_text(unit_text(name))
        _say(f"wrote {target / name}")
    commands = [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", "switchboard.socket"],
    ]
    if not enable:
        _say("to start it on demand from now on:")
        for command in commands:
            _say("  " + " ".join(command))
        return 0
    if shutil.which("systemctl") is None:
        _say("systemctl not found: is this a systemd system?", sys.stderr)
        return 1
    for command in commands:
        if subprocess.run(command, check=False).returncode != 0:  # noqa: S603 - fixed argv
            _say(f"failed: {' '.join(command)}", sys.stderr)
            return 1
    return 0
