"""Fake upstreams on an event loop of their own thread.

The daemon under test is another process; the fake must keep serving while a test's own loop
is busy or between tests, so it runs on a helper thread. ``call`` runs a coroutine there
(e.g. ``upstream.call(upstream.fake.wait_disconnect(1.0))``). The OpenAI fake and the fake of
every API family (:func:`threaded_families`) run this way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Generic, Protocol, Self, TypeVar

from tests.fakes.families.server import FakeFamilies
from tests.fakes.families.wire import Wire
from tests.fakes.openai_chat import FakeOpenAI

T = TypeVar("T")


class Fake(Protocol):
    @property
    def base_url(self) -> str | None: ...

    async def stop(self) -> None: ...


F = TypeVar("F", bound=Fake)


async def _started_openai() -> FakeOpenAI:
    fake = FakeOpenAI()
    await fake.start()
    return fake


class Threaded(Generic[F]):
    """A started fake server and the loop of its own thread it runs on; ``with`` closes it."""

    def __init__(self, make: Callable[[], Coroutine[Any, Any, F]]) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="fake-upstream", daemon=True
        )
        self._thread.start()
        self.fake: F = self.call(make())
        assert self.fake.base_url is not None
        self.base_url: str = self.fake.base_url

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def wait(self, coro: Coroutine[Any, Any, T]) -> T:
        """``call`` for async tests: waits without blocking the test's own loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def close(self) -> None:
        self.call(self.fake.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ThreadedUpstream(Threaded[FakeOpenAI]):
    """A started FakeOpenAI on a thread of its own."""

    def __init__(self) -> None:
        super().__init__(_started_openai)

    def requests_for(self, marker: str) -> list[Any]:
        """The recorded requests whose model contains ``marker`` (a scenario id, say)."""
        return [
            r for r in list(self.fake.requests) if marker in str((r.body or {}).get("model", ""))
        ]


def threaded_families(wires: Sequence[Wire]) -> Threaded[FakeFamilies]:
    """A started :class:`FakeFamilies` serving ``wires`` from a thread of its own."""

    async def started() -> FakeFamilies:
        fake = FakeFamilies(list(wires))
        await fake.start()
        return fake

    return Threaded(started)


def upstream_config(base_url: str, *, extra: str = "") -> str:
    """Config sending the openai provider (and "fake", defined in config) to the fake."""
    return f"""
[defaults]
provider = "openai"
model = "gpt-fake"

[providers.openai]
base_url = "{base_url}"
api_keys = ["sk-test-key-one-0000", "sk-test-key-two-0000"]

[providers.fake]
api = "openai-completions"
base_url = "{base_url}"
api_key = "sk-test-fallback-0000"
default_model = "gpt-fake"

[providers.dead]                 # nothing listens on the discard port: connection refused
api = "openai-completions"
base_url = "http://127.0.0.1:9/v1"
default_model = "gpt-fake"

[[model_routes]]
prefix = "routed-"
provider = "fake"

[reliability]
retries = 2
backoff_ms = 10
first_byte_timeout_ms = 1500
idle_timeout_ms = 1500
breaker_threshold = 1000
{extra}
"""
