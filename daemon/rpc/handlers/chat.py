"""The ``chat.*`` namespace: send (streamed as ``chat.delta`` notifications) and cancel."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

from daemon.adapters.checks import check_conversation
from daemon.adapters.types import ChatCall, Event, ReasoningDelta, TextDelta, ToolCallDelta
from daemon.errors import Cancelled, RequestInvalid
from daemon.routes import Route
from daemon.rpc.context import CallContext
from daemon.rpc.handlers.providers import router_of
from daemon.rpc.ids import next_id
from daemon.rpc.tool_order import ToolCallOrder


class SendParams(TypedDict, total=False):
    provider: str
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    toolChoice: Any
    stream: bool
    maxTokens: int
    temperature: float
    stopSequences: list[str]
    reasoning: str
    timeoutMs: int
    route: str
    conversationId: str
    apiKey: str


class CancelParams(TypedDict):
    requestId: str | int


def normalize_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool in DESIGN.md's shape, whether it came in that shape or OpenAI's."""
    spec = tool.get("function", tool) if tool.get("type") == "function" else tool
    normalized = {"name": spec["name"], "parameters": spec.get("parameters") or {"type": "object"}}
    if spec.get("description"):
        normalized["description"] = spec["description"]
    return normalized


def to_call(params: SendParams, *, stream: bool) -> ChatCall:
    """The normalized call for validated chat.send params."""
    check_conversation(params["messages"])
    return ChatCall(
        model=params.get("model", ""),
        messages=params["messages"],
        tools=[normalize_tool(tool) for tool in params.get("tools", [])],
        tool_choice=params.get("toolChoice"),
        max_tokens=params.get("maxTokens"),
        temperature=params.get("temperature"),
        reasoning=params.get("reasoning"),
        stream=stream,
        stop=tuple(params.get("stopSequences", ())),
    )


def delta_params(request_id: Any, event: Event) -> dict[str, Any] | None:
    """The chat.delta notification for one event (None for events only the answer carries)."""
    if isinstance(event, TextDelta):
        return {"requestId": request_id, "type": "text", "text": event.text}
    if isinstance(event, ReasoningDelta):
        if not event.text:
            return None  # a signature alone: the answer carries it
        return {"requestId": request_id, "type": "reasoning", "text": event.text}
    if isinstance(event, ToolCallDelta):
        delta: dict[str, Any] = {"requestId": request_id, "type": "toolCall", "index": event.index}
        if event.id:
            delta["id"] = event.id
        if event.name is not None:  # a call's first delta: ToolCallOrder gives it id and name
            delta["name"] = event.name
        delta["arguments"] = event.arguments
        return delta
    return None


class _Deltas:
    """The chat.delta notifications of one streamed call, tool calls in one order (each call's
    deltas together, its first with id and name: :class:`ToolCallOrder`)."""

    def __init__(self, ctx: CallContext) -> None:
        assert ctx.notify is not None
        self.notify = ctx.notify
        self.request_id = ctx.request_id
        self.order = ToolCallOrder()

    async def emit(self, events: list[Event]) -> None:
        await self._send(self.order.feed(events))

    async def end(self) -> None:
        """What the order still held when the upstream finished."""
        await self._send(self.order.end())

    async def _send(self, events: list[Event]) -> None:
        for event in events:
            params = delta_params(self.request_id, event)
            if params is not None:
                await self.notify("chat.delta", params)


async def send(ctx: CallContext, params: SendParams) -> dict[str, Any]:
    """chat.send: one completion through routing (an API or a website bridge, as ``route``
    allows); deltas first when streaming is possible."""
    router = router_of(ctx)
    stream = bool(params.get("stream")) and ctx.notify is not None
    call = to_call(params, stream=stream)
    deltas = _Deltas(ctx) if stream else None
    candidates = router.plan(params.get("provider"), params.get("model"))
    task = asyncio.current_task()
    running = ctx.running if ctx.request_id is not None else None
    if running is not None and task is not None:
        running.add(ctx.request_id, task)
    try:
        result = await router.chat(
            candidates,
            call,
            deltas.emit if deltas is not None else None,
            params.get("apiKey"),
            params.get("timeoutMs"),
            Route(params.get("route", Route.AUTO)),
            params.get("conversationId"),
        )
        if deltas is not None:
            await deltas.end()
    except asyncio.CancelledError:
        if running is not None and running.discard(ctx.request_id) and task is not None:
            task.uncancel()
            raise Cancelled("chat.cancel stopped this call") from None
        raise
    finally:
        if running is not None:
            running.discard(ctx.request_id)  # whatever the outcome, the call is over
    return {"id": next_id("chat-"), **result}


async def cancel(ctx: CallContext, params: CancelParams) -> dict[str, bool]:
    """chat.cancel: stop a chat.send running on this connection."""
    if ctx.running is None:
        raise RequestInvalid(
            "chat.cancel works on the WebSocket or stdio connection the call runs on",
            field="requestId",
        )
    return {"cancelled": ctx.running.cancel(params["requestId"])}
