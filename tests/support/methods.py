"""Methods that exist only in tests: the JSON-RPC spec's example methods and probes.

Each comes with its OpenRPC description, so the dispatcher validates their params exactly as
it does the daemon's own methods.
"""

from __future__ import annotations

import asyncio
from typing import Any

from daemon.rpc.context import CallContext
from daemon.rpc.dispatch import Handler

SECRET_IN_EXCEPTION = "sk-test-THISMUSTNEVERLEAK0123456789"
_NUMBER = {"type": "number"}


def _param(name: str, schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"name": name, "schema": schema, "required": required}


def _method(
    name: str, params: list[dict[str, Any]], result: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"name": name, "params": params, "result": {"name": "result", "schema": result or {}}}


class Probes:
    """State the probe methods share inside one daemon process."""

    def __init__(self) -> None:
        self.started = 0
        self.cancelled = 0
        self.started_event = asyncio.Event()
        self.cancelled_event = asyncio.Event()
        self.received: list[Any] = []

    async def subtract(self, ctx: CallContext, p: dict[str, Any]) -> Any:
        return p["minuend"] - p["subtrahend"]

    async def sum(self, ctx: CallContext, p: dict[str, Any]) -> Any:
        return sum(p.values())

    async def update(self, ctx: CallContext, p: dict[str, Any]) -> None:
        self.received.append(p)

    async def notify_hello(self, ctx: CallContext, p: dict[str, Any]) -> None:
        self.received.append(p)

    async def get_data(self, ctx: CallContext, p: dict[str, Any]) -> Any:
        return ["hello", 5]

    async def sleep(self, ctx: CallContext, p: dict[str, Any]) -> Any:
        self.started += 1
        self.started_event.set()
        try:
            await asyncio.sleep(p["ms"] / 1000)
        except asyncio.CancelledError:
            self.cancelled += 1
            self.cancelled_event.set()
            raise
        return {"slept": p["ms"]}

    async def wait_started(self, ctx: CallContext, p: dict[str, Any]) -> Any:
        while self.started < p["count"]:
            self.started_event.clear()
            await self.started_event.wait()
        return self.started

    async def wait_cancelled(self, ctx: CallContext, p: dict[str, Any]) -> Any:
        while self.cancelled < p["count"]:
            self.cancelled_event.clear()
            await self.cancelled_event.wait()
        return self.cancelled

    async def fail(self, ctx: CallContext, p: dict[str, Any]) -> Any:
        raise RuntimeError(f"upstream rejected key {SECRET_IN_EXCEPTION}")

    async def notify(self, ctx: CallContext, p: dict[str, Any]) -> Any:
        assert ctx.notify is not None, "notifications need a WebSocket"
        for index in range(p["count"]):
            await ctx.notify("test.tick", {"requestId": p.get("requestId"), "index": index})
        return p["count"]

    def table(self) -> tuple[dict[str, Handler], list[dict[str, Any]]]:
        """Handlers and their OpenRPC method descriptions."""
        numbers = [_param(f"n{i}", _NUMBER, required=False) for i in range(1, 9)]
        described = [
            (
                self.subtract,
                _method("subtract", [_param("minuend", _NUMBER), _param("subtrahend", _NUMBER)]),
            ),
            (self.sum, _method("sum", numbers)),
            (
                self.update,
                _method("update", [_param(f"a{i}", {}, required=False) for i in range(1, 6)]),
            ),
            (self.notify_hello, _method("notify_hello", [_param("n", _NUMBER)])),
            (self.get_data, _method("get_data", [])),
            (self.sleep, _method("test.sleep", [_param("ms", {"type": "integer", "minimum": 0})])),
            (
                self.wait_started,
                _method("test.wait_started", [_param("count", {"type": "integer"})]),
            ),
            (
                self.wait_cancelled,
                _method("test.wait_cancelled", [_param("count", {"type": "integer"})]),
            ),
            (self.fail, _method("test.fail", [])),
            (
                self.notify,
                _method(
                    "test.notify",
                    [_param("count", {"type": "integer"}), _param("requestId", {}, required=False)],
                ),
            ),
        ]
        return {d["name"]: h for h, d in described}, [d for _h, d in described]


def extended(openrpc: dict[str, Any], probes: Probes) -> tuple[dict[str, Handler], dict[str, Any]]:
    """The daemon's own methods plus the probes, with a matching OpenRPC document."""
    from daemon.rpc.handlers import METHODS

    handlers, described = probes.table()
    document = {**openrpc, "methods": [*openrpc["methods"], *described]}
    return {**METHODS, **handlers}, document
