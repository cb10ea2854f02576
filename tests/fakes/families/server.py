"""One offline server that speaks every family's wire, each under its own URL prefix.

``FakeFamilies`` mounts each :class:`~tests.fakes.families.wire.Wire` of :data:`WIRES` at its
prefix. A request is checked the family's way (credential, JSON body, the family's rules), then
answered from :func:`~tests.fakes.families.script.plan` as JSON, as a stream, or with the fault
its model string asks for. Every request is recorded; disconnects of streams are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.families.script import (
    FAULT_MESSAGES,
    HTTP_FAULTS,
    MID_STREAM_MESSAGE,
    RequestRejected,
    Script,
    Turn,
    plan,
)
from tests.fakes.families.wire import Handler, Request, Wire
from tests.fakes.serving import GARBAGE_HTML, reset, until_signal

# The wire modules, by family; each defines WIRE. Loaded by path so one module per family stays
# independent of the others.
WIRE_MODULES = (
    "tests.fakes.families.openai_completions",
    "tests.fakes.families.azure_openai",
    "tests.fakes.families.anthropic_messages",
    "tests.fakes.families.google_generative_ai",
    "tests.fakes.families.openai_responses",
    "tests.fakes.families.cohere_chat",
    "tests.fakes.families.bedrock_converse",
    "tests.fakes.families.google_vertex",
    "tests.fakes.families.google_vertex_anthropic",
    # Login-bound families: the APIs a subscription login calls, signed in by an import.
    "tests.fakes.families.openai_codex",
    "tests.fakes.families.google_gemini_cli",
    "tests.fakes.families.github_copilot",
    "tests.fakes.families.qwen_portal",
    "tests.fakes.families.kimi_coding",
    "tests.fakes.families.minimax_portal",
)
FAKE_MODELS = ["fake-model", "fake-model-large"]


def load_wires() -> list[Wire]:
    """Every family's Wire, in WIRE_MODULES order."""
    return [importlib.import_module(path).WIRE for path in WIRE_MODULES]


def family_key(wire: Wire) -> str:
    """The one credential the fake accepts for ``wire``'s family (a made-up test key)."""
    return f"contract-key-{wire.family}-0000"


def daemon_config(
    base_url: str, wires: list[Wire], reliability: str = "", *, bases_from_logins: bool = False
) -> str:
    """Daemon config sending each family's provider to its mount, with its key and options;
    a login-bound family's ``[oauth.<id>]`` points its login's endpoints at the fake too.

    ``bases_from_logins``: no base URL for a provider whose login names its API base, so a
    call reaches the fake only through the base the login named (with a key instead, it would
    go to the catalog's real host: only for tests that use the login)."""
    tables = []
    for wire in wires:
        names_base = bases_from_logins and wire.sign_in is not None and wire.sign_in.names_base
        lines = [
            f"[providers.{wire.provider}]",
            *([] if names_base else [f'base_url = "{base_url}{wire.mount}{wire.base_path}"']),
            *([f'api_key = "{family_key(wire)}"'] if wire.uses_api_key else []),
            *(f'{key} = "{value}"' for key, value in wire.options_at(base_url).items()),
        ]
        tables.append("\n".join(lines))
        if wire.sign_in is not None:
            oauth = wire.sign_in.oauth(base_url).items()
            tables.append("\n".join([f"[oauth.{wire.provider}]", *(_toml(k, v) for k, v in oauth)]))
    return "\n\n".join(tables) + f"\n\n[reliability]\n{reliability}\n"


def _toml(key: str, value: str | bool) -> str:
    return f"{key} = {str(value).lower()}" if isinstance(value, bool) else f'{key} = "{value}"'


