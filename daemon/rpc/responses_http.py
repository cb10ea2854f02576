"""The OpenAI Responses endpoint: ``POST /v1/responses``, as JSON or SSE.

A sibling of ``/v1/chat/completions`` and ``/v1/messages``: the model is ``provider/model`` or a
bare model, the body becomes chat.send params checked by chat.send's schema
(:mod:`daemon.rpc.responses_wire`), and the call goes through the same router; the answer comes
back as a ``response`` object or its event stream (:mod:`daemon.rpc.responses_output`), errors in
OpenAI's ``{"error": {...}}`` shape. A stream's headers go out only with its first event, so a
failure before that (every retry and fallback included) still gets its own HTTP status; after
it, a failure is an ``error`` event and ``response.failed`` in band.

Nothing is stored: a request stands on its own (``store: false`` with the whole conversation,
as Codex CLI sends it). The client's ``Authorization`` is never a provider credential; over TCP
it carries the daemon's token.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import orjson
from aiohttp import web

from daemon.adapters.types import Event, Wire
from daemon.errors import DaemonError
from daemon.rpc.compat import LazyStream, forwarded, json_error, prepare, receive, router_of
from daemon.rpc.ids import next_id
from daemon.rpc.responses_output import StreamEncoder, response, response_head
from daemon.rpc.responses_wire import check_refused, error_body, to_send_params


class _Stream(LazyStream):
    """Writes a chat's events as Responses SSE events, opening the response lazily."""

    def __init__(self, request: web.Request, head: Mapping[str, Any]) -> None:
        super().__init__(request, error_body)
        self.encoder = StreamEncoder(head)

    def opening(self) -> list[bytes]:
        return self.encoder.start()

    def error_frame(self, exc: DaemonError) -> bytes:
        return self.encoder.fail(exc)

    async def emit(self, events: list[Event]) -> None:
        frames = self.encoder.feed(events)
        if frames:  # until there is content, a failure can still have its own HTTP status
            await self.send(frames)

    async def finish(self, result: Mapping[str, Any]) -> web.StreamResponse:
        try:
            frames = self.encoder.finish(result)
        except DaemonError as exc:  # an answer the wire cannot end (a call without a name)
            return await self.fail(exc)
        return await self.close(frames)


class _Relayed(LazyStream):
    """A provider's own Responses events relayed: a failure after them is an ``error`` event
    and ``response.failed`` naming the provider's response, numbered after its last event."""

    def __init__(self, request: web.Request, body: Mapping[str, Any], model: str) -> None:
        super().__init__(request, error_body)
        self.body, self.model = body, model
        self.first = self.last = b""  # the first and the latest read relayed

    async def relay(self, frames: list[bytes]) -> web.StreamResponse:
        if self.response is None:
            self.first = frames[0]
        self.last = frames[-1]
        return await super().relay(frames)

    def error_frame(self, exc: DaemonError) -> bytes:
        head = _data(self.first, first=True).get("response")
        if not isinstance(head, dict):  # (the provider opened with something else)
            head = response_head(self.body, self.model, next_id("resp_"))
        encoder = StreamEncoder(head)
        number = _data(self.last, first=False).get("sequence_number")
        encoder.sequence = number + 1 if isinstance(number, int) else 0
        return encoder.fail(exc)


def _data(frames: bytes, *, first: bool) -> dict[str, Any]:
    """The data of the first or the last event in ``frames``; {} when it is not an object."""
    parts = frames.partition(b"\ndata: ") if first else frames.rpartition(b"\ndata: ")
    try:
        data = orjson.loads(parts[2].partition(b"\n")[0])
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


async def responses(request: web.Request) -> web.StreamResponse:
    """``POST /v1/responses``: one chat through the router, as a response or as its events."""
    router = router_of(request)
    try:
        received = await receive(request)

        relayed = partial(_Relayed, request, received.body, received.requested)
        whole = await forwarded(request, received, Wire.RESPONSES, relayed, refuse=check_refused)
        if whole is not None:
            return whole
        prepared = prepare(request, received, to_send_params)
        head = response_head(prepared.body, prepared.requested, next_id("resp_"))
        if not prepared.call.stream:  # refused, failed or answered: all before any byte is sent
            result = await router.chat(
                prepared.candidates, prepared.call, None, route=prepared.route
            )
            answer = response(result, head)
            return web.Response(body=orjson.dumps(answer), content_type="application/json")
    except DaemonError as exc:
        return json_error(exc, error_body)
    writer = _Stream(request, head)
    try:
        result = await router.chat(
            prepared.candidates, prepared.call, writer.emit, route=prepared.route
        )
    except DaemonError as exc:
        return await writer.fail(exc)
    return await writer.finish(result)
