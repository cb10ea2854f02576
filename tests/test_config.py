"""Settings come from defaults < TOML file < SWITCHBOARD_* env < flags; bad config fails fast."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.config import load_settings
from daemon.errors import ConfigInvalid
from tests.support.daemon import REPO, isolated_env, short_tempdir


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_follow_xdg(tmp_path: Path) -> None:
    env = {
        "XDG_RUNTIME_DIR": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
    }
    old = dict(os.environ)
    os.environ.update(env)
    try:
        settings = load_settings(environ=env)
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert settings.socket == tmp_path / "switchboard" / "switchboard.sock"
    assert settings.state_dir == tmp_path / "state" / "switchboard"
    assert settings.tcp is None
    assert settings.allowed_uids == (os.getuid(),)
    assert settings.config_path is None


def test_file_env_and_flags_override_in_that_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[daemon]\nsocket = "/tmp/from-file.sock"\nlog_level = "debug"\nmax_body_bytes = 100\n',
    )
    env = {"SWITCHBOARD_LOG_LEVEL": "warning", "SWITCHBOARD_MAX_BODY_BYTES": "200"}
    settings = load_settings(path, flags={"log_level": "error"}, environ=env)
    assert settings.socket == Path("/tmp/from-file.sock")
    assert settings.max_body_bytes == 200
    assert settings.log_level == "error"
    assert settings.config_path == path


def test_env_references_are_expanded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[daemon]\nsocket = "${SB_DIR}/x.sock"\n[providers.openai]\napi_key = "${SB_KEY}"\n',
    )
    settings = load_settings(path, environ={"SB_DIR": "/run/sb", "SB_KEY": "k-123"})
    assert settings.socket == Path("/run/sb/x.sock")
    assert settings.sections["providers"]["openai"]["api_key"] == "k-123"


def test_tcp_is_parsed_and_must_be_loopback(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, '[daemon]\ntcp = "127.0.0.1:8765"\n'), environ={}).tcp == (
        "127.0.0.1",
        8765,
    )
    with pytest.raises(ConfigInvalid) as caught:
        load_settings(write(tmp_path, '[daemon]\ntcp = "0.0.0.0:8765"\n'), environ={})
    assert caught.value.data["key"] == "daemon.tcp"
    assert "loopback" in caught.value.data["reason"]


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("[daemon]\nsockett = 'x'\n", "daemon.sockett", "did you mean daemon.socket?"),
        ("[deamon]\n", "deamon", "did you mean daemon?"),
        ("[daemon]\nmax_body_bytes = -1\n", "daemon.max_body_bytes", "positive integer"),
        ("[daemon]\nidle_timeout_s = 'soon'\n", "daemon.idle_timeout_s", "positive number"),
        ("[daemon]\nlog_level = 'loud'\n", "daemon.log_level", "one of"),
        ("[daemon]\nallowed_uids = ['root']\n", "daemon.allowed_uids", "numeric user ids"),
        (
            "[daemon]\nsocket = '${SB_NOT_SET_ANYWHERE}'\n",
            "daemon.socket",
            "SB_NOT_SET_ANYWHERE is not set",
        ),
        ("[daemon\n", "-", "not valid TOML"),
    ],
)
def test_invalid_config_names_file_key_and_reason(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigInvalid) as caught:
        load_settings(path, environ={})
    assert caught.value.data["file"] == str(path)
    assert caught.value.data["key"] == key
    assert reason in caught.value.data["reason"]


def test_a_bad_env_override_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        load_settings(environ={"SWITCHBOARD_MAX_FRAME_BYTES": "lots"})
    assert caught.value.data["file"] == "$SWITCHBOARD_MAX_FRAME_BYTES"


def test_an_explicit_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match="file not found"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_serve_with_an_invalid_config_exits_2_with_file_key_and_reason() -> None:
    root = short_tempdir()
    (root / "bad.toml").write_text("[daemon]\nmax_frame_bytes = 'huge'\n")
    result = subprocess.run(
        [sys.executable, "-m", "daemon", "serve", "--config", str(root / "bad.toml")],
        cwd=REPO,
        env=isolated_env(root),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert (
        f"{root / 'bad.toml'}: daemon.max_frame_bytes: must be a positive integer" in result.stderr
    )


def test_the_readme_documents_every_daemon_key() -> None:
    from daemon.config import DAEMON_FIELDS

    readme = (REPO / "README.md").read_text()
    missing = [f.key for f in DAEMON_FIELDS if f"\n{f.key} = " not in readme]
    assert not missing, f"README's [daemon] example lacks {missing}"
