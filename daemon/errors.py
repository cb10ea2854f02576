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
        ├── DaemonUnreachable   -32006  (client side) no daemon answers on the socket
        ├── UnknownProvider     -32010  no such provider id or alias; data.suggestions
        ├── UnknownModel        -32011  the provider has no such model; data.suggestions
        ├── CredentialsMissing  -32012  no key in request, vault, config or env; data.envKeys
        ├── Unsupported         -32013  the provider cannot do what was asked (images, a family)
        ├── RequestInvalid      -32014  the request is malformed beyond its schema (bad tool, ...)
        └── UpstreamError       -32020..-32029  the provider failed; data.provider, data.status
            ├── UpstreamAuthFailed   -32020  the provider rejected the credential (401/403)
            ├── UpstreamRejected     -32021  the provider refused the request (400/404/422)
            ├── ContextTooLong       -32022  the conversation exceeds the model's context
            ├── RateLimited          -32023  429 after retries; data.retryAfterMs
            ├── UpstreamUnavailable  -32024  5xx or unreachable after retries; data.retryAfterMs
            ├── UpstreamTimeout      -32025  connect / first byte / idle / total timeout
            ├── UpstreamProtocol     -32026  the provider answered something unreadable
            └── CircuitOpen          -32027  too many failures lately; data.retryAfterMs
        ├── VaultUnavailable    -32040  the vault key or directory cannot be used (data.path)
        ├── VaultRecordInvalid  -32041  a record failed to decrypt; it was moved aside
        ├── NeedsLogin          -32042  the login expired or was revoked; data.command fixes it
        ├── ImportFailed        -32043  an official CLI's file is missing or unreadable
        ├── FlowNotFound        -32044  no such login flow (unknown, or ended and forgotten)
        ├── FlowRejected        -32045  wrong state, reused code, PKCE mismatch; flow still open
        ├── LoginNotAllowed     -32046  the method is not offered, or is opt-in and not enabled
        ├── LoginFailed         -32047  the authorization server failed or refused the login
        ├── KeyRejected         -32048  the provider refused the API key when it was checked
        └── BridgeError         -32050..-32059  a website bridge failed; data.site names it
            ├── BridgeChallenge      -32050  the site wants a person (captcha, slider, WAF check)
            ├── BridgeBroken         -32051  the page changed; data.element: what was not found
            ├── BridgeUnavailable    -32052  no Chromium, site unreachable, guest mode gone
            ├── BridgeBusy           -32053  the site's queue is full; data.queueSize
            └── NoDisplay            -32054  bridges.open with no display to show a window on
    Cancelled                   -32030  chat.cancel stopped the call
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


class UnknownProvider(ServerError):
    code = -32010
    message = "Unknown provider"
    next_step = "Use an id or alias from providers.list (data.suggestions lists close ones)."


class UnknownModel(ServerError):
    code = -32011
    message = "Unknown model"
    next_step = (
        "Pick a model from models.list for this provider (data.suggestions lists close ones)."
    )


class CredentialsMissing(ServerError):
    code = -32012
    message = "No credentials for this provider"
    next_step = (
        "Store a key with auth.apikey.set, set api_key in [providers.<id>], or export one of "
        "data.envKeys."
    )


class Unsupported(ServerError):
    code = -32013
    message = "Not supported by this provider"
    next_step = "Choose a provider or model that supports it (data.detail says what is missing)."


class RequestInvalid(ServerError):
    code = -32014
    message = "Invalid chat request"
    next_step = "Fix the part named in data.field."


class UpstreamError(ServerError):
    """The provider failed; ``data.provider`` and ``data.status`` say which and how.

    ``retryable``: the same request may succeed if sent again (routing retries it with
    backoff). ``falls_back``: another provider may succeed where this one failed (routing
    moves on to the fallbacks). A request the provider judged wrong does neither.
    """

    code = -32029
    message = "Provider error"
    next_step = "See data.detail; data.route lists every attempt."
    retryable: ClassVar[bool] = False
    falls_back: ClassVar[bool] = True


class UpstreamAuthFailed(UpstreamError):
    code = -32020
    message = "The provider rejected the credential"
    next_step = "Check or replace the key (auth.apikey.set) or log in again."


