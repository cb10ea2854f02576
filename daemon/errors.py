"""The daemon's one error tree.

Every error a caller can see is a :class:`DaemonError`; each class carries its JSON-RPC
``code``, a short ``message`` and ``next_step``, the thing the caller should do about it.
``rpc_schema/errors.json`` lists the same codes (a test keeps them in step).

    DaemonError
    ├── ProtocolError                 the JSON-RPC 2.0 spec's own codes
    │   ├── ParseError          -32700  the text is not JSON
    │   ├── InvalidRequest      -32600  not a request object, wrong ``jsonrpc``, empty batch
    │   ├── MethodNotFound      -32601
    │   ├── InvalidParams       -32602  ``data.field`` names the offending parameter
    │   └── InternalError       -32603  ``data.incident`` points at the log entry
    └── ServerError                   the implementation-defined range -32000..-32099
        ├── RequestTooLarge     -32001  body or frame over the configured limit
        ├── ShuttingDown        -32002  the daemon is draining; retry against the next one
        ├── ConfigInvalid       -32003  the config names a bad key or value (file, key, reason)
        ├── ListenerUnavailable -32004  the socket cannot be bound (another daemon holds it, ...)
        ├── AccessDenied        -32005  TCP without the bearer token, or from a web page
        └── DaemonUnreachable   -32006  (client side) no daemon answers on the socket
    RemoteError                       (client side) a code this version does not know

Third-party exceptions never cross this boundary raw: each integration translates its
library's exceptions into this tree in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

JsonValue = Any


class DaemonError(Exception):
    """Base of every error the daemon reports to a caller."""

    code: ClassVar[int] = -32000
    message: ClassVar[str] = "Server error"
    next_step: ClassVar[str] = "Check the daemon's log."

    def __init__(self, detail: str | None = None, **data: JsonValue) -> None:
        super().__init__(detail or self.message)
        self.detail = detail
        self.data: dict[str, JsonValue] = data
        self.wire: dict[str, JsonValue] | None = None

    def to_rpc(self) -> dict[str, JsonValue]:
        """The JSON-RPC ``error`` member for this error; never holds exception text."""
        if self.wire is not None:
            return self.wire
        data: dict[str, JsonValue] = {"nextStep": self.next_step, **self.data}
        if self.detail:
            data["detail"] = self.detail
        return {"code": self.code, "message": self.message, "data": data}


class ProtocolError(DaemonError):
    """An error defined by the JSON-RPC 2.0 specification itself."""


class ParseError(ProtocolError):
    code = -32700
    message = "Parse error"
    next_step = "Send one JSON value per request or frame, encoded as UTF-8."


class InvalidRequest(ProtocolError):
    code = -32600
    message = "Invalid Request"
    next_step = (
        'Send an object with "jsonrpc": "2.0", a string "method", optional "params" '
        '(array or object) and an optional "id"; a batch is a non-empty array of them.'
    )


class MethodNotFound(ProtocolError):
    code = -32601
    message = "Method not found"
    next_step = "Call rpc.discover for the list of methods."


class InvalidParams(ProtocolError):
    code = -32602
    message = "Invalid params"
    next_step = "Fix the field named in data.field; rpc.discover has every method's schema."


class InternalError(ProtocolError):
    code = -32603
    message = "Internal error"
    next_step = "Report the incident id; the daemon's log has the details under it."


class ServerError(DaemonError):
    """An implementation-defined server error (JSON-RPC range -32000..-32099)."""


class RequestTooLarge(ServerError):
    code = -32001
    message = "Request too large"
    next_step = "Send a smaller request, or raise the daemon's max_body_bytes / max_frame_bytes."


class ShuttingDown(ServerError):
    code = -32002
    message = "Daemon shutting down"
    next_step = "Reconnect and retry; the daemon (or its replacement) will answer shortly."


class ConfigInvalid(ServerError):
    code = -32003
    message = "Invalid configuration"
    next_step = "Fix the key named in data.key of the file named in data.file, then restart."

    def __init__(self, file: str, key: str, reason: str) -> None:
        super().__init__(f"{file}: {key}: {reason}", file=file, key=key, reason=reason)


class ListenerUnavailable(ServerError):
    code = -32004
    message = "Cannot listen"
    next_step = "Stop the other daemon (switchboard status shows it) or choose another --socket."


class AccessDenied(ServerError):
    code = -32005
    message = "Access denied"
    next_step = (
        "Over TCP send 'Authorization: Bearer <token>' with the token from the tcp-token file "
        "in the state dir; web pages may not call the daemon."
    )


class DaemonUnreachable(ServerError):
    code = -32006
    message = "Daemon not reachable"
    next_step = "Start it with 'switchboard serve' (or 'make run'), or check --socket."


class RemoteError(DaemonError):
    """An error whose code this client does not know; ``wire`` holds it as received."""


def from_rpc(error: Mapping[str, JsonValue]) -> DaemonError:
    """Client side: the JSON-RPC ``error`` member as an instance of its class in this tree."""
    by_code = {cls.code: cls for cls in error_classes() if cls is not RemoteError}
    cls = by_code.get(error.get("code"), RemoteError)  # type: ignore[arg-type]
    data = error.get("data")
    exc = cls.__new__(cls)
    detail = data.get("detail") if isinstance(data, dict) else None
    DaemonError.__init__(exc, detail if isinstance(detail, str) else str(error.get("message")))
    exc.data = dict(data) if isinstance(data, dict) else {}
    exc.wire = dict(error)
    return exc


def error_classes() -> list[type[DaemonError]]:
    """Every concrete error class with a code of its own, for the errors.json check."""
    seen: list[type[DaemonError]] = []
    stack: list[type[DaemonError]] = [DaemonError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__subclasses__() or cls is RemoteError:
            continue
        seen.append(cls)
    return sorted(seen, key=lambda c: c.code)
