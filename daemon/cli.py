"""The ``switchboard`` command: serve, status, rpc, stdio, doctor, install-systemd, and the
credential commands of :mod:`daemon.cli_auth` (login, logout, import, auth, vault)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import orjson

from daemon import __version__, cli_auth
from daemon.config import Settings, load_settings
from daemon.errors import ConfigInvalid, DaemonError, DaemonUnreachable, ListenerUnavailable

T = TypeVar("T")
EXIT_NOT_RUNNING = 3  # as LSB init scripts say for "program is not running"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on uvloop when it is installed, else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from daemon import log
    from daemon.serve import serve

    log.configure(settings.log_level)
    try:
        return run(serve(settings))
    except ListenerUnavailable as exc:
        print(f"switchboard: cannot listen: {exc.detail}", file=sys.stderr)
        return 1
    except ConfigInvalid as exc:
        print(f"switchboard: invalid config: {exc.detail}", file=sys.stderr)
        return 2


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.client import Client

    async def fetch() -> tuple[dict[str, Any], dict[str, Any]]:
        async with Client(settings.socket) as daemon:
            return await daemon.call("daemon.info"), await daemon.call("daemon.health")

    try:
        info, health = run(fetch())
    except DaemonUnreachable:
        print(f"switchboard is not running (no answer on {settings.socket})")
        return EXIT_NOT_RUNNING
    print(f"switchboard {info['version']} running, pid {info['pid']}, up {info['uptimeS']:.0f}s")
    for listener in info["listeners"]:
        print(f"  listening: {listener['kind']} {listener['address']} ({listener['activation']})")
    print(f"  health: {health['status']}")
    for name, component in health["components"].items():
        print(f"    {name}: {component['status']}  {component.get('detail', '')}".rstrip())
    return 0 if health["status"] == "ready" else 1


def _rpc(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.client import Client

    try:
        params = orjson.loads(args.params) if args.params is not None else None
    except orjson.JSONDecodeError as exc:
        print(f"switchboard: params are not valid JSON: {exc}", file=sys.stderr)
        return 2

    async def call() -> Any:
        async with Client(settings.socket) as daemon:
            return await daemon.call(args.method, params)

    try:
        result = run(call())
    except DaemonError as exc:
        print(orjson.dumps(exc.to_rpc(), option=orjson.OPT_INDENT_2).decode(), file=sys.stderr)
        return EXIT_NOT_RUNNING if isinstance(exc, DaemonUnreachable) else 1
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


def _stdio(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.rpc.stdio import relay

    try:
        return run(relay(settings.socket))
    except DaemonUnreachable as exc:
        print(f"switchboard: {exc.detail}", file=sys.stderr)
        return EXIT_NOT_RUNNING


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.doctor import doctor

    return doctor(settings)


def _install_systemd(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.systemd import install

    return install(args.dir, enable=args.enable)


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace, Settings], int], str]] = {
    "serve": (_serve, "run the daemon in the foreground"),
    "status": (_status, "is the daemon running, and how is it"),
    "rpc": (_rpc, "call one method and print its result"),
    "stdio": (_stdio, "relay newline-delimited JSON-RPC between stdin/stdout and the daemon"),
    "doctor": (_doctor, "check the set-up and say what to fix"),
    "install-systemd": (_install_systemd, "write the systemd user units for this installation"),
    "login": (cli_auth.login, ""),
    "logout": (cli_auth.logout, ""),
    "import": (cli_auth.import_, ""),
    "auth": (cli_auth.status, ""),
    "vault": (cli_auth.vault, ""),
}
_OWN_PARSERS = ("login", "logout", "import", "auth", "vault")  # cli_auth.add_parsers makes them


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every subcommand takes the common flags."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="config file (default: XDG config dir)")
    common.add_argument("--socket", help="Unix socket path")
    common.add_argument("--tcp", help='also listen on loopback TCP, e.g. "127.0.0.1:8765"')
    common.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    parser.add_argument("--version", action="version", version=f"switchboard {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_func, help_text) in COMMANDS.items():
        if name not in _OWN_PARSERS:
            sub.add_parser(name, parents=[common], help=help_text, description=help_text)
    cli_auth.add_parsers(sub, common)
    rpc = sub.choices["rpc"]
    rpc.add_argument("method", help="e.g. daemon.info")
    rpc.add_argument("params", nargs="?", help='params as JSON, e.g. \'{"name": "claude"}\'')
    install = sub.choices["install-systemd"]
    install.add_argument(
        "--dir", type=Path, help="unit directory (default: ~/.config/systemd/user)"
    )
    install.add_argument(
        "--enable", action="store_true", help="also reload systemd and start the socket"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``switchboard`` and ``python -m daemon``."""
    args = build_parser().parse_args(argv)
    flags = {"socket": args.socket, "tcp": args.tcp, "log_level": args.log_level}
    try:
        settings = load_settings(args.config, flags=flags)
    except ConfigInvalid as exc:
        print(f"switchboard: invalid config: {exc.detail}", file=sys.stderr)
        return 2
    func, _help = COMMANDS[args.command]
    try:
        return func(args, settings)
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
