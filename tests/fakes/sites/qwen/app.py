"""The mock chat.qwen.ai application: :func:`create_app` and :func:`running_site`.

::

    async with running_site(QwenConfig(frame_delay_ms=0)) as site:
        page.goto(site.base_url + "/c/guest")   # the SPA registers Baxia tokens and chats
        site.scenario("punish", times=1)
        [rec] = await site.wait_requests("/api/v2/chat/completions")
        rec.outcome("baxia")                    # Outcome.FAIL

The page a bridge sees is served on the real site's paths; the control plane under
``/__mock__/`` is for tests. Knobs: :class:`~tests.fakes.sites.qwen.config.QwenConfig`;
scenarios: :mod:`tests.fakes.sites.qwen.scenarios`. Environment: ``MOCK_QWEN_<KNOB>``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web

from tests.fakes.sites.common import (
    CONTROL_PREFIX,
    RECORD,
    Handler,
    MockSite,
    StepMode,
    config_from_env,
    control_routes,
    recording_middleware,
)
from tests.fakes.sites.qwen import api, pages, pipeline
from tests.fakes.sites.qwen.config import QwenConfig, Step
from tests.fakes.sites.qwen.state import QwenState

ENV_PREFIX = "MOCK_QWEN_"
COMPLETIONS = "/api/v2/chat/completions"


def create_app(config: QwenConfig | None = None) -> web.Application:
    """The site's app; its state is ``app[api.STATE]``."""
    state = QwenState(config or QwenConfig())
    app = web.Application(middlewares=[recording_middleware(state), edge_middleware(state)])
    app[api.STATE] = state
    app.add_routes(control_routes(state))
    app.add_routes(pages.routes())
    app.add_routes(api.routes())
    return app


def edge_middleware(state: QwenState) -> Any:
    """``http_*`` scenarios whose ``params.on`` is "all" answer every path outside the
    control plane (completions judge them in their own pipeline)."""

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith((CONTROL_PREFIX, COMPLETIONS)):
            return await handler(request)
        refusal = pipeline.http_refusal(
            state, every_path=True, rid=request.headers.get("x-request-id")
        )
        if refusal is None:
            return await handler(request)
        request[RECORD].check(Step.SCENARIO, False, StepMode.STRICT, refusal.detail)
        return refusal.response

    return edge


class MockQwen(MockSite[QwenState]):
    """The mock site and the handle tests use (``scenario``, ``reset``, ``requests``,
    ``configure``, ``set_clock``, ``wait_requests``, from :class:`MockSite`)."""

    async def start(self, port: int = 0) -> str:
        # MockSite.start gives TCPSite the shutdown timeout, which aiohttp deprecates (and the
        # suite turns warnings into errors); the runner takes it here instead.
        runner = web.AppRunner(
            self.app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        self._runner = runner
        await web.TCPSite(runner, "127.0.0.1", port).start()
        bound = next(a for a in runner.addresses if isinstance(a, tuple))[1]
        self.base_url = self.state.origin = f"http://127.0.0.1:{bound}"
        return self.base_url


def mock_qwen(config: QwenConfig | None = None) -> MockQwen:
    """The site, not yet started (``await site.start(port)``, or ``async with``)."""
    app = create_app(config)
    return MockQwen(app, app[api.STATE])


def env_config(environ: Mapping[str, str] | None = None) -> QwenConfig:
    """The config ``MOCK_QWEN_<KNOB>`` environment variables describe."""
    return config_from_env(QwenConfig, ENV_PREFIX, environ)


@contextlib.asynccontextmanager
async def running_site(config: QwenConfig | None = None, port: int = 0) -> AsyncIterator[MockQwen]:
    """The site served on 127.0.0.1:``port`` (0: a free one) for the block."""
    site = mock_qwen(config)
    await site.start(port)
    try:
        yield site
    finally:
        await site.stop()
