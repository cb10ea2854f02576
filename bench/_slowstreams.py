"""The slow streams: how much memory a gateway needs to hold many streams open at once.

:func:`hold_open` starts the profile's ``open_streams`` (1,000) streaming chats through one
endpoint; the model string asks the fake upstream to pause ``open_delay_ms`` between chunks,
which keeps the early streams running while the later ones open. At most ``open_window`` are
being opened at any time (a stream counts as open once its first content chunk has come), to
stay under the gateway's accept backlog. Once every stream has opened, the gateway's RSS is
sampled a few times; then each stream is read to its end and checked. The result
(:class:`OpenStreams`) says how many were open at once, how long the ramp took, the gateway's
RSS before, while and after, and its CPU time.

:mod:`bench._chatload` runs this after its closed-loop phases, in the same process.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import replace

from bench._chatmodel import ChatProfile, Endpoint, OpenStreams, Samples
from bench._spawn import cpu_seconds, rss_mb
from bench._wire import CONNECT_TIMEOUT_S, HttpClient, ProtocolError
from bench._wires import WIRES, check_answer, http_post

OPEN_SAMPLES = 5  # RSS samples while every slow stream is open, 0.1 s apart


class SlowStreams:
    """Streams through one endpoint, at most ``window`` of them being opened at any time (a
    stream counts as open once its first content chunk came); each is read to its end."""

    def __init__(self, endpoint: Endpoint, profile: ChatProfile) -> None:
        self.endpoint = endpoint
        self.wanted, self.chunks = profile.open_streams, profile.open_chunks
        model = endpoint.model_for(self.chunks, profile.open_delay_ms)
        self.request = http_post(endpoint, model, True)
        self.window = asyncio.Semaphore(profile.open_window)
        # How many had already ended when the last one opened; -1 if they never were all open.
        self.all_open: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.opened = 0
        self.finished = 0
        self.samples = Samples()

    def _opened(self) -> None:
        self.window.release()
        self.opened += 1
        if self.opened == self.wanted and not self.all_open.done():
            self.all_open.set_result(self.finished)

    async def one(self) -> None:
        """Open one stream, read it to the end, check it."""
        await self.window.acquire()
        client: HttpClient | None = None
        opened = False

        def first() -> None:
            nonlocal opened
            opened = True
            self._opened()

        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                client = await HttpClient.connect(self.endpoint.address)
            wire = WIRES[self.endpoint.wire]
            reply = await client.send(self.request, watch=wire.content, on_first=first)
            problem = check_answer(wire, reply.status, reply.body, True, self.chunks)
            if problem:
                self.samples.failed(problem)
            else:
                self.samples.latencies.append(reply.last_ns)
        except (ProtocolError, OSError, TimeoutError) as exc:
            self.samples.failed(f"{type(exc).__name__}: {exc}")
            if not opened:  # it failed before its first chunk: free its place
                self.window.release()
        finally:
            self.finished += 1
            if self.finished == self.wanted and not self.all_open.done():
                self.all_open.set_result(-1)
            if client is not None:
                client.close()


async def hold_open(profile: ChatProfile, endpoint: Endpoint) -> OpenStreams:
    """Open many slow streams at once through ``endpoint``; sample its RSS while all are open."""
    streams = SlowStreams(endpoint, profile)
    result = OpenStreams(endpoint=endpoint.name, wanted=streams.wanted)
    rss_before, cpu_before = rss_mb(endpoint.pid), cpu_seconds(endpoint.pid)
    limit_s = (streams.chunks + 3) * profile.open_delay_ms / 1000 + 30
    start = time.perf_counter()
    tasks = [asyncio.create_task(streams.one()) for _ in range(streams.wanted)]
    ramp_s, rss_open, ended_early = math.nan, math.nan, -1
    try:
        async with asyncio.timeout(limit_s):
            ended_early = await streams.all_open
            ramp_s = time.perf_counter() - start
            if ended_early >= 0:
                rss_open = 0.0
                for _ in range(OPEN_SAMPLES):
                    rss_open = max(rss_open, rss_mb(endpoint.pid))
                    await asyncio.sleep(0.1)
            await asyncio.gather(*tasks)
    except TimeoutError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        result = replace(result, failure=f"the streams did not end in {limit_s:.0f} s")
    return replace(
        result,
        opened=streams.opened,
        open_at_once=streams.opened - ended_early if ended_early >= 0 else 0,
        completed=len(streams.samples.latencies),
        errors=streams.samples.errors,
        ramp_s=ramp_s,
        rss_before_mb=rss_before,
        rss_open_mb=rss_open,
        rss_after_mb=rss_mb(endpoint.pid),
        gateway_cpu_s=cpu_seconds(endpoint.pid) - cpu_before,
        first_error=streams.samples.first_error,
    )
