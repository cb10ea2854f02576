"""Logins imported from the official CLIs' credential files: pure, blocking, no network.

One frozen :class:`Importer` row per provider names the files its CLI writes (from the
environment and the home directory, in the order they are tried) and the parser that turns
one of them into a :class:`~daemon.auth.records.Login`. The formats come from
``reference/oauth-flows.md`` (summary table, last column, and each provider's "Import").

Reading blocks: the caller runs :func:`import_login` in a thread. Every failure is an
:class:`~daemon.errors.ImportFailed` whose detail names the file and the field, never a
value read from the file (it may be a secret). ``anthropic`` has no row: its policy forbids
intermediating Claude.ai credentials (oauth-flows.md, section 0).
The careful reading and typed field reads are :mod:`daemon.auth.cli_files`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from daemon.auth.cli_files import (
    Missing,
    Unusable,
    maybe_number,
    maybe_text,
    object_,
    read_json_object,
    rfc3339_ms,
    text,
)
from daemon.auth.logins import LOGINS_BY_PROVIDER
from daemon.auth.oauth_http import jwt_claims, jwt_expiry_ms
from daemon.auth.records import Kind, Login, Origin, api_key_login
from daemon.errors import ImportFailed

COPILOT_APP = "Iv1.b507a08c87ecfe98"  # the classic Copilot app, whose tokens we exchange
_OPENAI_AUTH = "https://api.openai.com/auth"  # the JWT claim holding chatgpt_account_id
_CODEX_FIELDS = ("auth_mode", "tokens", "OPENAI_API_KEY", "last_refresh")
_API_KEY_MODES = ("apikey", "api_key")
_OPENCODE_TYPES = ("api", "oauth", "wellknown")

Paths = Callable[[Mapping[str, str], Path], tuple[Path, ...]]
Parse = Callable[[Mapping[str, Any], Path], Login]


@dataclass(frozen=True, slots=True)
class Importer:
    """One provider's import: where its official CLI keeps the login, and how to read it."""

    provider: str
    paths: Paths  # candidate files from (environ, home), in the order they are tried
    parse: Parse  # raises Unusable; import_login turns that into ImportFailed
    login: str  # how a person creates the file: "log in with <login>"


# -- parsers --------------------------------------------------------------------------------


def _chatgpt_account(*tokens: str | None) -> str | None:
    for token in tokens:
        auth = jwt_claims(token).get(_OPENAI_AUTH)
        if isinstance(auth, dict):
            account = auth.get("chatgpt_account_id")
            if isinstance(account, str) and account:
                return account
    return None


def _is_codex_file(doc: Mapping[str, Any]) -> bool:
    # The same provider may read codex's auth.json or opencode's; only codex's has these.
    return any(field in doc for field in _CODEX_FIELDS)


def parse_codex(doc: Mapping[str, Any], path: Path) -> Login:
    """openai-codex: codex's auth.json ``tokens``, or opencode's ``openai`` OAuth entry."""
    if not _is_codex_file(doc):
        return _opencode_codex(_opencode_entry(doc, "openai", "oauth"), path)
    api_key = doc.get("OPENAI_API_KEY")
    if doc.get("tokens") is None and (doc.get("auth_mode") in _API_KEY_MODES or api_key):
        raise Unusable(
            "holds an API key, not a ChatGPT login", instead="import it as `openai` instead"
        )
    tokens = object_(doc, "tokens")
    access = text(tokens, "access_token", "tokens.")
    id_token = maybe_text(tokens, "id_token", "tokens.")
    account = maybe_text(tokens, "account_id", "tokens.") or _chatgpt_account(id_token, access)
    return Login(
        kind=Kind.OAUTH,
        origin=Origin.IMPORT,
        secret_access=access,
        secret_refresh=text(tokens, "refresh_token", "tokens."),
        secret_id_token=id_token,
        expires_at_ms=jwt_expiry_ms(access),
        claims={"chatgpt_account_id": account} if account else {},
        refreshed_at_ms=rfc3339_ms(doc.get("last_refresh")),
        imported_from=str(path),
    )


