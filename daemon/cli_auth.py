"""``switchboard login / logout / import / auth / vault``: the credential commands.

Everything but ``vault rekey`` talks to the running daemon, which owns the vault; a login
started here is a flow in the daemon, so Ctrl-C cancels it there and frees its port.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import webbrowser
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon import terminal
from daemon.config import Settings
from daemon.errors import DaemonError, DaemonUnreachable, KeyRejected

if TYPE_CHECKING:  # the client (and aiohttp) load only for the commands that call the daemon
    from daemon.client import Client

EXIT_NOT_RUNNING = 3
EXIT_INTERRUPTED = 130
POLL_MS = 1000  # how often the progress line is redrawn while waiting

LOGIN_HELP = """\
Log in to PROVIDER and keep the credential, encrypted, in the daemon's vault.

  switchboard login openai-codex              # opens the browser; sign in there
  switchboard login openai-codex --no-browser # prints the URL; paste the redirect back
  switchboard login kimi-coding               # shows a code to enter on the provider's page
  switchboard login anthropic                 # asks for an API key
  switchboard login github-copilot            # opt-in: [oauth.github-copilot] enabled = true

Methods (--method; the first listed is the default): browser (sign in, redirected back to
this machine), paste (sign in anywhere, paste the address the browser ends on), device (enter
a code on another device), api_key (paste a key). Every other provider takes an API key.
Already logged in with the provider's own CLI? `switchboard import PROVIDER` copies that login.
Ctrl-C cancels the login. The daemon must be running (`switchboard serve`).

Logins:
{logins}
"""


VAULT_HELP = """\
Re-encrypt every vault record under a new key. Stop the daemon first.

