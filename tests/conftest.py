"""Shared fixtures: a real daemon process (with the test methods), a session per transport, the
fake OpenAI provider, for the login specs the fake authorization server and the answers their
daemons gave, and a WebSocket RPC connection to whatever ``daemon`` a module defines."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import fastjsonschema
import pytest

from rpc_schema import load_openrpc
from tests.fakes import cassettes
from tests.support.daemon import DaemonProcess, serving_daemon
from tests.support.logins import Answers
from tests.support.oauth import ThreadedOAuth, running_oauth
from tests.support.transports import TRANSPORTS, Session, connected
from tests.support.upstream import ThreadedUpstream, upstream_config
from tests.support.wsrpc import Rpc, websocket


def pytest_sessionstart(session: pytest.Session) -> None:
    """The recorded provider traffic is part of the spec: without it, stop rather than skip."""
    if not cassettes.WIRE.is_dir():
        raise pytest.UsageError(
            f"{cassettes.WIRE} is missing: the tests replay it; clone beside ../shared"
        )


@pytest.fixture(scope="session")
def shared_daemon() -> Iterator[DaemonProcess]:
    """One harness daemon for the tests that only read; tests that stop it start their own."""
    with serving_daemon(harness=True) as daemon:
        yield daemon


@pytest.fixture(params=TRANSPORTS)
async def session(
    request: pytest.FixtureRequest, shared_daemon: DaemonProcess
) -> AsyncIterator[Session]:
    """A connected session to the shared daemon, once per transport."""
    async with connected(request.param, shared_daemon) as opened:
        yield opened


@pytest.fixture(scope="session")
def upstream() -> Iterator[ThreadedUpstream]:
    """The fake OpenAI-compatible provider, shared by the chat tests."""
    fake = ThreadedUpstream()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture(scope="session")
def chat_daemon(upstream: ThreadedUpstream) -> Iterator[DaemonProcess]:
    """A daemon (with the test methods) whose openai and fake providers point at the fake."""
    with serving_daemon(harness=True, config=upstream_config(upstream.base_url)) as daemon:
        yield daemon


@pytest.fixture(params=TRANSPORTS)
async def chat_session(
    request: pytest.FixtureRequest, chat_daemon: DaemonProcess
) -> AsyncIterator[Session]:
    """A connected session to the chat daemon, once per transport."""
    async with connected(request.param, chat_daemon) as opened:
        yield opened


@pytest.fixture(scope="module")
def oauth() -> Iterator[ThreadedOAuth]:
    """The fake authorization server for a whole module; codex's redirect may use any loopback
    port."""
    with running_oauth() as fake:
        yield fake


@pytest.fixture(scope="module")
def answers() -> Answers:
    """Every answer a module's daemons gave, for its leak check."""
    return Answers()


@pytest.fixture
async def rpc(daemon: DaemonProcess) -> AsyncIterator[Rpc]:
    """A WebSocket RPC connection to the module's own ``daemon`` fixture."""
    async with websocket(daemon) as opened:
        yield opened


def result_validator(method: str) -> Any:
    """A validator for ``method``'s result schema from openrpc.json."""
    document = load_openrpc()
    described = next(m for m in document["methods"] if m["name"] == method)
    schema = {**described["result"]["schema"], "components": document["components"]}
    return fastjsonschema.compile(schema)
