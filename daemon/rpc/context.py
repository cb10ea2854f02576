"""What an RPC handler sees: the daemon's shared state and the caller's connection.

Handlers are plain ``async def handler(ctx: CallContext, params) -> result`` functions; they
never see aiohttp. Transports build one :class:`CallContext` per connection (WebSocket,
stdio) or per request (HTTP POST).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from daemon.config import Settings

if TYPE_CHECKING:
    from daemon.auth.service import Auth
    from daemon.routes import BridgeService
    from daemon.routing import Router

HealthStatus = Literal["ready", "degraded", "unavailable"]
_RANK: Mapping[str, int] = {"ready": 0, "degraded": 1, "unavailable": 2}


class Transport(StrEnum):
    HTTP = "http"
    WEBSOCKET = "websocket"


class ListenerInfo(TypedDict):
    kind: Literal["unix", "tcp"]
    address: str
    auth: Literal["peer-uid", "bearer"]
    activation: Literal["bound", "systemd"]


class _ComponentHealthBase(TypedDict):
    status: HealthStatus


class ComponentHealth(_ComponentHealthBase, total=False):
    detail: str


HealthCheck = Callable[[], Awaitable[ComponentHealth]]
Notify = Callable[[str, Mapping[str, Any]], Awaitable[None]]


def worst(statuses: list[HealthStatus]) -> HealthStatus:
    """The least ready of ``statuses`` (``ready`` when there are none)."""
    return max(statuses, key=_RANK.__getitem__, default="ready")


@dataclass(slots=True)
class DaemonState:
    """Process-wide state shared by every call; owned by the app's lifecycle."""

    settings: Settings
    version: str
    openrpc: dict[str, Any]
    router: Router | None = None
    auth: Auth | None = None
    bridges: BridgeService | None = None
    listeners: list[ListenerInfo] = field(default_factory=list)
    health_checks: dict[str, HealthCheck] = field(default_factory=dict)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_monotonic: float = field(default_factory=time.monotonic)
    draining: bool = False
    in_flight: set[asyncio.Task[Any]] = field(default_factory=set)
    pid: int = field(default_factory=os.getpid)

    started_at_text: str = field(init=False)

    def __post_init__(self) -> None:
        self.started_at_text = self.started_at.isoformat(timespec="seconds").replace("+00:00", "Z")

    def uptime_s(self) -> float:
        return time.monotonic() - self.started_monotonic

    def track(self, task: asyncio.Task[Any]) -> None:
        """Count ``task`` as in-flight work that a drain waits for."""
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)


class RunningCalls:
    """One connection's cancellable calls, by JSON-RPC request id (for chat.cancel)."""

    __slots__ = ("_cancelled", "_tasks")

    def __init__(self) -> None:
        self._tasks: dict[Any, asyncio.Task[Any]] = {}
        self._cancelled: set[Any] = set()

    def add(self, request_id: Any, task: asyncio.Task[Any]) -> None:
        self._tasks[request_id] = task

    def discard(self, request_id: Any) -> bool:
        """Forget the call; True when it ended because chat.cancel asked."""
        self._tasks.pop(request_id, None)
        if request_id in self._cancelled:
            self._cancelled.discard(request_id)
            return True
        return False

    def cancel(self, request_id: Any) -> bool:
        task = self._tasks.get(request_id)
        if task is None or task.done():
            return False
        self._cancelled.add(request_id)
        task.cancel()
        return True


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field
class CallContext:
    """The context jsonrpcserver passes as every handler's first argument.

    Transports make one per connection; the dispatcher adds the request's id to a copy.
    """

    daemon: DaemonState
    transport: Transport
    notify: Notify | None = None
    running: RunningCalls | None = None
    request_id: Any = None
