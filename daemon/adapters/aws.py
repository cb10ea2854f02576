"""What talking to AWS takes: SigV4, the credential chain, eventstream frames, error answers.

botocore (the ``bedrock`` extra) does the signing, the chain and the frame checksums; it is
imported on first use, so a daemon without it starts, and only calls that need it fail, with
the command that installs it.
"""

from __future__ import annotations

import asyncio
import importlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from daemon.adapters import common
from daemon.adapters.types import HttpRequest
from daemon.errors import (
    ContextTooLong,
    CredentialsMissing,
    RateLimited,
    Unsupported,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamProtocol,
    UpstreamRejected,
    UpstreamUnavailable,
)
from daemon.log import scrub

INSTALL_HINT = "pip install 'switchboard[bedrock]'"
CHAIN_ENV_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE")
# Exception names (``:exception-type`` in a stream, ``x-amzn-ErrorType`` on an HTTP error),
# lower-cased; anything else is typed by its HTTP status and words.
_EXCEPTIONS: Mapping[str, type[UpstreamError]] = {
    "throttlingexception": RateLimited,
    "modelstreamerrorexception": UpstreamUnavailable,
    "internalserverexception": UpstreamUnavailable,
    "serviceunavailableexception": UpstreamUnavailable,
    "modelnotreadyexception": UpstreamUnavailable,
    "modeltimeoutexception": UpstreamUnavailable,
    "validationexception": UpstreamRejected,
    "resourcenotfoundexception": UpstreamRejected,
    "accessdeniedexception": UpstreamAuthFailed,
    "unrecognizedclientexception": UpstreamAuthFailed,
    "expiredtokenexception": UpstreamAuthFailed,
}


@dataclass(frozen=True, slots=True)
class AwsKeys:
    """AWS credentials frozen for one signature (botocore's signer reads these three names)."""

    access_key: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:  # keys must never reach a log line, even through repr
        return f"AwsKeys(session={self.token is not None})"


def botocore(module: str) -> Any:
    """``botocore.<module>``; Unsupported, naming the extra to install, when it is missing."""
    try:
        return importlib.import_module(f"botocore.{module}")
    except ImportError:
        raise Unsupported(
            f"Amazon Bedrock needs botocore, an optional extra: {INSTALL_HINT}",
            install=INSTALL_HINT,
        ) from None


def sign(request: HttpRequest, keys: AwsKeys, service: str, region: str) -> dict[str, str]:
    """``request``'s headers plus SigV4's: Authorization, X-Amz-Date, X-Amz-Security-Token.

    Every header given is signed, so each must be sent unchanged, and the URL byte for byte.
    """
    auth, awsrequest = botocore("auth"), botocore("awsrequest")
    signed = awsrequest.AWSRequest(
        method=request.method, url=request.url, data=request.body, headers=dict(request.headers)
    )
    auth.SigV4Auth(keys, service, region).add_auth(signed)
    return {str(name): str(value) for name, value in signed.headers.items()}


_chain: dict[str, Any] = {}  # "found": botocore's credentials object, once it found one


def forget_credentials() -> None:
    """Drop the cached AWS credentials; the next signed call looks the chain up again."""
    _chain.clear()


async def find_keys(provider_id: str, *, hint: str, env_keys: Sequence[str] = ()) -> AwsKeys:
    """Keys from the AWS credential chain (env, AWS_PROFILE, SSO, container, instance role).

    The chain may read files or call the network, so it runs in a thread; what it found is
    kept (refreshable credentials renew themselves, also in a thread). CredentialsMissing
    says ``hint`` (what to set) when the chain has nothing.
    """
    errors, sessions = botocore("exceptions"), botocore("session")
    try:
        found = _chain.get("found") or await asyncio.to_thread(
            lambda: sessions.get_session().get_credentials()
        )
        frozen = await asyncio.to_thread(found.get_frozen_credentials) if found else None
    except (errors.BotoCoreError, errors.ClientError) as exc:
        why = f"the AWS credential chain failed ({scrub(str(exc))[:200]})"
        raise _missing(provider_id, why, hint, env_keys) from None
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        raise _missing(provider_id, "no AWS credentials found", hint, env_keys)
    _chain["found"] = found
    return AwsKeys(frozen.access_key, frozen.secret_key, frozen.token or None)


def _missing(provider_id: str, why: str, hint: str, env_keys: Sequence[str]) -> CredentialsMissing:
    keys = list(dict.fromkeys([*env_keys, *CHAIN_ENV_KEYS]))
    return CredentialsMissing(
        f"{why} for {provider_id}: {hint}", provider=provider_id, envKeys=keys
    )


class Frame(NamedTuple):
    """One eventstream message: its headers (``:message-type``, ...) and its payload."""

    headers: Mapping[str, Any]
    payload: bytes


class FrameReader:
    """Splits eventstream bytes into frames as they arrive, checksums checked (botocore)."""

    def __init__(self) -> None:
        eventstream = botocore("eventstream")
        self._buffer = eventstream.EventStreamBuffer()
        # What botocore raises on a corrupt frame: its own errors, and struct's and decoding's.
        self._corrupt = (eventstream.ParserError, ValueError, KeyError, IndexError, struct.error)

    def feed(self, data: bytes) -> list[Frame]:
        """The frames ``data`` completes (none, or several); UpstreamProtocol on garbage."""
        self._buffer.add_data(data)
        try:
            return [Frame(message.headers, message.payload) for message in self._buffer]
        except self._corrupt:
            raise UpstreamProtocol("the event stream is corrupt (bad frame or checksum)") from None


def typed_error(
    message: str, kind: str, *, status: int, headers: Mapping[str, str] | None = None
) -> UpstreamError:
    """The typed error for an AWS exception ``kind`` (any case) with its ``message``."""
    body = {"message": message, "type": kind}
    error = common.error_from_body(body, status=status, headers=headers)
    if isinstance(error, ContextTooLong):
        return error
    typed = _EXCEPTIONS.get(kind.lower())
    return error if typed is None else typed(error.detail, **error.data)


def frame_error(frame: Frame) -> UpstreamError:
    """The typed error of an ``exception`` (or ``error``) frame in the middle of a stream."""
    if frame.headers.get(":message-type") == "error":  # eventstream's own: words in headers
        kind, message = frame.headers.get(":error-code", ""), frame.headers.get(":error-message")
    else:
        kind, message = frame.headers.get(":exception-type", ""), _message_of(frame.payload)
    return typed_error(str(message or ""), str(kind), status=200)


def _message_of(payload: bytes) -> str:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return ""
    return str(body.get("message") or body.get("Message") or "") if isinstance(body, dict) else ""


def map_error(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """The typed error for an HTTP error answer: ``{"message"}`` plus ``x-amzn-ErrorType``."""
    kind = next((v for k, v in headers.items() if k.lower() == "x-amzn-errortype"), "")
    return typed_error(_message_of(body), kind.partition(":")[0], status=status, headers=headers)