def _opencode_codex(entry: Mapping[str, Any], path: Path) -> Login:
    access = text(entry, "access", "openai.")
    account = maybe_text(entry, "accountId", "openai.") or _chatgpt_account(access)
    return Login(
        kind=Kind.OAUTH,
        origin=Origin.IMPORT,
        secret_access=access,
        secret_refresh=text(entry, "refresh", "openai."),
        # opencode's own "expires" has no documented unit; the token's exp claim does.
        expires_at_ms=jwt_expiry_ms(access),
        claims={"chatgpt_account_id": account} if account else {},
        imported_from=str(path),
    )


def parse_openai(doc: Mapping[str, Any], path: Path) -> Login:
    """openai: codex's ``OPENAI_API_KEY``, or opencode's ``openai`` API-key entry."""
    if _is_codex_file(doc):
        if doc.get("OPENAI_API_KEY") is None and doc.get("tokens") is not None:
            raise Unusable(
                "has no OPENAI_API_KEY, only a ChatGPT login",
                instead="import it as `openai-codex` instead",
            )
        key = text(doc, "OPENAI_API_KEY")
    else:
        key = _opencode_key(doc, ("openai",), switch="`openai-codex`")
    return api_key_login(key, Origin.IMPORT, imported_from=str(path))


def _opencode_entry(doc: Mapping[str, Any], key: str, wanted: str) -> Mapping[str, Any]:
    entry = object_(doc, key)
    kind = entry.get("type")
    if kind != wanted:
        named = f'"{kind}"' if kind in _OPENCODE_TYPES else "an unknown type"
        raise Unusable(f'has the {key} entry of type {named}, not "{wanted}"')
    return entry


def _opencode_key(doc: Mapping[str, Any], keys: tuple[str, ...], switch: str = "") -> str:
    for key in keys:
        if doc.get(key) is None:
            continue
        if switch and isinstance(doc[key], dict) and doc[key].get("type") == "oauth":
            raise Unusable(f"has a {key} OAuth login, not an API key", f"import it as {switch}")
        return text(_opencode_entry(doc, key, "api"), "key", f"{key}.")
    raise Unusable("has no " + " or ".join(keys) + " entry")


def parse_opencode(doc: Mapping[str, Any], path: Path) -> Login:
    """opencode: the ``opencode`` API-key entry of opencode's auth.json."""
    return api_key_login(_opencode_key(doc, ("opencode",)), Origin.IMPORT, imported_from=str(path))


def parse_zhipuai(doc: Mapping[str, Any], path: Path) -> Login:
    """zhipuai: opencode's ``zhipuai`` (else ``zai``) API-key entry."""
    key = _opencode_key(doc, ("zhipuai", "zai"))
    return api_key_login(key, Origin.IMPORT, imported_from=str(path))


def parse_copilot(doc: Mapping[str, Any], path: Path) -> Login:
    """github-copilot: apps.json, the older hosts.json, or opencode's ``github-copilot``."""
    apps = [key for key in doc if key.startswith("github.com:")]
    if apps:
        preferred = f"github.com:{COPILOT_APP}"
        key = preferred if preferred in apps else apps[0]
        entry = object_(doc, key)
        app = maybe_text(entry, "githubAppId", f"{key}.") or key.partition(":")[2]
        return _copilot(text(entry, "oauth_token", f"{key}."), path, app)
    if "github.com" in doc:
        return _copilot(text(object_(doc, "github.com"), "oauth_token", "github.com."), path)
    if "github-copilot" in doc:
        entry = _opencode_entry(doc, "github-copilot", "oauth")
        if entry.get("enterpriseUrl"):  # its token is for an Enterprise host we do not call
            raise Unusable("holds a GitHub Enterprise Copilot login, which is not supported")
        # In opencode's entry "refresh" is the long-lived GitHub token.
        return _copilot(text(entry, "refresh", "github-copilot."), path)
    raise Unusable("has no github.com Copilot entry")


def _copilot(github_token: str, path: Path, app: str | None = None) -> Login:
    # The GitHub token only mints short-lived Copilot tokens: it is the refresh secret, and
    # there is no access token until the first exchange.
    return Login(
        kind=Kind.OAUTH,
        origin=Origin.IMPORT,
        secret_refresh=github_token,
        claims={"github_app": app} if app else {},
        imported_from=str(path),
    )


