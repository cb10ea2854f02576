"""A small aiohttp app on a free loopback port, for tests that play a provider in a few lines."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` for the block; yields its origin, ``http://127.0.0.1:<port>``."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = next(a for a in runner.addresses if isinstance(a, tuple))[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
