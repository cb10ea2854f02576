"""The fake OpenAI upstream as the chat benchmark runs it: ``tests.fakes.openai_chat`` on uvloop.

``python -m bench._fake [--port N] [--unix PATH]`` prints the base URL (``http://127.0.0.1:N/v1``)
on one line once it listens, like ``python -m tests.fakes.openai_chat``, and serves until
SIGTERM. Two differences, both for long benchmark runs: it runs on uvloop when importable
(the fake shares its CPU with the load generator, so the cheaper it answers the less it bounds
the figures), and it forgets the requests it recorded as it goes (the test
fake keeps every one for assertions, which grows without bound under load).
"""

from __future__ import annotations

import argparse

from bench._aio import run
from tests.fakes.openai_chat import FakeOpenAI
from tests.fakes.serving import until_signal


async def serve(host: str, port: int | None, unix_path: str | None) -> None:
    """Run the fake until SIGTERM or SIGINT, dropping its request log as it goes."""
    fake = FakeOpenAI()
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
