"""Lean clients for the chat load generator: HTTP/1.1 keep-alive and WebSocket on asyncio protocols.

The load generator shares one CPU with the fake upstream, so every microsecond it spends per
request is one the fake cannot use; aiohttp's client costs a few hundred microseconds per
request on the benchmark machine, these a few tens. Each connection carries one exchange at a
time. They speak only what the servers under test answer: a status line and headers, then a
body framed by ``Content-Length``, ``chunked`` encoding or the end of the connection; and
unfragmented or fragmented WebSocket frames (server frames unmasked, as RFC 6455 requires).

Times are ``perf_counter_ns`` taken when the event loop hands the bytes over.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

# A content delta that is not empty, in any of the gateways' JSON spellings (Chat Completions';
# other wires pass their own pattern to HttpClient.send).
CONTENT = re.compile(rb'"content": ?"[^"]')
_CARRY = 16  # bytes kept from one read to the next so that a split marker is still found
_LAST_CHUNK = b"\r\n0\r\n\r\n"
RETRY_CONNECT_S = 0.005
CONNECT_TIMEOUT_S = 10.0  # a load generator's connect, whatever the gateway
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

Address = tuple[Literal["unix"], str] | tuple[Literal["tcp"], str, int]


class ProtocolError(Exception):
    """The server's answer could not be read (or the connection dropped in the middle)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP exchange: status, body, and when the first content and the last byte came."""

    status: int
    body: bytes
    first_ns: int
    last_ns: int


