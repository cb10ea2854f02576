"""The fake OAuth server on a loop of its own thread, for sync fixtures and daemon tests.

The daemon under test is another process and polls the fake while the test waits on the
daemon, so the fake serves from a helper thread (:class:`~tests.support.upstream.Threaded`).
The fake's plain methods and knobs are safe to use from the test's thread directly
(``oauth.fake.approve(code)``, ``oauth.fake.fail(Fault.HANG, "kimi-coding")``); its
coroutines go through the wrappers here (or ``call``/``wait``)::

    with running_oauth(device_interval=0.05) as oauth:
        config = oauth.config("openai-codex", "kimi-coding")
        ...
        location = oauth.browse(flow["url"])
"""

from __future__ import annotations

from typing import Unpack

from tests.fakes.oauth.server import FakeOAuth
from tests.fakes.oauth.state import Knobs, Received
from tests.support.upstream import Threaded


class ThreadedOAuth(Threaded[FakeOAuth]):
    """A started :class:`FakeOAuth` serving from a thread of its own."""

    def __init__(self, **knobs: Unpack[Knobs]) -> None:
        async def started() -> FakeOAuth:
            fake = FakeOAuth(**knobs)
            await fake.start()
            return fake

        super().__init__(started)

    def config(self, *providers: str) -> str:
        """The ``[oauth.<id>]`` tables for ``providers`` (every one when none are named)."""
        return self.fake.oauth_config(providers or None)

    def browse(self, authorize_url: str, *, deny: bool = False) -> str:
        """:meth:`FakeOAuth.browse` from the test's thread: the redirect's Location."""
        return self.call(self.fake.browse(authorize_url, deny=deny))

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Received]:
        """:meth:`FakeOAuth.wait_for` from the test's thread."""
        return self.call(self.fake.wait_for(path, count, timeout), timeout + 5.0)


def running_oauth(**knobs: Unpack[Knobs]) -> ThreadedOAuth:
    """A started :class:`ThreadedOAuth`, stopped when the ``with`` block it opens ends; a
    fixture yields from it::

    @pytest.fixture
    def oauth() -> Iterator[ThreadedOAuth]:
        with running_oauth(device_interval=0.05) as fake:
            yield fake
    """
    return ThreadedOAuth(**knobs)
