"""Where secrets must never be: files under a directory, log text, answers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.support.daemon import DaemonProcess


def files_holding(root: Path, secrets: Iterable[str]) -> list[str]:
    """Files under ``root`` whose bytes contain any of ``secrets`` (as ``path: secret#``)."""
    wanted = [(index, secret.encode()) for index, secret in enumerate(secrets) if secret]
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        found += [f"{path}: secret #{index}" for index, secret in wanted if secret in data]
    return found


def any_file(root: Path) -> bool:
    """True when ``root`` holds at least one regular file."""
    return any(path.is_file() for path in root.rglob("*"))


def issued_secrets(fake: Any) -> list[str]:
    """Every secret a FakeOAuth handed out or was sent: tokens, authorization codes, device
    codes, and the PKCE verifiers the daemon presented (user codes are meant to be shown)."""
    with fake.lock:
        found = [*fake.store.tokens, *fake.store.codes, *fake.devices.grants]
        for request in fake.received:
            body = request.body if isinstance(request.body, dict) else {}
            found += [str(body[k]) for k in ("code_verifier", "code") if body.get(k)]
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith(("token ", "bearer ")):
                found.append(auth.split(" ", 1)[1])
    return sorted({secret for secret in found if len(secret) >= 8})


def assert_nothing_leaked(
    log_text: str, state_dir: Path, answers: Iterable[object], secrets: Iterable[str]
) -> None:
    """No secret in the daemon's log, in anything it answered, or in a file it wrote."""
    wanted = list(secrets)
    assert wanted, "a leak check with no secrets to look for proves nothing"
    answered = json.dumps(list(answers), default=str)
    in_log = [i for i, secret in enumerate(wanted) if secret in log_text]
    in_answers = [i for i, secret in enumerate(wanted) if secret in answered]
    assert not in_log, f"secret(s) #{in_log} in the daemon's log"
    assert not in_answers, f"secret(s) #{in_answers} in an RPC answer"
    assert files_holding(state_dir, wanted) == []


def assert_daemon_leaked_nothing(
    daemon: DaemonProcess, answers: Iterable[object], oauth: Any
) -> None:
    """No secret the fake authorization server ``oauth`` issued or was shown is in
    ``daemon``'s log, in ``answers``, or in a file under its state dir."""
    assert_nothing_leaked(daemon.log_text(), daemon.state_dir, answers, issued_secrets(oauth))