def http_request(method: str, path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    """The bytes of one HTTP/1.1 request with a ``Content-Length`` body."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def open_connection(address: Address, protocol: asyncio.BaseProtocol) -> None:
    """Connect ``protocol`` to a Unix socket path or a TCP host and port.

    A Unix socket whose accept queue is full refuses at once (EAGAIN) where TCP would make
    the client wait; that is retried here every :data:`RETRY_CONNECT_S`, like a client would.
    """
    loop = asyncio.get_running_loop()
    if address[0] == "tcp":
        await loop.create_connection(lambda: protocol, address[1], address[2])
        return
    while True:
        try:
            await loop.create_unix_connection(lambda: protocol, address[1])
            return
        except BlockingIOError:
            await asyncio.sleep(RETRY_CONNECT_S)


class HttpClient(asyncio.Protocol):
    """One keep-alive connection; :meth:`send` one request at a time and await its reply."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = True
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Reply] | None = None
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._head_done = False
        self._length: int | None = None  # Content-Length
        self._chunked = False
        self._to_eof = False
        self._body = bytearray()
        self._first_ns = 0
        self._scan_from = 0
        self._watch: re.Pattern[bytes] | None = None
        self._close_after = False
        self._on_first: Callable[[], None] | None = None

    @classmethod
    async def connect(cls, address: Address) -> HttpClient:
        """A connected client."""
        client = cls()
        await open_connection(address, client)
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.closed = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._to_eof and self._head_done:
            self._finish()
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ProtocolError(f"connection lost ({exc or 'EOF'})"))

    def close(self) -> None:
        """Close the connection (a reply still awaited fails)."""
        if self.transport is not None:
            self.transport.close()

    async def send(
        self,
        request: bytes,
        *,
        watch: re.Pattern[bytes] | None = None,
        on_first: Callable[[], None] | None = None,
    ) -> Reply:
        """Send ``request`` and wait for the whole reply.

        With ``watch`` (e.g. :data:`CONTENT`) the reply's ``first_ns`` is when the body first
        matched it (``on_first`` is called then); otherwise it is when the headers did.
        """
        if self.closed or self.transport is None:
            raise ProtocolError("the connection is closed")
        self._reset()
        self._watch = watch
        self._on_first = on_first
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._waiter

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        self._buffer += data
        try:
            if not self._head_done and not self._read_head(now):
                return
            self._read_body(now)
        except (ValueError, ProtocolError) as exc:
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_exception(ProtocolError(str(exc)))
            self.close()

    def _read_head(self, now: int) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buffer[:end]).lower()
        del self._buffer[: end + 4]
        status_line, _, fields = head.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"http/1."):
            raise ProtocolError(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
        self._status = int(parts[1])
        self._head_done = True
        if self._watch is None:
            self._first_ns = now
        headers = dict(_header(line) for line in fields.split(b"\r\n") if b":" in line)
        self._close_after = headers.get(b"connection") == b"close"
        if b"chunked" in headers.get(b"transfer-encoding", b""):
            self._chunked = True
        elif b"content-length" in headers:
            self._length = int(headers[b"content-length"])
        else:
            self._to_eof = True
        return True

    def _read_body(self, now: int) -> None:
        body = self._body
        body += self._buffer
        self._buffer.clear()
        if self._watch is not None and not self._first_ns:
            if self._watch.search(body, self._scan_from):
                self._first_ns = now
                if self._on_first is not None:
                    self._on_first()
            self._scan_from = max(0, len(body) - _CARRY)
        if self._chunked:
            # The last chunk ends the body. Decoding waits until then: the servers' chunks are
            # JSON and SSE text, which never hold a bare CRLF, so the marker cannot come early.
            if body.endswith(_LAST_CHUNK) or body == _LAST_CHUNK[2:]:
                self._body = bytearray(decode_chunked(body))
                self._finish()
        elif self._length is not None and len(body) >= self._length:
            if len(body) > self._length:
                raise ProtocolError("more bytes than Content-Length")
            self._finish()

    def _finish(self) -> None:
        now = time.perf_counter_ns()
        if self._close_after:  # the server closes: the next request needs a new connection
            self.closed = True
            self.close()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            first = self._first_ns or now
            waiter.set_result(Reply(self._status, bytes(self._body), first, now))


def decode_chunked(raw: bytes | bytearray) -> bytes:
    """The payload of a complete ``chunked`` body (no trailers); ProtocolError if malformed."""
    out: list[bytes] = []
    view = memoryview(raw)
    position = 0
    while True:
        line_end = raw.find(b"\r\n", position)
        if line_end < 0:
            raise ProtocolError("a chunk size line is not terminated")
        size = int(bytes(view[position:line_end]).split(b";")[0], 16)
        start = line_end + 2
        if size == 0:
            if bytes(view[start:]) != b"\r\n":
                raise ProtocolError("unexpected bytes after the last chunk")
            return b"".join(out)
        if bytes(view[start + size : start + size + 2]) != b"\r\n":
            raise ProtocolError("a chunk is not followed by CRLF")
        out.append(bytes(view[start : start + size]))
        position = start + size + 2


def _header(line: bytes) -> tuple[bytes, bytes]:
    name, _, value = line.partition(b":")
    return name.strip(), value.strip()


class WsClient(asyncio.Protocol):
    """A WebSocket client connection: send text messages, receive them through a callback.

    ``on_message(data, now_ns)`` is called for every complete text or binary message; pings
    are answered; a close frame or a lost connection is passed to ``on_error`` once and fails
    every later :meth:`send`.
    """

    def __init__(
        self,
        on_message: Callable[[bytes, int], None],
        on_error: Callable[[ProtocolError], None] | None = None,
    ) -> None:
        self.on_message = on_message
        self.on_error = on_error
        self.transport: asyncio.Transport | None = None
        self.error: ProtocolError | None = None
        self._buffer = bytearray()
        self._upgraded: asyncio.Future[None] | None = None
        self._key = base64.b64encode(os.urandom(16))
        self._mask = os.urandom(4)
        self._fragments: list[bytes] = []

    @classmethod
    async def connect(
        cls,
        address: Address,
        path: str,
        host: str,
        on_message: Callable[[bytes, int], None],
        on_error: Callable[[ProtocolError], None] | None = None,
    ) -> WsClient:
        """Connect and complete the opening handshake."""
        client = cls(on_message, on_error)
        client._upgraded = asyncio.get_running_loop().create_future()
        await open_connection(address, client)
        assert client.transport is not None
        client.transport.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {client._key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await client._upgraded
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ProtocolError(f"WebSocket connection lost ({exc or 'EOF'})"))

    def _fail(self, error: ProtocolError) -> None:
        if self.error is not None:
            return
        self.error = error
        if self._upgraded is not None and not self._upgraded.done():
            self._upgraded.set_exception(error)
        elif self.on_error is not None:
            self.on_error(error)

    def close(self) -> None:
        """Send a close frame (1000) and close the connection."""
        if self.transport is not None and not self.transport.is_closing():
            self._write_frame(0x8, struct.pack("!H", 1000))
            self.transport.close()

    def send(self, payload: bytes) -> None:
        """Send one text message."""
        if self.error is not None:
            raise self.error
        self._write_frame(0x1, payload)

    def _write_frame(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        key = (self._mask * (size // 4 + 1))[:size]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")
        self.transport.write(head + self._mask + masked)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        self._buffer += data
        try:
            if self._upgraded is not None and not self._upgraded.done():
                if not self._read_handshake():
                    return
            while self._read_frame(now):
                pass
        except ProtocolError as exc:
            self._fail(exc)
            if self.transport is not None:
                self.transport.close()

    def _read_handshake(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buffer[:end])
        del self._buffer[: end + 4]
        accept = base64.b64encode(hashlib.sha1(self._key + _WS_GUID).digest())  # noqa: S324
        if not head.startswith(b"HTTP/1.1 101") or accept not in head:
            raise ProtocolError(f"WebSocket upgrade refused: {head[:200]!r}")
        assert self._upgraded is not None
        self._upgraded.set_result(None)
        return True

    def _read_frame(self, now: int) -> bool:
        buffer = self._buffer
        if len(buffer) < 2:
            return False
        first, second = buffer[0], buffer[1]
        size, offset = second & 0x7F, 2
        if size == 126:
            if len(buffer) < 4:
                return False
            size, offset = struct.unpack_from("!H", buffer, 2)[0], 4
        elif size == 127:
            if len(buffer) < 10:
                return False
            size, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
        if second & 0x80:
            raise ProtocolError("the server masked a frame")
        if len(buffer) < offset + size:
            return False
        payload = bytes(buffer[offset : offset + size])
        del buffer[: offset + size]
        self._frame(first & 0x80 != 0, first & 0x0F, payload, now)
        return True

    def _frame(self, fin: bool, opcode: int, payload: bytes, now: int) -> None:
        if opcode == 0x8:
            code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else 1005
            raise ProtocolError(f"the server closed the WebSocket ({code})")
        if opcode == 0x9:
            self._write_frame(0xA, payload)
            return
        if opcode == 0xA:
            return
        self._fragments.append(payload)
        if fin:
            message = b"".join(self._fragments)
            self._fragments.clear()
            self.on_message(message, now)
