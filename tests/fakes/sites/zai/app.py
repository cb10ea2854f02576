"""The mock chat.z.ai application: :func:`create_app` and :func:`running_site`.

::

    async with running_site(ZaiConfig(frame_delay_ms=0)) as site:
        page.goto(site.base_url)            # the SPA bootstraps a guest and chats
        site.scenario("captcha_missing", times=1)
        [rec] = await site.wait_requests("/api/v2/chat/completions")
        rec.outcome("signature")            # Outcome.PASS

Knobs: :class:`~tests.fakes.sites.zai.config.ZaiConfig`; scenarios: its module docstring.
Environment: :func:`config_from_env` reads ``MOCK_ZAI_<KNOB>``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

from aiohttp import web

from tests.fakes.sites.common import (
    MockSite,
    config_from_env,
    control_routes,
    recording_middleware,
)
from tests.fakes.sites.zai.api import Api
from tests.fakes.sites.zai.completion import Completions
from tests.fakes.sites.zai.config import ZaiConfig
from tests.fakes.sites.zai.pages import Pages, edge_middleware
from tests.fakes.sites.zai.state import ZaiState

ENV_PREFIX = "MOCK_ZAI_"
MockZai = MockSite[ZaiState]
STATE = web.AppKey("zai_state", ZaiState)


def create_app(config: ZaiConfig | None = None) -> web.Application:
    """The site's app; its state is ``app[STATE]``."""
    state = ZaiState(config or ZaiConfig())
    app = web.Application(middlewares=[recording_middleware(state), edge_middleware(state)])
    app[STATE] = state
    app.add_routes(control_routes(state))
    app.add_routes(Pages(state).routes())
    app.add_routes(Api(state).routes())
    app.router.add_post("/api/v2/chat/completions", Completions(state).handle)
    return app


def mock_zai(config: ZaiConfig | None = None) -> MockZai:
    """The site, not yet started (``await site.start(port)``, or ``async with``)."""
    app = create_app(config)
    return MockSite(app, app[STATE])


def env_config(environ: Mapping[str, str] | None = None) -> ZaiConfig:
    """The config ``MOCK_ZAI_<KNOB>`` environment variables describe."""
    return config_from_env(ZaiConfig, ENV_PREFIX, environ)


@contextlib.asynccontextmanager
async def running_site(config: ZaiConfig | None = None, port: int = 0) -> AsyncIterator[MockZai]:
    """The site served on 127.0.0.1:``port`` (0: a free one) for the block."""
    site = mock_zai(config)
    await site.start(port)
    try:
        yield site
    finally:
        await site.stop()