With the generated key (<state dir>/vault-key) a new key is made and replaces it. With a key
from systemd (LoadCredential=vault-key:...) or SWITCHBOARD_VAULT_KEY_FILE, create a new key
file yourself (head -c 32 /dev/urandom | base64 > NEW), pass it with --new-key-file, then
point the unit or the variable at it. Interrupted, it loses nothing: run it again.
"""


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """The credential subcommands and their arguments."""
    login = sub.add_parser(
        "login",
        parents=[common],
        help="log in to a provider (browser, code, or API key)",
        description=LOGIN_HELP.format(logins=_login_table()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    login.add_argument("provider", help="a provider id or alias, e.g. openai-codex")
    login.add_argument("--method", choices=("browser", "paste", "device", "api_key"))
    login.add_argument("--account", default="default", help="a label for a second account")
    login.add_argument("--no-browser", action="store_true", help="print the URL, do not open it")
    logout = sub.add_parser("logout", parents=[common], help="forget (and revoke) a login")
    logout.add_argument("provider")
    logout.add_argument("--account", default="default")
    imp = sub.add_parser("import", parents=[common], help="import a login from an official CLI")
    imp.add_argument("provider")
    imp.add_argument("--path", help="the CLI's credential file (default: where it keeps it)")
    imp.add_argument("--account", default="default")
    imp.add_argument("--overwrite", action="store_true", help="replace a stored record")
    sub.add_parser("auth", parents=[common], help="list every credential (never the secret)")
    vault = sub.add_parser(
        "vault",
        parents=[common],
        help="vault maintenance (rekey: re-encrypt every record under a new key)",
        description=VAULT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    vault.add_argument("action", choices=("rekey",), help="rekey: re-encrypt under a new key")
    vault.add_argument(
        "--new-key-file",
        type=Path,
        help="the new key (32 bytes, raw or base64); needed unless the key is the generated one",
    )


def _login_table() -> str:
    """One line per login row: provider, methods, and the status when it is not plain."""
    from daemon.auth.logins import LOGINS, LoginStatus

    lines = []
    for spec in LOGINS:
        methods = ", ".join(m.value for m in spec.methods)
        status = "" if spec.status is LoginStatus.AVAILABLE else f"  [{spec.status.value}]"
        lines.append(f"  {spec.provider:<18} {methods}{status}")
    return "\n".join(lines)


def _call(settings: Settings, work: Callable[[Client], Any]) -> int:
    from daemon.cli import run
    from daemon.client import Client

    async def go() -> int:
        async with Client(settings.socket) as daemon:
            result: int = await work(daemon)
            return result

    try:
        return run(go())
    except DaemonUnreachable:
        print(
            f"switchboard is not running (no answer on {settings.socket}); start it with "
            "`switchboard serve`",
            file=sys.stderr,
        )
        return EXIT_NOT_RUNNING
    except DaemonError as exc:
        print(f"switchboard: {_explain(exc)}", file=sys.stderr)
        return 1


def _explain(exc: DaemonError) -> str:
    detail = exc.detail or str(exc)
    step = exc.data.get("nextStep") or type(exc).next_step
    return f"{detail}\n  next: {step}"


def login(args: argparse.Namespace, settings: Settings) -> int:
    async def work(daemon: Client) -> int:
        params = {"provider": args.provider, "account": args.account}
        if args.method:
            params["method"] = args.method
        flow = await daemon.call("auth.oauth.start", params)
        try:
            return await _follow(daemon, flow, args.no_browser)
        except (KeyboardInterrupt, asyncio.CancelledError):
            await daemon.call("auth.oauth.cancel", {"flowId": flow["flowId"]})
            print("\nlogin cancelled", file=sys.stderr)
            return EXIT_INTERRUPTED

    try:
        return _call(settings, work)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


async def _follow(daemon: Client, flow: dict[str, Any], no_browser: bool) -> int:
    method, url = flow["method"], flow.get("url")
    if method == "api_key":
        return await _api_key(daemon, flow)
    if method == "device":
        where = flow.get("verificationUri") or url
        print(f"Open {where} and enter the code:  {flow['userCode']}")
    else:
        print(f"Open this address to sign in to {flow['provider']}:\n\n  {url}\n")
    print(f"(login {flow['flowId']}; Ctrl-C cancels it)", file=sys.stderr)
    if url and not no_browser and _has_display():
        webbrowser.open(url)
    if method == "device":
        return await _wait(daemon, flow, paste=False)
    if flow.get("loopback"):
        print("If the browser ends on a page that does not load, paste its address here.")
    else:
        print("When the browser ends on a page that does not load, paste its address here.")
    return await _wait(daemon, flow, paste=True)


def _has_display() -> bool:
    # Without one, webbrowser may start a text browser in this very terminal.
    import os

    return sys.platform == "darwin" or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


async def _api_key(daemon: Client, flow: dict[str, Any]) -> int:
    if flow.get("url"):
        print(f"Create a key at: {flow['url']}")
    for _attempt in range(3):
        key = await terminal.read_line(f"{flow['provider']} API key: ", secret=True)
        if key is None:
            raise asyncio.CancelledError  # input ended: cancel the flow like Ctrl-C
        try:
            outcome = await daemon.call(
                "auth.oauth.complete", {"flowId": flow["flowId"], "apiKey": key.strip()}
            )
        except KeyRejected as exc:
            print(f"not accepted: {_explain(exc)}", file=sys.stderr)
            continue
        return _finished(outcome)
    raise asyncio.CancelledError


async def _wait(daemon: Client, flow: dict[str, Any], paste: bool) -> int:
    # Piped to another program, stdout is block-buffered: without this the URL or code would
    # show only once the login that needs it had ended.
    sys.stdout.flush()
    started = time.monotonic()
    pasted: asyncio.Future[str | None] | None = None
    if paste:
        pasted = asyncio.ensure_future(terminal.read_line("redirect URL or code: "))
    try:
        while True:
            if pasted is not None and pasted.done():
                outcome, pasted = await _pasted(daemon, flow, pasted.result())
                if outcome is not None:
                    return _finished(outcome)
            outcome = await daemon.call(
                "auth.oauth.wait", {"flowId": flow["flowId"], "timeoutMs": POLL_MS}
            )
            if outcome["status"] != "pending":
                return _finished(outcome)
            if not paste and sys.stderr.isatty():
                waited = int(time.monotonic() - started)
                print(
                    f"\r  waiting for approval… {waited}s (Ctrl-C cancels)", end="", file=sys.stderr
                )
    finally:
        if pasted is not None:
            pasted.cancel()


async def _pasted(
    daemon: Client, flow: dict[str, Any], answer: str | None
) -> tuple[dict[str, Any] | None, asyncio.Future[str | None] | None]:
    """Try a pasted answer: (the outcome, None) when accepted, else (None, the next read)."""
    if answer is None:  # input ended: keep waiting for the browser alone
        return None, None
    answer = answer.strip()
    key = "redirectUrl" if "://" in answer else "code"
    try:
        outcome = await daemon.call("auth.oauth.complete", {"flowId": flow["flowId"], key: answer})
    except DaemonError as exc:
        print(f"not accepted: {_explain(exc)}", file=sys.stderr)
        return None, asyncio.ensure_future(terminal.read_line("try again: "))
    return outcome, None


def _finished(outcome: dict[str, Any]) -> int:
    if outcome["status"] == "complete":
        print(f"\nlogged in to {outcome['provider']} (account {outcome.get('account')})")
        return 0
    error = outcome.get("error") or {}
    detail = (error.get("data") or {}).get("detail") or error.get("message", "")
    print(f"\nlogin {outcome['status']}: {detail}", file=sys.stderr)
    return 1


def logout(args: argparse.Namespace, settings: Settings) -> int:
    async def work(daemon: Client) -> int:
        params = {"provider": args.provider, "account": args.account}
        result = await daemon.call("auth.oauth.logout", params)
        if not result["removed"]:
            print(f"no stored login for {result['provider']} ({result['account']})")
            return 1
        revoked = " and revoked" if result["revoked"] else ""
        print(f"logged out of {result['provider']} ({result['account']}){revoked}")
        return 0

    return _call(settings, work)


def import_(args: argparse.Namespace, settings: Settings) -> int:
    async def work(daemon: Client) -> int:
        params: dict[str, Any] = {
            "provider": args.provider,
            "account": args.account,
            "overwrite": args.overwrite,
        }
        if args.path:
            params["path"] = args.path
        result = await daemon.call("auth.oauth.import", params)
        if not result["imported"]:
            print(f"kept the stored record: {result['reason']}")
            return 1
        print(f"imported {result['provider']} ({result['kind']}) as account {result['account']}")
        return 0

    return _call(settings, work)


def status(args: argparse.Namespace, settings: Settings) -> int:
    async def work(daemon: Client) -> int:
        result = await daemon.call("auth.status")
        print(f"{'PROVIDER':<22} {'ACCOUNT':<10} {'KIND':<8} {'SOURCE':<7} EXPIRES")
        for row in result["credentials"]:
            where = row.get("envKey") or ""
            print(
                f"{row['provider']:<22} {row.get('account', '-'):<10} {row['kind']:<8} "
                f"{row['source']:<7} {_when(row.get('expiresAt'))} {where}".rstrip()
            )
        for problem in result["problems"]:
            print(f"unreadable: {problem['record']} ({problem['reason']})", file=sys.stderr)
        return 0

    return _call(settings, work)


def _when(epoch_ms: int | None) -> str:
    if epoch_ms is None:
        return "-"
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def vault(args: argparse.Namespace, settings: Settings) -> int:
    """``switchboard vault rekey``: works on the files directly, so the daemon must be stopped."""
    import os

    from daemon.cli import run
    from daemon.store import keyfile
    from daemon.store.keyfile import KeyUnavailable
    from daemon.store.rekey import rekey

    if run(_daemon_running(settings)):
        print(
            "switchboard: stop the daemon first (systemctl --user stop switchboard): it holds "
            "the vault key in memory and would keep writing with the old one",
            file=sys.stderr,
        )
        return 1
    location = keyfile.locate(os.environ, settings.state_dir)
    try:
        done = rekey(settings.state_dir / "vault", location, args.new_key_file)
    except KeyUnavailable as exc:
        print(f"switchboard: {exc.reason}", file=sys.stderr)
        return 1
    print(f"re-encrypted {done.records} record(s) under key {done.kid} ({done.key_file})")
    for name in done.unreadable:
        print(f"  left as it was (opens with no key held): {name}", file=sys.stderr)
    if not location.writable:
        print(f"now point {location.source} at {done.key_file} and start the daemon")
    return 0


async def _daemon_running(settings: Settings) -> bool:
    from daemon.client import Client

    try:
        async with Client(settings.socket) as daemon:
            await daemon.call("daemon.info")
    except DaemonUnreachable:
        return False
    return True
