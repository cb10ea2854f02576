"""The mock chat websites on a loop of their own thread, for sync tests and daemon tests.

The daemon under test is another process whose Chromium loads the mock site while the test
waits on the daemon, so the site serves from a helper thread (:class:`~tests.support.upstream.
Threaded`). Every method of :class:`ThreadedSite` runs on the site's own loop, so it is safe from
the test's thread::

    with running_zai(frame_delay_ms=0) as zai:
        config = f'[bridges.zai]\\nurl = "{zai.base_url}"'
        ...
        zai.scenario("captcha_missing", times=1)
        [completion] = zai.wait_requests("/api/v2/chat/completions")
        assert completion.outcome("signature") == "pass"

Async tests await the same through :meth:`ThreadedSite.wait` (``await zai.wait(...)``) or use
the site's own ``running_site`` in their loop instead. One ``running_<site>`` per mock site.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from tests.fakes.sites.common import MockSite, Recorded, Scenario, SiteConfig, SiteState
from tests.fakes.sites.qwen.app import mock_qwen
from tests.fakes.sites.qwen.config import QwenConfig
from tests.fakes.sites.qwen.state import QwenState
from tests.fakes.sites.zai.app import mock_zai
from tests.fakes.sites.zai.config import ZaiConfig
from tests.fakes.sites.zai.state import ZaiState
from tests.support.upstream import Threaded

#: the X-Signature test vector of website-bridges.md §2.6 (inputs as the page's signRequest takes
#: them) and the signature it must give
ZAI_SIGNATURE_VECTOR = {
    "requestId": "d9fb3ca8-676f-46c3-90c7-ddc70a74e46d",
    "userId": "d0d30815-b85a-4270-af63-b5346a9f3b13",
    "prompt": "Reply with exactly: ok",
    "timestamp": "1771762969397",
}
ZAI_VECTOR_SIGNATURE = "26be53ded6069ead38e6d4d596e54b020aaa2e17f75a4fa29325ead00484b214"

S = TypeVar("S", bound=SiteState[Any])
T = TypeVar("T")


class ThreadedSite(Threaded[MockSite[S]], Generic[S]):
    """A started mock site serving from a thread of its own; ``with`` stops it."""

    def __init__(self, make: Callable[[], MockSite[S]], port: int = 0) -> None:
        async def started() -> MockSite[S]:
            site = make()
            await site.start(port)
            return site

        super().__init__(started)

    def _on_loop(self, action: Callable[[], T]) -> T:
        async def run() -> T:
            return action()

        return self.call(run())

    @property
    def state(self) -> S:
        """The site's state object; read it through :meth:`snapshot` from another thread."""
        return self.fake.state

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /__mock__/state`` answers."""
        return self._on_loop(self.fake.state.snapshot)

    def scenario(
        self, name: str, params: Mapping[str, Any] | None = None, times: int | None = None
    ) -> Scenario:
        """Switch a scenario on for the next ``times`` matching requests (None: all)."""
        return self._on_loop(lambda: self.fake.scenario(name, params, times))

    def reset(self) -> None:
        """Initial config, running clock, no scenarios, requests or guests."""
        self._on_loop(self.fake.reset)

    def requests(self, path_prefix: str | None = None) -> list[Recorded]:
        """The recorded requests under ``path_prefix``, oldest first."""
        return self._on_loop(lambda: self.fake.requests(path_prefix))

    def configure(self, **changes: Any) -> SiteConfig:
        """Replace config knobs while serving."""
        return self._on_loop(lambda: self.fake.configure(**changes))

    def set_clock(self, *, freeze_ms: int | None = None, offset_ms: float = 0.0) -> None:
        """Freeze or shift the site's clock."""
        self._on_loop(lambda: self.fake.set_clock(freeze_ms=freeze_ms, offset_ms=offset_ms))

    def wait_requests(
        self, path_prefix: str, count: int = 1, timeout: float = 10.0
    ) -> list[Recorded]:
        """The finished requests under ``path_prefix`` once there are ``count`` of them."""
        return self.call(self.fake.wait_requests(path_prefix, count, timeout), timeout + 5.0)

    async def wait_requests_async(
        self,
        path_prefix: str,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[Recorded]:
        """:meth:`wait_requests` for async tests (does not block their loop)."""
        return await self.wait(self.fake.wait_requests(path_prefix, count, timeout))


def running_zai(*, port: int = 0, **config: Any) -> ThreadedSite[ZaiState]:
    """The mock chat.z.ai with ``config`` knobs (:class:`ZaiConfig` keywords), started; a
    ``with`` block stops it::

    @pytest.fixture
    def zai() -> Iterator[ThreadedSite[ZaiState]]:
        with running_zai(frame_delay_ms=0) as site:
            yield site
    """
    knobs = ZaiConfig(**config)
    return ThreadedSite(lambda: mock_zai(knobs), port)


def running_qwen(*, port: int = 0, **config: Any) -> ThreadedSite[QwenState]:
    """The mock chat.qwen.ai with ``config`` knobs (:class:`QwenConfig` keywords), started; a
    ``with`` block stops it::

    with running_qwen(frame_delay_ms=0) as qwen:
        qwen.scenario("punish", times=1)   # scenario names: tests.fakes.sites.qwen.scenarios
        ...                                # the bridge opens qwen.base_url + "/c/guest"
        [turn] = qwen.wait_requests("/api/v2/chat/completions")
    """
    knobs = QwenConfig(**config)
    return ThreadedSite(lambda: mock_qwen(knobs), port)


def sse_events(raw: bytes | bytearray) -> list[Any]:
    """The ``data:`` events of an SSE body (CRLF or LF), each parsed JSON, or its text when it
    is not JSON (``[DONE]``, a broken frame)."""
    found: list[Any] = []
    for block in bytes(raw).replace(b"\r\n", b"\n").split(b"\n\n"):
        if block.startswith(b"data: "):
            text = block[6:].decode()
            try:
                found.append(json.loads(text))
            except ValueError:
                found.append(text)
    return found
