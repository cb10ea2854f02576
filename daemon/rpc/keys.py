"""Typed keys for what the aiohttp app holds (``web.AppKey``), shared by transports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from daemon.rpc.context import DaemonState
from daemon.rpc.dispatch import Dispatcher

if TYPE_CHECKING:
    from daemon.rpc.ws import WsConnection

STATE = web.AppKey("state", DaemonState)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
CONNECTIONS: web.AppKey[set[WsConnection]] = web.AppKey("connections")