@dataclass(frozen=True, slots=True)
class TokenFile:
    """A flat OAuth token file (google-auth-library's ``Credentials`` and its copies)."""

    expiry: str  # the field holding the access token's absolute expiry
    expiry_unit_ms: int = 1  # 1000 when the field is epoch seconds
    scope: str | None = None  # a space-separated scope field, if the file has one
    claims: tuple[str, ...] = ()  # string fields copied into Login.claims when present
    id_token: bool = False

    def parse(self, doc: Mapping[str, Any], path: Path) -> Login:
        """The login the file holds; Unusable when a token is missing or a field mistyped."""
        expiry = maybe_number(doc, self.expiry)
        scope = maybe_text(doc, self.scope) if self.scope else None
        claims = {name: value for name in self.claims if (value := maybe_text(doc, name))}
        return Login(
            kind=Kind.OAUTH,
            origin=Origin.IMPORT,
            secret_access=text(doc, "access_token"),
            secret_refresh=text(doc, "refresh_token"),
            secret_id_token=maybe_text(doc, "id_token") if self.id_token else None,
            expires_at_ms=None if expiry is None else round(expiry * self.expiry_unit_ms),
            scopes=tuple(scope.split()) if scope else (),
            claims=claims,
            imported_from=str(path),
        )


# -- where the files are --------------------------------------------------------------------


def _env_dir(environ: Mapping[str, str], home: Path, var: str, default: str) -> Path:
    value = environ.get(var, "")
    if value == "~" or value.startswith("~/"):  # a value quoted past the shell's expansion
        value = str(home) + value[1:]
    # XDG base directories must be absolute; the spec says to ignore relative ones.
    if not value or (var.startswith("XDG_") and not Path(value).is_absolute()):
        return home / default
    return Path(value)


def _codex_file(environ: Mapping[str, str], home: Path) -> Path:
    return _env_dir(environ, home, "CODEX_HOME", ".codex") / "auth.json"


def _opencode_file(environ: Mapping[str, str], home: Path) -> Path:
    return _env_dir(environ, home, "XDG_DATA_HOME", ".local/share") / "opencode" / "auth.json"


def codex_then_opencode(environ: Mapping[str, str], home: Path) -> tuple[Path, ...]:
    """codex's auth.json, then opencode's (openai, openai-codex)."""
    return _codex_file(environ, home), _opencode_file(environ, home)


def opencode_paths(environ: Mapping[str, str], home: Path) -> tuple[Path, ...]:
    """opencode's auth.json (opencode, zhipuai)."""
    return (_opencode_file(environ, home),)


def kimi_paths(environ: Mapping[str, str], home: Path) -> tuple[Path, ...]:
    """kimi-cli's credential file, under ``$KIMI_SHARE_DIR`` (default ``~/.kimi``)."""
    return (_env_dir(environ, home, "KIMI_SHARE_DIR", ".kimi") / "credentials" / "kimi-code.json",)


def copilot_paths(environ: Mapping[str, str], home: Path) -> tuple[Path, ...]:
    """apps.json then hosts.json in each Copilot config dir, then opencode's auth.json."""
    dirs = [_env_dir(environ, home, "XDG_CONFIG_HOME", ".config") / "github-copilot"]
    if environ.get("LOCALAPPDATA"):  # Windows keeps the same files there
        dirs.append(Path(environ["LOCALAPPDATA"]) / "github-copilot")
    files = [folder / name for folder in dirs for name in ("apps.json", "hosts.json")]
    return (*files, _opencode_file(environ, home))


def in_home(*parts: str) -> Paths:
    """A fixed file under the home directory."""
    return lambda environ, home: (home.joinpath(*parts),)


