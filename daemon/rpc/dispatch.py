"""One dispatcher for every transport: bytes in, bytes (or nothing) out.

The envelope (JSON, batch, request shape) is checked here so that each element of a batch
gets its own answer as the JSON-RPC 2.0 spec asks; each request is then dispatched by
jsonrpcserver over an explicit methods table. We call its per-request step
(``async_dispatcher.dispatch_request``) rather than its string-in entry point: that one
parses again and wraps a single request in ``asyncio.gather``, a Task per call that cost
more than the call itself (the version is pinned to 5.0.x in pyproject.toml for this).

Every handler is wrapped so that its params are validated against the OpenRPC schema first
(-32602 naming the field), a :class:`DaemonError` becomes its JSON-RPC error, and anything
else becomes -32603 with an incident id, its text only in the log.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import orjson
from jsonrpcserver import JsonRpcError, Success
from jsonrpcserver.async_dispatcher import dispatch_request
from jsonrpcserver.dispatcher import create_request, to_response
from jsonrpcserver.response import to_serializable_one
from jsonrpcserver.sentinels import NOID

from daemon.errors import (
    DaemonError,
    InternalError,
    InvalidRequest,
    MethodNotFound,
    ParseError,
)
from daemon.log import get_logger
from daemon.rpc.context import CallContext
from daemon.rpc.schema import ParamsValidator, compile_params

Handler = Callable[[CallContext, Any], Awaitable[Any]]
_ID_TYPES = (str, int, float, type(None))
log = get_logger("daemon.rpc")


@dataclass(frozen=True, slots=True)
class Method:
    """A handler joined to its OpenRPC params description."""

    name: str
    handler: Handler
    validate: ParamsValidator
    # jsonrpcserver binds every call's arguments to the method's signature; computing it from
    # this callable object each time costs more than the call itself, and the params schema
    # does the real checking, so the signature is given once: (context, *args, **kwargs).
    __signature__: ClassVar[inspect.Signature] = inspect.Signature(
        [
            inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_ONLY),
            inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
            inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD),
        ]
    )

    async def __call__(self, ctx: CallContext, *args: Any, **kwargs: Any) -> Any:
        try:
            result = await self.handler(ctx, self.validate(list(args) if args else kwargs))
        except DaemonError as exc:
            raise _as_rpc(exc) from None
        except Exception as exc:  # noqa: BLE001 - the one place that catches everything
            incident = uuid.uuid4().hex[:12]
            log.error("rpc_handler_failed", method=self.name, incident=incident, exc_info=exc)
            raise _as_rpc(InternalError(incident=incident)) from None
        return Success(result)


def _as_rpc(exc: DaemonError) -> JsonRpcError:
    error = exc.to_rpc()
    return JsonRpcError(error["code"], error["message"], error["data"])


def _error(exc: DaemonError, request_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": exc.to_rpc(), "id": request_id}


def _envelope_problem(item: Any) -> str | None:
    """Why ``item`` is not a JSON-RPC 2.0 request object, or None when it is one."""
    if not isinstance(item, dict):
        return "a request must be a JSON object"
    if item.get("jsonrpc") != "2.0":
        return 'member "jsonrpc" must be exactly "2.0"'
    if not isinstance(item.get("method"), str):
        return 'member "method" must be a string'
    if "params" in item and not isinstance(item["params"], list | dict):
        return 'member "params" must be an array or an object'
    if "id" in item and (not isinstance(item["id"], _ID_TYPES) or isinstance(item["id"], bool)):
        return 'member "id" must be a string, a number or null'
    extra = set(item) - {"jsonrpc", "method", "params", "id"}
    if extra:
        return f'unexpected member "{sorted(extra)[0]}"'
    return None


def expects_answer(raw: bytes | str) -> bool:
    """Whether the daemon answers this body: everything but valid notifications does."""
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return True
    items = parsed if isinstance(parsed, list) and parsed else [parsed]
    return any(_envelope_problem(item) is not None or "id" in item for item in items)


class Dispatcher:
    """Routes JSON-RPC text to handlers; one per daemon, shared by every transport."""

    def __init__(self, handlers: Mapping[str, Handler], openrpc: Mapping[str, Any]) -> None:
        described = {m["name"]: m for m in openrpc["methods"]}
        if set(described) != set(handlers):
            missing = sorted(set(described) ^ set(handlers))
            raise ValueError(f"handlers and OpenRPC methods differ: {missing}")
        components = openrpc.get("components", {})
        # Typed as jsonrpcserver's ``Methods`` (a plain dict of callables) that it takes.
        self.validators: dict[str, ParamsValidator] = {
            name: compile_params(described[name], components) for name in handlers
        }
        self.methods: dict[str, Callable[..., Any]] = {
            name: Method(name, handler, self.validators[name]) for name, handler in handlers.items()
        }

    async def handle(self, raw: bytes | str, ctx: CallContext) -> bytes | None:
        """Answer one body or frame; None when nothing is to be sent (notifications only)."""
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return orjson.dumps(_error(ParseError()))
        if isinstance(parsed, list):
            if not parsed:
                return orjson.dumps(_error(InvalidRequest("an empty batch")))
            answers = await asyncio.gather(*(self._one(item, ctx) for item in parsed))
            batch = [answer for answer in answers if answer is not None]
            return orjson.dumps(batch) if batch else None
        answer = await self._one(parsed, ctx)
        return None if answer is None else orjson.dumps(answer)

    @staticmethod
    def refuse(raw: bytes | str, exc: DaemonError) -> bytes | None:
        """Answer every request in ``raw`` with ``exc`` without running anything."""
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return orjson.dumps(_error(ParseError()))
        items = parsed if isinstance(parsed, list) else [parsed]
        ids = [item.get("id") for item in items if isinstance(item, dict) and "id" in item]
        answers = [_error(exc, i if isinstance(i, _ID_TYPES) else None) for i in ids]
        if not answers:
            return None
        return orjson.dumps(answers if isinstance(parsed, list) else answers[0])

    async def _one(self, item: Any, ctx: CallContext) -> dict[str, Any] | None:
        problem = _envelope_problem(item)
        if problem is not None:
            request_id = item.get("id") if isinstance(item, dict) else None
            valid_id = isinstance(request_id, _ID_TYPES) and not isinstance(request_id, bool)
            return _error(InvalidRequest(problem), request_id if valid_id else None)
        if item["method"] not in self.methods:
            return _error(MethodNotFound(item["method"]), item["id"]) if "id" in item else None
        request = create_request(item)
        if "id" in item:  # a new context directly: dataclasses.replace walks every field
            ctx = CallContext(ctx.daemon, ctx.transport, ctx.notify, ctx.running, item["id"])
        request, result = await dispatch_request(self.methods, ctx, request)
        if request.id is NOID:
            return None
        return cast(dict[str, Any], to_serializable_one(to_response(request, result)))
