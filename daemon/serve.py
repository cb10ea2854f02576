"""``switchboard serve``: open the listeners, serve until SIGTERM, drain, exit 0."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from daemon import __version__
from daemon.access import PeerCheckedSite, ensure_token
from daemon.app import build_app
from daemon.config import Settings
from daemon.listeners import Listener, open_listeners
from daemon.log import get_logger
from daemon.rpc.context import DaemonState
from daemon.rpc.dispatch import Dispatcher, Handler
from daemon.sdnotify import Notifier
from rpc_schema import load_openrpc

log = get_logger("daemon.serve")


async def serve(
    settings: Settings,
    handlers: Mapping[str, Handler] | None = None,
    openrpc: dict[str, Any] | None = None,
) -> int:
    """Run the daemon until SIGTERM or SIGINT; returns the process exit code."""
    from daemon.rpc.handlers import METHODS

    openrpc = openrpc if openrpc is not None else load_openrpc()
    dispatcher = Dispatcher(METHODS if handlers is None else handlers, openrpc)
    settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    state = DaemonState(settings, __version__, openrpc)
    notifier = Notifier()
    with open_listeners(settings) as listeners:
        state.listeners = [listener.info for listener in listeners]
        has_tcp = any(listener.info["kind"] == "tcp" for listener in listeners)
        token = ensure_token(settings.tcp_token_file) if has_tcp else None
        runner = web.AppRunner(
            build_app(state, dispatcher, token),
            handle_signals=False,
            access_log=None,
            keepalive_timeout=settings.idle_timeout_s,
            handler_cancellation=True,
            shutdown_timeout=settings.drain_timeout_s,
        )
        await runner.setup()
        try:
            await _start_sites(runner, listeners, settings)
            await _run_until_signal(state, notifier)
        finally:
            await runner.cleanup()
    log.info("daemon_stopped")
    return 0


async def _start_sites(runner: web.AppRunner, listeners: list[Listener], settings: Settings) -> None:
    allowed = frozenset(settings.allowed_uids)
    for listener in listeners:
        site: web.BaseSite
        if listener.sock.family == socket.AF_UNIX:
            site = PeerCheckedSite(runner, listener.sock, allowed)
        else:
            site = web.SockSite(runner, listener.sock)
        await site.start()


async def _run_until_signal(state: DaemonState, notifier: Notifier) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    addresses = ", ".join(listener["address"] for listener in state.listeners)
    notifier.send("READY=1", f"STATUS=serving on {addresses}")
    log.info("daemon_ready", version=state.version, pid=state.pid, listeners=state.listeners)
    watchdog = asyncio.create_task(notifier.watchdog())
    try:
        await stop.wait()
    finally:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("daemon_draining", timeout_s=state.settings.drain_timeout_s)
    state.draining = True
    notifier.send("STOPPING=1", "STATUS=draining")