IMPORTERS: Mapping[str, Importer] = {
    row.provider: row
    for row in (
        Importer(
            "openai",
            codex_then_opencode,
            parse_openai,
            "`codex login --with-api-key` or `opencode auth login`",
        ),
        Importer("openai-codex", codex_then_opencode, parse_codex, "`codex login`"),
        Importer(
            "google-gemini-cli",
            in_home(".gemini", "oauth_creds.json"),
            TokenFile("expiry_date", scope="scope", id_token=True).parse,
            "`gemini` (Login with Google)",
        ),
        Importer(
            "qwen-portal",
            in_home(".qwen", "oauth_creds.json"),
            TokenFile("expiry_date", claims=("resource_url",), id_token=True).parse,
            "`qwen` (/auth, Qwen OAuth)",
        ),
        Importer(
            "minimax-portal",
            in_home(".minimax", "oauth_creds.json"),
            TokenFile("expiry_date", claims=("resource_url",)).parse,
            "the MiniMax CLI",
        ),
        Importer(
            "kimi-coding",
            kimi_paths,
            TokenFile("expires_at", expiry_unit_ms=1000, scope="scope").parse,
            "`kimi login` (or /login inside `kimi`)",
        ),
        Importer("opencode", opencode_paths, parse_opencode, "`opencode auth login`"),
        Importer("zhipuai", opencode_paths, parse_zhipuai, "`opencode auth login`"),
        Importer(
            "github-copilot",
            copilot_paths,
            parse_copilot,
            "Copilot in your editor (`:Copilot setup` in Vim/Neovim) or `opencode auth login`",
        ),
    )
}


# -- the entry points -----------------------------------------------------------------------


def candidates(provider: str, environ: Mapping[str, str], home: Path) -> tuple[Path, ...]:
    """The files an import of ``provider`` would look at, in order; () without an importer."""
    importer = IMPORTERS.get(provider)
    return importer.paths(environ, home) if importer else ()


def import_login(provider: str, path: Path | None, environ: Mapping[str, str], home: Path) -> Login:
    """The login in ``path``, else in the first candidate file that holds one.

    Candidates are tried in order; when none yields a login, the first existing one's
    failure is raised (it is the official CLI's own file). ImportFailed for every failure.
    """
    importer = IMPORTERS.get(provider)
    if importer is None:
        raise ImportFailed(f"imports are not offered for {provider}", provider=provider)
    if path is not None:
        return _import_from(importer, path, home)
    looked = importer.paths(environ, home)
    failures: list[ImportFailed] = []
    for candidate in looked:
        if not _present(candidate):
            continue
        try:
            return _import_from(importer, candidate, home)
        except ImportFailed as exc:
            failures.append(exc)
    if failures:
        raise failures[0]
    shown = ", ".join(_shown(p, home) for p in looked)
    raise ImportFailed(
        f"no {provider} login found (looked at {shown}); log in with {importer.login} first, "
        "or pass the file's path",
        provider=provider,
        path=str(looked[0]),
        paths=[str(p) for p in looked],
    )


def _import_from(importer: Importer, path: Path, home: Path) -> Login:
    shown = _shown(path, home)
    try:
        login = importer.parse(read_json_object(path), path)
    except Missing as exc:
        detail = f"{shown} {exc.reason}; log in with {importer.login} first, or check the path"
        raise ImportFailed(detail, provider=importer.provider, path=str(path)) from None
    except Unusable as exc:
        advice = exc.instead or f"log in with {importer.login} again"
        detail = f"{shown} {exc.reason} ({advice})"
        raise ImportFailed(detail, provider=importer.provider, path=str(path)) from None
    except (KeyError, TypeError, ValueError, AttributeError):
        # A layout no parser foresaw. The exception's text may quote a secret: drop it.
        detail = f"{shown} has a layout this version cannot read"
        raise ImportFailed(detail, provider=importer.provider, path=str(path)) from None
    return _with_base_url(importer.provider, login)


def _with_base_url(provider: str, login: Login) -> Login:
    # A login flow turns resource_url into the API base (tokens.py); an import must match.
    spec = LOGINS_BY_PROVIDER.get(provider)
    resource = login.claims.get("resource_url")
    if not resource or spec is None or spec.resource_suffix is None:
        return login
    base = resource if "://" in resource else f"https://{resource}"
    return replace(
        login, claims={**login.claims, "base_url": base.rstrip("/") + spec.resource_suffix}
    )


def _present(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # e.g. a parent we may not search: let the read report it
        return True


def _shown(path: Path, home: Path) -> str:
    """``path`` as a person writes it: ``~/...`` under the home directory."""
    try:
        return "~/" + path.relative_to(home).as_posix()
    except ValueError:
        return str(path)
