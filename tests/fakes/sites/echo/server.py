"""The echo chat website: one page, a chat API that streams SSE, and knobs for every failure.

Routes: ``GET /`` and ``GET /c/{id}`` (the page; ``?model=`` picks the model),
``GET /static/app.js``, ``GET /api/models``, ``POST /api/chats/new``,
``POST /api/chat?chat=<id>`` (the completion: SSE frames ``{"type": "reasoning"|"text"|
"usage"|"done"|"error", ...}``), ``POST /api/stop`` (ends the chat's running stream).

The answer is ``ECHO: <prompt>`` (or the text after ``Reply with exactly:``) in
:attr:`Knobs.chunks` frames. Tests change :class:`Knobs` directly (plain attributes, read per
request) and read what the site saw in :class:`EchoSite` (``completions``, ``chats``,
``disconnects``, ``stops``, ``page_loads``, ``page_times``), waiting on it with
:meth:`EchoSite.wait_for`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.serving import FakeServer, reset
from tests.support.upstream import Threaded

STATIC = Path(__file__).parent / "static"
MODELS = [{"id": "echo-1"}, {"id": "echo-2"}, {"id": "echo-pro", "guest": False}]


@dataclass
class Knobs:
    """How the site behaves; read at each request, so a test may change them any time."""

    chunks: int = 4  # text frames per answer
    frame_delay_ms: int = 0
    first_byte_delay_ms: int = 0
    stall_after: int | None = None  # frames sent, then silence with the connection open
    abort_after: int | None = None  # frames sent, then a TCP reset
    no_terminator: bool = False  # the body ends without the done frame
    slow_page_ms: int = 0  # the page shows its input this long after loading
    challenge: bool = False  # the page shows a human check instead of sending
    login_wall: bool = False  # the page shows only a login wall
    popup: bool = False  # a modal ("Keep session") covers the page until dismissed
    layout: str = "normal"  # "changed": the prompt box is another element
    enter_sends: bool = True  # False: only the send button sends
    expired: int = 0  # the next n completions answer 401 (a fresh page is a fresh session)
    challenged: int = 0  # the next n completions answer a 200 JSON challenge
    rate_limited: int = 0  # the next n completions answer 429

    def page(self) -> dict[str, Any]:
        """What the page script needs of the knobs (window.ECHO)."""
        names = ("slow_page_ms", "challenge", "login_wall", "popup", "layout", "enter_sends")
        return {name: getattr(self, name) for name in names}


@dataclass
class Completion:
    """One POST /api/chat as the site saw it."""

    chat: str
    prompt: str
    model: str
    status: int = 200
    at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None


def answer_of(prompt: str) -> str:
    _, marker, tail = prompt.partition("Reply with exactly:")
    return tail.strip() if marker else f"ECHO: {prompt}"


def frame(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


class EchoSite(FakeServer):
    """The echo website on 127.0.0.1 (an ephemeral port)."""

    def __init__(self, knobs: Knobs | None = None) -> None:
        self.knobs = knobs or Knobs()
        self.base_url: str | None = None
        self.completions: list[Completion] = []
        self.chats: list[str] = []
        self.disconnects = 0
        self.stops = 0
        self.page_loads = 0
        self.page_times: list[float] = []  # time.monotonic() of each page load
        self._changed = asyncio.Condition()
        self._stopped: set[str] = set()
        self._runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/c/{id}", self._page)
        app.router.add_static("/static/", STATIC)
        app.router.add_get("/api/models", self._models)
        app.router.add_post("/api/chats/new", self._new_chat)
        app.router.add_post("/api/chat", self._chat)
        app.router.add_post("/api/stop", self._stop)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(
        self,
        check: Callable[[EchoSite], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        """Return once ``check(self)`` holds (re-checked on every change the site sees)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: check(self))

    async def _note(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _page(self, request: web.Request) -> web.Response:
        self.page_loads += 1
        self.page_times.append(time.monotonic())
        await self._note()
        html = (STATIC / "index.html").read_text()
        html = html.replace("__ECHO_CONFIG__", json.dumps(self.knobs.page()))
        return web.Response(text=html, content_type="text/html")

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"data": MODELS})

    async def _new_chat(self, request: web.Request) -> web.Response:
        chat = uuid.uuid4().hex[:12]
        self.chats.append(chat)
        await self._note()
        return web.json_response({"id": chat})

    async def _stop(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read() or b"{}")
        self._stopped.add(str(body.get("chat")))
        self.stops += 1
        await self._note()
        return web.json_response({"stopped": True})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        completion = Completion(str(body["chat"]), str(body["prompt"]), str(body["model"]))
        self.completions.append(completion)
        knobs = self.knobs
        refusal = self._refusal(knobs, completion)
        await self._note()
        if refusal is not None:
            return refusal
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        try:
            await self._stream(request, response, completion)
        except (asyncio.CancelledError, ConnectionResetError):
            self.disconnects += 1
            await asyncio.shield(self._note())
            raise
        completion.finished_at = time.monotonic()
        await self._note()
        return response

    def _refusal(self, knobs: Knobs, completion: Completion) -> web.Response | None:
        for name, status, body in (
            ("expired", 401, {"detail": "session expired"}),
            ("challenged", 200, {"challenge": "verify you are human"}),
            ("rate_limited", 429, {"detail": "slow down"}),
        ):
            if getattr(knobs, name) > 0:
                setattr(knobs, name, getattr(knobs, name) - 1)
                completion.status = status
                return web.json_response(body, status=status)
        return None

    async def _stream(
        self, request: web.Request, response: web.StreamResponse, completion: Completion
    ) -> None:
        knobs = self.knobs
        await asyncio.sleep(knobs.first_byte_delay_ms / 1000)
        await response.prepare(request)
        if completion.model == "echo-pro":
            await response.write(frame({"type": "error", "code": "model", "detail": "no guests"}))
            return
        answer = answer_of(completion.prompt)
        size = max(1, -(-len(answer) // max(1, knobs.chunks)))
        pieces = [answer[i : i + size] for i in range(0, len(answer), size)]
        frames = [frame({"type": "reasoning", "text": f"{len(completion.prompt)} chars."})]
        frames += [frame({"type": "text", "text": piece}) for piece in pieces]
        frames.append(frame({"type": "usage", "input": len(completion.prompt), "output": size}))
        for index, data in enumerate(frames):
            if completion.chat in self._stopped:
                break
            if index == knobs.stall_after:
                await asyncio.Event().wait()  # until the client goes away (cancelled)
            if index == knobs.abort_after:
                reset(request)
                raise ConnectionResetError("abort_after")
            await response.write(data)
            await asyncio.sleep(knobs.frame_delay_ms / 1000)
        self._stopped.discard(completion.chat)
        if not knobs.no_terminator:
            await response.write(frame({"type": "done"}))
        await response.write_eof()


class ThreadedEcho(Threaded[EchoSite]):
    """The echo site serving from a thread of its own (the daemon under test is another
    process); ``knobs`` may be changed from the test's thread."""

    def __init__(self, **knobs: Any) -> None:
        async def started() -> EchoSite:
            site = EchoSite(Knobs(**knobs))
            await site.start()
            return site

        super().__init__(started)

    @property
    def knobs(self) -> Knobs:
        return self.fake.knobs

    def configure(self, **changes: Any) -> None:
        """Set knobs (the rest back to their defaults)."""
        self.fake.knobs = dataclasses.replace(Knobs(), **changes)

    async def until(
        self,
        check: Callable[[EchoSite], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        """:meth:`EchoSite.wait_for` from the test's loop."""
        await self.wait(self.fake.wait_for(check, timeout))


def running_echo(**knobs: Any) -> ThreadedEcho:
    """A started :class:`ThreadedEcho`, stopped when its ``with`` block ends."""
    return ThreadedEcho(**knobs)
