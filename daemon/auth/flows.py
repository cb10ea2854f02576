"""Login flows in progress: start, wait, complete, cancel, expire. One registry per daemon.

A :class:`Flow` is what callers see (``auth.oauth.start``'s answer, ``wait``'s outcome); its
:class:`Driver` is the method behind it (browser, device, API key). A driver ends a flow by
calling :meth:`Flows.succeed` or :meth:`Flows.fail`; the registry stores the login, wakes
every waiter and tells every subscriber. Ended flows are remembered for a while, so a
``wait`` that comes late still learns the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol

import structlog

from daemon.auth.records import Login, now_ms
from daemon.errors import DaemonError, FlowNotFound, LoginFailed
from daemon.providers.model import LoginMethod

log = structlog.get_logger("daemon.auth")

REMEMBER_ENDED_S = 900.0
DEFAULT_WAIT_MS = 30_000


class FlowStatus(StrEnum):
    PENDING = "pending"
    COMPLETE = "complete"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


# A connection's notify function: (method, params), e.g. ("auth.oauth.status", outcome).
Listener = Callable[[str, Mapping[str, Any]], Awaitable[None]]
STATUS_NOTIFICATION = "auth.oauth.status"
Store = Callable[["Flow", Login], Awaitable[None]]


class Driver(Protocol):
    """The method behind a flow."""

    async def complete(self, flow: Flow, answer: Mapping[str, str]) -> Login:
        """Finish from what the caller pasted; FlowRejected leaves the flow open."""
        ...

    async def close(self) -> None:
        """Free what the method holds (a loopback port, a polling task)."""
        ...


@dataclass(eq=False)
class Flow:
    """One login in progress, as its callers see it."""

    provider: str
    account: str
    method: LoginMethod
    expires_at_ms: int
    interval_ms: int = 0
    url: str | None = None
    user_code: str | None = None
    verification_uri: str | None = None
    loopback: bool | None = None
    id: str = field(default_factory=lambda: "fl_" + secrets.token_urlsafe(12))
    status: FlowStatus = FlowStatus.PENDING
    error: dict[str, Any] | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    listeners: list[Listener] = field(default_factory=list)

    def started(self) -> dict[str, Any]:
        """``auth.oauth.start``'s answer."""
        shown = {
            "url": self.url,
            "userCode": self.user_code,
            "verificationUri": self.verification_uri,
            "loopback": self.loopback,
        }
        return {
            "flowId": self.id,
            "provider": self.provider,
            "account": self.account,
            "method": self.method.value,
            **{k: v for k, v in shown.items() if v is not None},
            "expiresAt": self.expires_at_ms,
            "intervalMs": self.interval_ms,
        }

    def outcome(self) -> dict[str, Any]:
        """``auth.oauth.wait``'s answer and the ``auth.oauth.status`` notification."""
        result: dict[str, Any] = {
            "flowId": self.id,
            "provider": self.provider,
            "status": self.status.value,
        }
        if self.status is FlowStatus.COMPLETE:
            result["account"] = self.account
        if self.error is not None:
            result["error"] = self.error
        return result


