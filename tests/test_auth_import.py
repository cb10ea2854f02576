"""auth.oauth.import: logins read from the official CLIs' own files (oauth-flows.md, "Import").

The readers are pure (files in, Login out), so most cases run without a daemon; the last tests
drive the import through the real daemon: the answer, auth.status, overwrite, and the key in use.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.auth.importers import IMPORTERS, import_login
from daemon.auth.records import Kind, Origin
from daemon.client import Client
from daemon.errors import ImportFailed
from tests.conftest import result_validator
from tests.support.daemon import DaemonProcess, serving_daemon
from tests.support.leaks import files_holding
from tests.support.upstream import ThreadedUpstream, upstream_config

EXP = int(time.time()) + 3600
ACCESS_SECRET = "access-secret-0001"
REFRESH_SECRET = "refresh-secret-0002"
KEY_SECRET = "sk-imported-secret-0003"
GITHUB_SECRET = "ghu_imported-secret-0004"


def jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT (the daemon reads claims, the issuer checks signatures)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}.c2ln"


CODEX_ACCESS = jwt(
    {
        "exp": EXP,
        "secret": ACCESS_SECRET,
        "https://api.openai.com/auth": {"chatgpt_account_id": "acct-from-jwt"},
    }
)

# Each official CLI's file, as it writes it; (provider, path under HOME, content).
FILES: dict[str, tuple[str, dict[str, Any]]] = {
    "openai-codex": (
        ".codex/auth.json",
        {
            "auth_mode": "chatgpt",
            "OPENAI_API_KEY": None,
            "tokens": {
                "id_token": jwt({"email": "someone@example.test"}),
                "access_token": CODEX_ACCESS,
                "refresh_token": REFRESH_SECRET,
                "account_id": "acct-1",
            },
            "last_refresh": "2026-12-01T10:00:00Z",
        },
    ),
    "openai": (".codex/auth.json", {"auth_mode": "apikey", "OPENAI_API_KEY": KEY_SECRET}),
    "google-gemini-cli": (
        ".gemini/oauth_creds.json",
        {
            "access_token": ACCESS_SECRET,
            "refresh_token": REFRESH_SECRET,
            "scope": "https://www.googleapis.com/auth/cloud-platform openid",
            "token_type": "Bearer",
            "id_token": jwt({"email": "someone@example.test"}),
            "expiry_date": EXP * 1000,
        },
    ),
    "qwen-portal": (
        ".qwen/oauth_creds.json",
        {
            "access_token": ACCESS_SECRET,
            "refresh_token": REFRESH_SECRET,
            "token_type": "Bearer",
            "resource_url": "portal.qwen.ai",
            "expiry_date": EXP * 1000,
        },
    ),
    "minimax-portal": (
        ".minimax/oauth_creds.json",
        {"access_token": ACCESS_SECRET, "refresh_token": REFRESH_SECRET, "expiry_date": EXP * 1000},
    ),
    "kimi-coding": (
        ".kimi/credentials/kimi-code.json",
        {
            "access_token": ACCESS_SECRET,
            "refresh_token": REFRESH_SECRET,
            "expires_at": EXP + 0.5,
            "scope": "kimi-code",
            "token_type": "Bearer",
            "expires_in": 3600,
        },
    ),
    "opencode": (
        ".local/share/opencode/auth.json",
        {"opencode": {"type": "api", "key": KEY_SECRET}},
    ),
    "zhipuai": (".local/share/opencode/auth.json", {"zai": {"type": "api", "key": KEY_SECRET}}),
    "github-copilot": (
        ".config/github-copilot/apps.json",
        {
            "github.com:Iv1.b507a08c87ecfe98": {
                "user": "someone",
                "oauth_token": GITHUB_SECRET,
                "githubAppId": "Iv1.b507a08c87ecfe98",
            }
        },
    ),
}


def write(home: Path, provider: str, content: object | None = None) -> Path:
    relative, default = FILES[provider]
    path = home / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(default if content is None else content))
    return path


def test_every_importer_has_a_sample_here() -> None:
    assert sorted(FILES) == sorted(IMPORTERS)


@pytest.mark.parametrize("provider", sorted(FILES))
def test_each_cli_file_becomes_a_login_with_its_expiry(provider: str, tmp_path: Path) -> None:
    path = write(tmp_path, provider)
    login = import_login(provider, None, {}, tmp_path)
    assert login.origin is Origin.IMPORT
    assert login.imported_from == str(path)
    if login.kind is Kind.API_KEY:
        assert login.secret_key == KEY_SECRET
        return
    if provider == "github-copilot":  # the GitHub token mints Copilot tokens: nothing to expire
        assert (login.secret_refresh, login.secret_access) == (GITHUB_SECRET, None)
        return
    assert login.secret_refresh == REFRESH_SECRET
    assert login.expires_at_ms is not None
    assert abs(login.expires_at_ms - EXP * 1000) <= 1000


def test_codex_reads_the_account_and_the_expiry_from_its_tokens(tmp_path: Path) -> None:
    write(tmp_path, "openai-codex")
    login = import_login("openai-codex", None, {}, tmp_path)
    assert login.claims == {"chatgpt_account_id": "acct-1"}
    assert login.expires_at_ms == EXP * 1000, "the JWT's exp, not a guess from the file's age"
    assert login.secret_id_token is not None


def test_codex_without_account_id_takes_it_from_the_jwt(tmp_path: Path) -> None:
    relative, content = FILES["openai-codex"]
    tokens = {k: v for k, v in content["tokens"].items() if k != "account_id"}
    write(tmp_path, "openai-codex", {**content, "tokens": tokens})
    login = import_login("openai-codex", None, {}, tmp_path)
    assert login.claims == {"chatgpt_account_id": "acct-from-jwt"}


def test_qwen_turns_resource_url_into_the_api_base(tmp_path: Path) -> None:
    write(tmp_path, "qwen-portal")
    login = import_login("qwen-portal", None, {}, tmp_path)
    assert login.claims["base_url"] == "https://portal.qwen.ai/v1"


def test_codex_home_moves_the_file(tmp_path: Path) -> None:
    elsewhere = tmp_path / "codex-elsewhere"
    write(elsewhere.parent, "openai-codex").rename(_mk(elsewhere) / "auth.json")
    login = import_login("openai-codex", None, {"CODEX_HOME": str(elsewhere)}, tmp_path)
    assert login.imported_from == str(elsewhere / "auth.json")


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_opencode_oauth_entries_feed_codex_and_copilot(tmp_path: Path) -> None:
    doc = {
        "openai": {"type": "oauth", "access": CODEX_ACCESS, "refresh": REFRESH_SECRET},
        "github-copilot": {"type": "oauth", "access": "x", "refresh": GITHUB_SECRET},
    }
    path = tmp_path / ".local/share/opencode/auth.json"
    _mk(path.parent)
    path.write_text(json.dumps(doc))
    codex = import_login("openai-codex", None, {}, tmp_path)
    assert (codex.secret_access, codex.claims) == (
        CODEX_ACCESS,
        {"chatgpt_account_id": "acct-from-jwt"},
    )
    copilot = import_login("github-copilot", None, {}, tmp_path)
    assert copilot.secret_refresh == GITHUB_SECRET
    with pytest.raises(ImportFailed, match="OAuth login, not an API key"):
        import_login("openai", None, {}, tmp_path)


def test_copilot_reads_the_older_hosts_file(tmp_path: Path) -> None:
    path = _mk(tmp_path / ".config/github-copilot") / "hosts.json"
    path.write_text(json.dumps({"github.com": {"user": "someone", "oauth_token": GITHUB_SECRET}}))
    assert import_login("github-copilot", None, {}, tmp_path).secret_refresh == GITHUB_SECRET


BROKEN: list[tuple[str, object | str, str]] = [
    ("openai-codex", "", "is empty"),
    ("openai-codex", "{not json", "is not JSON (line 1"),
    ("openai-codex", [1, 2], "holds an array, not a JSON object"),
    ("openai-codex", {"auth_mode": "chatgpt", "tokens": {"refresh_token": "r"}}, "no tokens."),
    ("openai-codex", {"auth_mode": "apikey", "OPENAI_API_KEY": KEY_SECRET}, "as `openai` instead"),
    ("openai", {"auth_mode": "chatgpt", "tokens": {"access_token": "a"}}, "openai-codex` instead"),
    ("google-gemini-cli", {"access_token": ACCESS_SECRET}, "has no refresh_token"),
    ("kimi-coding", {"access_token": 5, "refresh_token": "r"}, "access_token as a number"),
    ("qwen-portal", {"access_token": "a", "refresh_token": "r", "expiry_date": "soon"}, "a string"),
    ("github-copilot", {"gitlab.com": {}}, "has no github.com Copilot entry"),
    ("opencode", {"opencode": {"type": "oauth"}}, 'type "oauth", not "api"'),
]


@pytest.mark.parametrize(("provider", "content", "reason"), BROKEN)
def test_a_broken_file_says_which_field_and_quotes_no_value(
    provider: str, content: object, reason: str, tmp_path: Path
) -> None:
    path = tmp_path / FILES[provider][0]
    _mk(path.parent)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ImportFailed) as failed:
        import_login(provider, None, {}, tmp_path)
    assert reason in str(failed.value.detail)
    answer = json.dumps(failed.value.to_rpc())
    assert failed.value.data["path"] == str(path)
    for secret in (KEY_SECRET, ACCESS_SECRET, REFRESH_SECRET):
        assert secret not in answer


def test_a_missing_file_names_where_it_looked_and_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed) as failed:
        import_login("kimi-coding", None, {}, tmp_path)
    assert "~/.kimi/credentials/kimi-code.json" in str(failed.value.detail)
    assert "kimi login" in str(failed.value.detail)


def test_a_directory_or_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    import os

    folder = _mk(tmp_path / "dir")
    with pytest.raises(ImportFailed, match="is a directory"):
        import_login("minimax-portal", folder, {}, tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ImportFailed, match="not a regular file"):
        import_login("minimax-portal", fifo, {}, tmp_path)


# -- through the daemon ------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return _mk(tmp_path / "home")


@pytest.fixture
def import_daemon(upstream: ThreadedUpstream, home: Path) -> Iterator[DaemonProcess]:
    """A daemon whose HOME is a test directory and whose openai provider is the fake."""
    with serving_daemon(config=upstream_config(upstream.base_url), env={"HOME": str(home)}) as d:
        yield d


async def test_an_imported_key_is_used_kept_and_replaced_only_with_overwrite(
    import_daemon: DaemonProcess, upstream: ThreadedUpstream, home: Path
) -> None:
    write(home, "openai")
    async with Client(import_daemon.socket) as daemon:
        answer = await daemon.call("auth.oauth.import", {"provider": "openai"})
        result_validator("auth.oauth.import")(answer)
        assert answer == {
            "provider": "openai",
            "account": "default",
            "imported": True,
            "kind": "api_key",
            "expiresAt": None,
        }
        upstream.fake.requests.clear()
        await daemon.call("chat.send", {"provider": "openai", "messages": [_hello()]})
        assert upstream.fake.requests[-1].headers["authorization"] == f"Bearer {KEY_SECRET}"

        write(home, "openai", {"auth_mode": "apikey", "OPENAI_API_KEY": "sk-newer-0005"})
        kept = await daemon.call("auth.oauth.import", {"provider": "openai"})
        assert kept["imported"] is False
        assert "overwrite" in kept["reason"]
        with pytest.raises(ImportFailed, match="import it as `openai` instead"):
            await daemon.call("auth.oauth.import", {"provider": "codex", "overwrite": True})
        await daemon.call("auth.oauth.import", {"provider": "openai", "overwrite": True})
        await daemon.call("chat.send", {"provider": "openai", "messages": [_hello()]})
        assert upstream.fake.requests[-1].headers["authorization"] == "Bearer sk-newer-0005"

        status = await daemon.call("auth.status")
    row = next(c for c in status["credentials"] if c["source"] == "import")
    assert (row["provider"], row["kind"], row["importedFrom"]) == (
        "openai",
        "api_key",
        str(home / ".codex/auth.json"),
    )
    assert KEY_SECRET not in json.dumps(status)
    assert files_holding(import_daemon.state_dir, [KEY_SECRET, "sk-newer-0005"]) == []


async def test_an_oauth_import_reports_its_expiry_and_a_bad_one_its_reason(
    import_daemon: DaemonProcess, home: Path
) -> None:
    write(home, "kimi-coding")
    async with Client(import_daemon.socket) as daemon:
        answer = await daemon.call("auth.oauth.import", {"provider": "kimi-coding"})
        assert (answer["provider"], answer["kind"]) == ("kimi-coding", "oauth")
        assert abs(answer["expiresAt"] - EXP * 1000) <= 1000
        with pytest.raises(ImportFailed) as failed:
            await daemon.call("auth.oauth.import", {"provider": "minimax-portal"})
        assert failed.value.data["provider"] == "minimax-portal"
        assert "~/.minimax/oauth_creds.json" in str(failed.value.detail)
        with pytest.raises(ImportFailed, match="offers no import"):
            await daemon.call("auth.oauth.import", {"provider": "anthropic"})
        status = await daemon.call("auth.status")
    kimi = next(c for c in status["credentials"] if c["provider"] == "kimi-coding")
    assert (kimi["source"], kimi["refreshable"]) == ("import", True)
    assert REFRESH_SECRET not in json.dumps(status)


def _hello() -> dict[str, str]:
    return {"role": "user", "content": "hello"}
