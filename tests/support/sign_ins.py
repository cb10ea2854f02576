"""Signing a test daemon in to login-bound families the way a person would: by importing the
credential files their official CLIs wrote (``auth.oauth.import``).

:func:`login_home` writes each wire's file into a home directory and returns the environment
that makes the daemon look there; :func:`import_logins` imports them through the daemon;
:func:`signed_in_daemon` does both around a daemon's whole life.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from daemon.client import Client
from tests.fakes.families.wire import Wire
from tests.support.daemon import DaemonProcess, running_daemon


def login_home(home: Path, wires: Iterable[Wire], base_url: str) -> dict[str, str]:
    """Each login-bound wire's official CLI file under ``home`` (for the fake at ``base_url``);
    the daemon's environment that makes ``home`` where the CLIs keep them."""
    for wire in wires:
        if wire.sign_in is None:
            continue
        path = home / wire.sign_in.file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(wire.sign_in.content(base_url)))
    # Copilot's files live under XDG_CONFIG_HOME; codex's and kimi's under CODEX_HOME and
    # KIMI_SHARE_DIR when those are set: empty means the default under HOME.
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "CODEX_HOME": "",
        "KIMI_SHARE_DIR": "",
    }


async def import_logins(process: DaemonProcess, wires: Iterable[Wire]) -> None:
    """Every login-bound wire's login, imported from the file :func:`login_home` wrote."""
    async with Client(process.socket) as client:
        for wire in wires:
            if wire.sign_in is None:
                continue
            answer = await client.call("auth.oauth.import", {"provider": wire.provider})
            assert (answer["imported"], answer["kind"]) == (True, "oauth"), answer


@contextlib.contextmanager
def signed_in_daemon(
    home: Path, wires: Sequence[Wire], base_url: str, config: str
) -> Iterator[DaemonProcess]:
    """A daemon with ``config`` whose ``$HOME`` is ``home``, signed in to every login-bound
    wire of ``wires`` (served at ``base_url``) by importing its CLI's file."""
    env = login_home(home, wires, base_url)
    with running_daemon(config=config, env=env) as process:
        asyncio.run(import_logins(process, wires))
        yield process