class Flows:
    """Every flow of this daemon; an async context manager in the app's lifecycle."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._flows: dict[str, Flow] = {}
        self._drivers: dict[str, Driver] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Flows:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for flow in list(self._flows.values()):
            if flow.status is FlowStatus.PENDING:
                await self._end(flow, FlowStatus.CANCELLED, None)
        for timer in self._timers.values():
            timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)  # none left pending at exit

    def add(self, flow: Flow, driver: Driver) -> Flow:
        """Register a started flow; it expires at ``flow.expires_at_ms``."""
        self._flows[flow.id] = flow
        self._drivers[flow.id] = driver
        delay = max(0.0, (flow.expires_at_ms - now_ms()) / 1000)
        loop = asyncio.get_running_loop()
        self._timers[flow.id] = loop.call_later(delay, lambda: self._spawn(self._expire(flow)))
        log.info("login_started", provider=flow.provider, method=flow.method.value, flow=flow.id)
        return flow

    def get(self, flow_id: str) -> Flow:
        try:
            return self._flows[flow_id]
        except KeyError:
            raise FlowNotFound(f"no login flow {flow_id!r}", flowId=flow_id) from None

    def subscribe(self, flow: Flow, listener: Listener | None) -> None:
        """Tell ``listener`` each time ``flow`` changes (WebSocket clients)."""
        if listener is not None and listener not in flow.listeners:
            flow.listeners.append(listener)

    async def wait(self, flow_id: str, timeout_ms: int | None) -> dict[str, Any]:
        """The flow's outcome once it ends, or its pending state after ``timeout_ms``."""
        flow = self.get(flow_id)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout((timeout_ms or DEFAULT_WAIT_MS) / 1000):
                await flow.ended.wait()
        return flow.outcome()

    async def complete(self, flow_id: str, answer: Mapping[str, str]) -> dict[str, Any]:
        """Finish a flow from a pasted answer; errors leave it as the driver decides.

        The work goes on when the caller hangs up meanwhile: the code may be spent by then,
        and only this exchange can still store the login it bought.
        """
        flow = self._pending(flow_id)
        finishing = asyncio.ensure_future(self._finish(flow, answer))
        self._tasks.add(finishing)
        finishing.add_done_callback(self._settled)
        await asyncio.shield(finishing)
        return flow.outcome()

    async def _finish(self, flow: Flow, answer: Mapping[str, str]) -> None:
        try:
            login = await self._drivers[flow.id].complete(flow, answer)
        except LoginFailed as exc:
            await self.fail(flow, exc)
            raise
        await self.succeed(flow, login)

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        # Retrieved here as its caller may have gone; a refusal was that caller's answer.
        error = None if task.cancelled() else task.exception()
        if error is not None and not isinstance(error, DaemonError):
            log.error("login_completion_failed", error=type(error).__name__)

    async def cancel(self, flow_id: str) -> dict[str, Any]:
        flow = self._pending(flow_id)
        await self._end(flow, FlowStatus.CANCELLED, None)
        return flow.outcome()

    async def succeed(self, flow: Flow, login: Login) -> None:
        """Store the login, then end the flow as complete (once; later calls do nothing)."""
        if flow.status is not FlowStatus.PENDING:
            return
        try:
            await self._store(flow, login)
        except DaemonError as exc:
            await self.fail(flow, exc)
            return
        await self._end(flow, FlowStatus.COMPLETE, None)

    async def fail(
        self, flow: Flow, error: DaemonError, status: FlowStatus = FlowStatus.FAILED
    ) -> None:
        if flow.status is FlowStatus.PENDING:
            await self._end(flow, status, error.to_rpc())

    def _pending(self, flow_id: str) -> Flow:
        flow = self.get(flow_id)
        if flow.status is not FlowStatus.PENDING:
            raise FlowNotFound(
                f"login flow {flow_id!r} has ended ({flow.status.value})",
                flowId=flow_id,
                status=flow.status.value,
            )
        return flow

    async def _expire(self, flow: Flow) -> None:
        if flow.status is FlowStatus.PENDING:
            error = LoginFailed("the login was not finished in time", provider=flow.provider)
            await self._end(flow, FlowStatus.EXPIRED, error.to_rpc())

    async def _end(self, flow: Flow, status: FlowStatus, error: dict[str, Any] | None) -> None:
        if flow.status is not FlowStatus.PENDING:  # a cancel won the race with a slow store
            return
        flow.status, flow.error = status, error
        flow.ended.set()
        if timer := self._timers.pop(flow.id, None):
            timer.cancel()
        await self._drivers[flow.id].close()
        log.info("login_ended", provider=flow.provider, flow=flow.id, status=status.value)
        asyncio.get_running_loop().call_later(REMEMBER_ENDED_S, self._forget, flow.id)
        await self._tell(flow)

    async def _tell(self, flow: Flow) -> None:
        message = flow.outcome()
        for listener in list(flow.listeners):
            try:
                await listener(STATUS_NOTIFICATION, message)
            except (ConnectionError, RuntimeError):  # that client has gone; the others remain
                flow.listeners.remove(listener)

    def _forget(self, flow_id: str) -> None:
        self._flows.pop(flow_id, None)
        self._drivers.pop(flow_id, None)

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def run(self, work: Awaitable[None]) -> None:
        """Run a driver's background work (a device poll) for as long as the daemon lives."""
        self._spawn(work)