@dataclass(frozen=True)
class Seen:
    """One request the fake received."""

    family: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeFamilies:
    """The fake server: ``await fake.start()``, then ``fake.base_url + wire.mount``."""

    def __init__(self, wires: list[Wire], key: Callable[[Wire], str] = family_key) -> None:
        self.wires = wires
        self.key = key  # the credential each family's fake accepts
        self.seen: list[Seen] = []
        self.missed: list[str] = []  # paths no family serves, answered 404 as aiohttp does
        self.disconnects = 0
        self.base_url = ""
        self._disconnected = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._gates: dict[str, asyncio.Event] = {}
        self.app = web.Application(client_max_size=8 << 20)
        for wire in wires:
            if wire.count_route is not None:
                self.app.router.add_post(wire.mount + wire.count_route, self._count(wire))
            for method, path in wire.routes:
                self.app.router.add_route(method, wire.mount + path, self._handler(wire))
            if wire.models_route is not None:
                self.app.router.add_get(wire.mount + wire.models_route, self._models(wire))
            for method, path, handler in wire.extra_routes:
                self.app.router.add_route(method, wire.mount + path, handler)
        self.app.router.add_route("*", "/{anything:.*}", self._missed)

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 (``port`` 0: any free one); return the base URL."""
        runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        port = next(a for a in runner.addresses if isinstance(a, tuple))[1]
        self._runner = runner
        self.base_url = f"http://127.0.0.1:{port}"
        for wire in self.wires:
            wire.options_at(self.base_url)  # a wire's setup makes what it needs now
        return self.base_url

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
            for wire in self.wires:
                if wire.teardown is not None:
                    wire.teardown(self.base_url)

    async def wait_disconnect(self, count: int, timeout: float = 5.0) -> int:  # noqa: ASYNC109
        """Wait until ``count`` streams in total were dropped by the client."""
        async with asyncio.timeout(timeout):
            while self.disconnects < count:
                await self._disconnected.wait()
        return self.disconnects

    async def release(self, scenario: str) -> None:
        """Let the stream of ``scenario`` go on to its fault (the test saw its first part)."""
        self._gate(scenario).set()

    def _gate(self, scenario: str | None) -> asyncio.Event:
        return self._gates.setdefault(scenario or "", asyncio.Event())

    def requests_for(self, marker: str) -> list[Seen]:
        """The requests whose body or path mentions ``marker`` (a scenario id, say)."""
        return [s for s in list(self.seen) if marker in s.path or marker in json.dumps(s.body)]

    def _handler(self, wire: Wire) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            headers = {k.lower(): v for k, v in request.headers.items()}
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return _error(wire, 400, "The body is not valid JSON.")
            self.seen.append(Seen(wire.family, request.method, request.path, headers, body))
            if not wire.authorized(headers, request.query, self.key(wire)):
                return _error(wire, 401, FAULT_MESSAGES[401])
            try:
                turn = wire.read(Request(request.match_info, request.query, headers, body))
                fault = turn.options.fault
                script = plan(turn)
            except RequestRejected as exc:
                return _refused(wire, exc)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                return _error(wire, 400, f"malformed request ({type(exc).__name__}: {exc})")
            if fault in HTTP_FAULTS:
                return _error(wire, HTTP_FAULTS[fault], FAULT_MESSAGES[HTTP_FAULTS[fault]])
            if fault == "garbage":
                return web.Response(text=GARBAGE_HTML, content_type="text/html")
            if fault == "reset":
                reset(request)
                return web.Response()
            if not turn.stream:
                return web.Response(body=wire.json_body(script, turn), content_type=_JSON)
            return await self._stream(request, wire, script, turn, fault)

        return handle

    async def _missed(self, request: web.Request) -> web.StreamResponse:
        self.missed.append(request.path)
        raise web.HTTPNotFound()

    def _count(self, wire: Wire) -> Handler:
        async def count(request: web.Request) -> web.StreamResponse:
            headers = {k.lower(): v for k, v in request.headers.items()}
            try:
                body = await request.json()
            except ValueError:
                return _error(wire, 400, "The body is not valid JSON.")
            self.seen.append(Seen(wire.family, request.method, request.path, headers, body))
            if not wire.authorized(headers, request.query, self.key(wire)):
                return _error(wire, 401, FAULT_MESSAGES[401])
            assert wire.count_tokens is not None
            asked = Request(request.match_info, request.query, headers, body)
            try:
                answer = wire.count_tokens(asked)
            except RequestRejected as exc:
                return _refused(wire, exc)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                return _error(wire, 400, f"malformed request ({type(exc).__name__}: {exc})")
            return web.Response(body=answer, content_type=_JSON)

        return count

    def _models(self, wire: Wire) -> Handler:
        async def models(request: web.Request) -> web.StreamResponse:
            headers = {k.lower(): v for k, v in request.headers.items()}
            if not wire.authorized(headers, request.query, self.key(wire)):
                return _error(wire, 401, FAULT_MESSAGES[401])
            assert wire.models_body is not None
            page = wire.models_body(FAKE_MODELS, request.query)
            return web.Response(body=page, content_type=_JSON)

        return models

    async def _stream(
        self, request: web.Request, wire: Wire, script: Script, turn: Turn, fault: str | None
    ) -> web.StreamResponse:
        frames = wire.stream_frames(script, turn)
        response = web.StreamResponse(headers={"Content-Type": wire.stream_content_type})
        await response.prepare(request)
        try:
            if fault is None:
                for frame in frames:
                    await response.write(frame)
                await response.write_eof()
                return response
            for frame in frames[: max(1, len(frames) // 2)]:
                await response.write(frame)
            if fault == "malformed":
                half = len(frames) // 2
                for frame in [wire.corrupt(frames[half]), *frames[half + 1 :]]:
                    await response.write(frame)
                await response.write_eof()
                return response
            if fault != "stall":  # the fault waits until the client surely has the first part
                await self._gate(turn.options.scenario).wait()
            if fault == "mid_error" and wire.stream_error is not None:
                await response.write(wire.stream_error(MID_STREAM_MESSAGE))
                await response.write_eof()
                return response
            if fault == "stall":
                await self._closing.wait()
            reset(request)
            return response
        except (asyncio.CancelledError, ConnectionError):
            self.disconnects += 1
            self._disconnected.set()
            self._disconnected = asyncio.Event()
            raise


_JSON = "application/json"


def _error(wire: Wire, status: int, message: str) -> web.Response:
    headers = {"Retry-After": "0"} if status == 429 else None
    return web.Response(
        status=status, body=wire.error_body(status, message), content_type=_JSON, headers=headers
    )


def _refused(wire: Wire, rejected: RequestRejected) -> web.Response:
    if rejected.plain:  # a gateway's bare sentence (Copilot's), not the family's error shape
        return web.Response(status=rejected.status, text=rejected.message)
    return _error(wire, rejected.status, rejected.message)


async def _serve(port: int) -> None:
    fake = FakeFamilies(load_wires())
    print(await fake.start(port), flush=True)
    try:
        await until_signal(fake.seen.clear)
    finally:
        await fake.stop()


def main() -> None:
    """``python -m tests.fakes.families.server [--port N]``: print the base URL, serve."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.families.server")
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(_serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
