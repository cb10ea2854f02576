"""The time limits of a call, for the price of a dict entry each.

:class:`Cutoff` is ``asyncio.timeout`` as a plain ``with`` block; :class:`Deadline` moves a
first-byte, then idle, limit along a stream; :class:`Alarms` keeps all of their deadlines on one
loop behind one timer. Every call enters two or three of these: a timer handle made and
cancelled for each cost 3.5 us, about 2% of a call's whole cost in the daemon.
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType
from typing import Protocol

from daemon.reliability import Policy

# A loop's timer may fire this early (uvloop counts in milliseconds): an alarm due within it
# rings, rather than arming the timer again and again until the clock gets there.
_EARLY_S = 0.001


class Alarm(Protocol):
    """Something :class:`Alarms` wakes at its time."""

    def ring(self) -> None: ...


class Alarms:
    """The deadlines of a loop's Cutoffs and Deadlines, behind one timer.

    Setting an alarm records its time; the timer is moved only for an alarm earlier than every
    other one (calls' limits are mostly "now plus a constant", so each later than the last).
    Dropping one forgets it: the timer may then wake for nothing, once, and re-arms for the
    earliest alarm left. Bound to the loop of the first alarm set.
    """

    __slots__ = ("_due", "_loop", "_timer", "_wake")

    def __init__(self) -> None:
        self._due: dict[Alarm, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._wake = math.inf

    def set(self, alarm: Alarm, when: float, loop: asyncio.AbstractEventLoop) -> None:
        """Ring ``alarm`` at ``when`` on ``loop``'s clock (instead of any earlier setting)."""
        self._due[alarm] = when
        if when < self._wake:
            self._loop = loop
            self._arm(when)

    def drop(self, alarm: Alarm) -> None:
        """Forget ``alarm`` (it may have rung already)."""
        self._due.pop(alarm, None)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        assert self._loop is not None
        self._wake = when
        self._timer = self._loop.call_at(when, self._ring)

    def _ring(self) -> None:
        assert self._loop is not None
        self._timer, self._wake = None, math.inf
        now = self._loop.time() + _EARLY_S
        ringing = [alarm for alarm, when in self._due.items() if when <= now]
        for alarm in ringing:
            del self._due[alarm]
        if self._due:
            self._arm(min(self._due.values()))
        for alarm in ringing:
            alarm.ring()  # may set itself again


class Cutoff:
    """``asyncio.timeout`` for the running task, as a plain ``with`` block.

    :meth:`expire` (rung by ``alarms`` when a deadline on the loop's clock is given, or called
    by a :class:`Deadline`) cancels the task; leaving the block turns that cancellation into
    TimeoutError unless someone else cancelled the task too, exactly as ``asyncio.timeout``
    does. That one costs 3.5 us entered and left, 6.5 us with a deadline (its awaitable enter
    and exit, its state machine, its timer handle), on every call; this is two calls and,
    with a deadline, a dict entry.
    """

    __slots__ = ("_alarms", "_cancelling", "_task", "_when", "expired")

    def __init__(self, when: float | None = None, alarms: Alarms | None = None) -> None:
        task = asyncio.current_task()
        assert task is not None, "a cutoff cancels the task it runs in"
        assert when is None or alarms is not None, "a deadline needs the alarms to keep it"
        self._task = task
        self._when = when
        self._alarms = alarms
        self._cancelling = 0
        self.expired = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the task runs on (on Python 3.11 each ``get_running_loop`` is a getpid)."""
        return self._task.get_loop()

    def __enter__(self) -> Cutoff:
        self._cancelling = self._task.cancelling()
        if self._when is not None and self._alarms is not None:
            self._alarms.set(self, self._when, self._task.get_loop())
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._when is not None and self._alarms is not None:
            self._alarms.drop(self)
        if (
            self.expired
            and self._task.uncancel() <= self._cancelling
            and kind is asyncio.CancelledError
        ):
            raise TimeoutError from exc

    def ring(self) -> None:
        self.expire()

    def expire(self) -> None:
        """Cancel the task now (once)."""
        if not self.expired:
            self.expired = True
            self._task.cancel()


class Deadline:
    """The first-byte, then idle, limit of one attempt, for the price of a float per read.

    Moving a timeout on every event would move an alarm (twice per event when a client is
    streaming: paused, then renewed). Here renewing only records the time; one alarm rings when
    the limit would have expired, is set again for the limit as it stands by then, and expires
    its :class:`Cutoff` (which does the cancelling) only when no data came for that long.
    Paused, it never expires.

    No renewal ever has to move the alarm either: it never sleeps longer than the idle limit,
    and a renewal at ``t`` sets the limit to ``t`` plus that (no earlier than the alarm). Before
    the first byte it so rings every idle period on its way to the first-byte limit (once, with
    the defaults).
    """

    __slots__ = ("_alarms", "_at", "_idle_s", "_limit", "_loop", "_paused")

    def __init__(self, limit: Cutoff, policy: Policy, alarms: Alarms) -> None:
        self._limit = limit
        self._alarms = alarms
        self._loop = limit.loop
        self._idle_s = policy.idle_timeout_ms / 1000
        self._paused = False
        self._at = self._loop.time() + policy.first_byte_timeout_ms / 1000

    def __enter__(self) -> Deadline:
        self._arm(self._loop.time())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._alarms.drop(self)

    def pause(self) -> None:
        self._paused = True

    def renew(self) -> None:
        self._paused = False
        self._at = self._loop.time() + self._idle_s

    def _arm(self, now: float) -> None:
        wake = now + self._idle_s if self._paused else min(self._at, now + self._idle_s)
        self._alarms.set(self, wake, self._loop)

    def ring(self) -> None:
        now = self._loop.time()
        if self._paused or now + _EARLY_S < self._at:
            self._arm(now)
        else:
            self._limit.expire()
