"""The ``bridges.*`` namespace: the website bridges' state, and a window for a person."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

from daemon.errors import BridgeUnavailable
from daemon.routes import BridgeService
from daemon.rpc.context import CallContext


class NoParams(TypedDict):
    pass


class OpenParams(TypedDict):
    site: str


def bridges_of(ctx: CallContext) -> BridgeService:
    bridges = ctx.daemon.bridges
    if bridges is None:
        raise BridgeUnavailable("the website bridges are not running")
    return bridges


async def status(ctx: CallContext, params: NoParams) -> dict[str, Any]:
    """bridges.status: the browser (running, memory) and each site (state, queue, last
    error); it reads /proc, so off the event loop."""
    return await asyncio.to_thread(bridges_of(ctx).status)


async def open_site(ctx: CallContext, params: OpenParams) -> dict[str, Any]:
    """bridges.open: the site's profile in a visible window, so a person can pass a check;
    NoDisplay where there is no display to show it on."""
    return await bridges_of(ctx).open(params["site"])