class UpstreamRejected(UpstreamError):
    code = -32021
    message = "The provider refused the request"
    next_step = (
        "Read data.detail (the provider's own words) and data.field (the request field it"
        " named, when it named one) and change the request."
    )
    falls_back = False


class ContextTooLong(UpstreamError):
    code = -32022
    message = "The conversation is too long for the model"
    next_step = "Shorten the messages or pick a model with a larger context window."
    falls_back = False


class RateLimited(UpstreamError):
    code = -32023
    message = "Rate limited by the provider"
    next_step = "Wait data.retryAfterMs, add keys to api_keys, or configure fallback_providers."
    retryable = True


class UpstreamUnavailable(UpstreamError):
    code = -32024
    message = "The provider is unavailable"
    next_step = "Retry after data.retryAfterMs or configure fallback_providers."
    retryable = True


class UpstreamTimeout(UpstreamError):
    code = -32025
    message = "The provider did not answer in time"
    next_step = "Retry, raise timeoutMs, or pick a faster model."
    retryable = True


class UpstreamProtocol(UpstreamError):
    code = -32026
    message = "The provider answered something unreadable"
    next_step = "Retry; if it persists the provider changed its API (report it)."


class CircuitOpen(UpstreamError):
    code = -32027
    message = "The provider is failing; calls are paused"
    next_step = "Retry after data.retryAfterMs or use another provider."


class VaultUnavailable(ServerError):
    code = -32040
    message = "Vault unavailable"
    next_step = "Check the vault key and the state directory's permissions (switchboard doctor)."


class VaultRecordInvalid(ServerError):
    code = -32041
    message = "Credential record unreadable"
    next_step = (
        "The record was moved aside; log in again or store the key again "
        "(switchboard login PROVIDER)."
    )


class NeedsLogin(ServerError):
    code = -32042
    message = "Login needed"
    next_step = "Run data.command (switchboard login PROVIDER), then retry."


class ImportFailed(ServerError):
    code = -32043
    message = "Nothing to import"
    next_step = "Log in with the official CLI first, or pass the file's path (data.path)."


class FlowNotFound(ServerError):
    code = -32044
    message = "No such login flow"
    next_step = "Start a new one with auth.oauth.start."


class FlowRejected(ServerError):
    code = -32045
    message = "The login answer was refused"
    next_step = "The flow is still open: finish it in the browser or paste the right URL or code."


class LoginNotAllowed(ServerError):
    code = -32046
    message = "This login is not available"
    next_step = (
        "Use one of data.methods, or enable the opt-in login in [oauth.<id>] (see data.note)."
    )


class LoginFailed(ServerError):
    code = -32047
    message = "The login failed"
    next_step = "Start the login again (switchboard login PROVIDER); data.detail says why."


class KeyRejected(ServerError):
    code = -32048
    message = "The provider refused the key"
    next_step = (
        "Check the key and try again; auth.apikey.set with validate: false stores it unchecked."
    )


class BridgeError(ServerError):
    """A website bridge failed; ``data.site`` names the site. Another provider may still
    answer (routing moves on to fallbacks unless output already reached the client)."""

    code = -32059
    message = "Website bridge error"
    falls_back: ClassVar[bool] = True


class BridgeChallenge(BridgeError):
    code = -32050
    message = "The website wants a person to pass a check"
    next_step = (
        "Call bridges.open {site} on a desktop, do what data.action says in the window, then retry."
    )


class BridgeBroken(BridgeError):
    code = -32051
    message = "The website changed"
    next_step = "Update switchboard; data.element names the part of the page that was not found."


class BridgeUnavailable(BridgeError):
    code = -32052
    message = "The website bridge is unavailable"
    next_step = "See data.detail: install Chromium, check the site is reachable, or use an API key."


class BridgeBusy(BridgeError):
    code = -32053
    message = "The website bridge is busy"
    next_step = "Retry when the calls ahead have finished (bridges.status shows the queue)."


class NoDisplay(BridgeError):
    code = -32054
    message = "No display for a browser window"
    next_step = "Run it in a desktop session (DISPLAY or WAYLAND_DISPLAY set) on this machine."


class Cancelled(DaemonError):
    code = -32030
    message = "Cancelled"
    next_step = "Nothing: the call was cancelled on request."


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
        if cls is RemoteError or (cls.__subclasses__() and cls is not UpstreamError):
            continue
        seen.append(cls)
    return sorted(seen, key=lambda c: c.code)
