"""The fake upstream as the chat benchmark runs it: every /v1 wire on one port, on uvloop.

``python -m bench._fake [--port N] [--unix PATH]`` prints the base URL (``http://127.0.0.1:N/v1``)
on one line once it listens, like ``python -m tests.fakes.openai_chat``, and serves until
SIGTERM. It is that fake (``tests.fakes.openai_chat``: ``POST /v1/chat/completions``) with two
more routes in the shapes the contract suite's fakes render from the recordings:
``POST /v1/messages`` (Anthropic, :mod:`tests.fakes.families.anthropic_messages`) and
``POST /v1/responses`` (OpenAI Responses, :mod:`tests.fakes.families.openai_responses`). Their
answer is the chat fake's (the same words for the same prompt, ``+chunks=N`` pieces when
streamed: the model string picks it on every route), delivered the same way: the headers, then
a JSON body in two writes or each SSE frame in one. So each wire costs the fake about what a
chat answer does, and a gateway in front of any of them is judged against the same upstream.
The two added routes check the body as their fakes do but not the credential.

Two more differences from the test fake, both for long benchmark runs: it runs on uvloop when
importable (the fake shares its CPU with the load generator, so the cheaper it answers the less
it bounds the figures), and it forgets the requests it recorded as it goes (the test fake keeps
every one for assertions, which grows without bound under load).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
from collections.abc import Awaitable, Callable

from aiohttp import web

from bench._aio import run
from tests.fakes.families import anthropic_messages, openai_responses
from tests.fakes.families.script import RequestRejected, Script
from tests.fakes.families.wire import Request, Wire
from tests.fakes.openai_chat import FakeOpenAI, parse_model, plan_reply
from tests.fakes.serving import until_signal

JSON_HEADERS = {"Content-Type": "application/json"}


def wire_route(wire: Wire) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A handler answering ``wire``'s requests with the chat fake's words in its shapes."""
    rng = random.Random(0)

    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
            spec = parse_model(body["model"])
            turn = wire.read(Request({}, request.query, {}, body))
        except (ValueError, KeyError, TypeError, RequestRejected) as exc:
            return web.Response(status=400, body=wire.error_body(400, str(exc)))
        chat = {"messages": [{"role": "user", "content": turn.user_text}]}
        pieces = plan_reply(chat, spec, rng).content
        script = Script(pieces, [], [], input_tokens=len(turn.user_text.split()), output_tokens=1)
        # The wires name the model back from the turn: its base, as the chat fake's would not.
        turn = dataclasses.replace(turn, model=spec.base)
        if not turn.stream:
            whole = wire.json_body(script, turn)
            halves = [whole[: len(whole) // 2], whole[len(whole) // 2 :]]
            return await deliver(request, JSON_HEADERS, halves)
        frames = wire.stream_frames(script, turn)
        return await deliver(request, {"Content-Type": wire.stream_content_type}, frames)

    return answer


async def deliver(
    request: web.Request, headers: dict[str, str], parts: list[bytes]
) -> web.StreamResponse:
    """The headers, then each part in one write, as the chat fake delivers."""
    response = web.StreamResponse(headers=headers)
    if headers is JSON_HEADERS:
        response.content_length = sum(map(len, parts))
    await response.prepare(request)
    for part in parts:
        await response.write(part)
    await response.write_eof()
    return response


def every_wire() -> FakeOpenAI:
    """The chat fake with the Messages and Responses routes beside its own."""
    fake = FakeOpenAI()
    for wire in (anthropic_messages.WIRE, openai_responses.WIRE):
        _method, path = wire.routes[0]
        fake.app.router.add_post(path, wire_route(wire))
    return fake


async def serve(host: str, port: int | None, unix_path: str | None) -> None:
    """Run the fake until SIGTERM or SIGINT, dropping its request log as it goes."""
    fake = every_wire()
    print(await fake.start(host, port, unix_path=unix_path), flush=True)
    try:
        await until_signal(fake.requests.clear)
    finally:
        await fake.stop()


def main() -> None:
    """``--port`` (0: any free port; the default) and/or ``--unix``."""
    parser = argparse.ArgumentParser(prog="python -m bench._fake")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--unix", default=None)
    args = parser.parse_args()
    run(serve(args.host, args.port, args.unix))


if __name__ == "__main__":
    main()
