"""Time limits behind one timer: a Cutoff or a Deadline ends the block when it is due, not
before; dropped ones never ring; an alarm set again while others wait keeps their order."""

from __future__ import annotations

import asyncio

import pytest

from daemon.reliability import Policy
from daemon.timers import Alarms, Cutoff, Deadline


class Bell:
    """An alarm that records when it rang."""

    def __init__(self, loop: asyncio.AbstractEventLoop, rung: list[tuple[str, float]], name: str):
        self.loop, self.rung, self.name = loop, rung, name
        self.done = asyncio.Event()

    def ring(self) -> None:
        self.rung.append((self.name, self.loop.time()))
        self.done.set()


class Recurring(Bell):
    """An alarm that sets itself again the first time it rings, as a Deadline does."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        rung: list[tuple[str, float]],
        name: str,
        alarms: Alarms,
    ):
        super().__init__(loop, rung, name)
        self.alarms = alarms

    def ring(self) -> None:
        super().ring()
        if [name for name, _ in self.rung].count(self.name) == 1:
            self.alarms.set(self, self.loop.time() + 0.1, self.loop)


async def test_a_cutoff_ends_a_wait_at_its_deadline_with_timeout_error() -> None:
    loop = asyncio.get_running_loop()
    alarms = Alarms()
    start = loop.time()
    with pytest.raises(TimeoutError), Cutoff(start + 0.05, alarms):
        await asyncio.Event().wait()
    assert loop.time() - start >= 0.05 - 0.002


async def test_a_block_left_in_time_is_not_cancelled_later() -> None:
    loop = asyncio.get_running_loop()
    alarms = Alarms()
    with Cutoff(loop.time() + 0.03, alarms):
        pass
    later = Cutoff(loop.time() + 0.08, alarms)
    with pytest.raises(TimeoutError), later:  # the first one's alarm must not cut this one
        await asyncio.Event().wait()
    assert later.expired


async def test_alarms_ring_in_order_even_when_set_out_of_order_or_again_while_ringing() -> None:
    loop = asyncio.get_running_loop()
    alarms = Alarms()
    rung: list[tuple[str, float]] = []
    now = loop.time()
    late, early, dropped = (Bell(loop, rung, name) for name in ("late", "early", "dropped"))
    alarms.set(late, now + 0.09, loop)
    alarms.set(dropped, now + 0.01, loop)
    alarms.set(early, now + 0.03, loop)
    alarms.drop(dropped)

    again = Recurring(loop, rung, "again", alarms)
    alarms.set(again, now + 0.02, loop)
    await late.done.wait()
    while len(rung) < 4:
        again.done.clear()
        await again.done.wait()
    assert [name for name, _ in rung] == ["again", "early", "late", "again"]
    for name, at in rung[:3]:
        due = {"again": 0.02, "early": 0.03, "late": 0.09}[name]
        assert at >= now + due - 0.002, name


async def test_a_deadline_waits_while_data_comes_and_expires_when_it_stops() -> None:
    loop = asyncio.get_running_loop()
    policy = Policy(first_byte_timeout_ms=60, idle_timeout_ms=40)
    reads: list[float] = []
    start = loop.time()
    with pytest.raises(TimeoutError):
        await read_then_go_quiet(policy, Alarms(), reads)
    # Reads 20 ms apart kept it alive well past either limit; then none came for 40 ms.
    assert len(reads) == 6
    assert loop.time() - start >= 6 * 0.02 + 0.04 - 0.002


async def read_then_go_quiet(policy: Policy, alarms: Alarms, reads: list[float]) -> None:
    loop = asyncio.get_running_loop()
    with Cutoff() as limit, Deadline(limit, policy, alarms) as deadline:
        while len(reads) < 6:
            await _after(loop, 0.02)
            reads.append(loop.time())
            deadline.renew()
        await asyncio.Event().wait()


async def test_a_paused_deadline_never_expires() -> None:
    loop = asyncio.get_running_loop()
    alarms = Alarms()
    policy = Policy(first_byte_timeout_ms=20, idle_timeout_ms=20)
    with Cutoff() as limit, Deadline(limit, policy, alarms) as deadline:
        deadline.pause()  # a slow client: the provider is not to blame
        await _after(loop, 0.1)
    assert not limit.expired


async def _after(loop: asyncio.AbstractEventLoop, seconds: float) -> None:
    """Wait ``seconds`` on the loop's clock (a timer of the loop's own, not the alarms')."""
    done = loop.create_future()
    loop.call_later(seconds, done.set_result, None)
    await done
