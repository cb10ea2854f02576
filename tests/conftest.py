"""Shared fixtures: a real daemon process (with the test methods) and a session per transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import fastjsonschema
import pytest

from rpc_schema import load_openrpc
from tests.support.daemon import DaemonProcess, start_daemon
from tests.support.transports import TRANSPORTS, Session, open_session
from tests.support.upstream import ThreadedUpstream, upstream_config


@pytest.fixture(scope="session")
def shared_daemon() -> Iterator[DaemonProcess]:
    """One harness daemon for the tests that only read; tests that stop it start their own."""
    daemon = start_daemon(harness=True)
    try:
        yield daemon
    finally:
        code = daemon.stop()
        daemon.close()
        assert code == 0


@pytest.fixture(params=TRANSPORTS)
async def session(
    request: pytest.FixtureRequest, shared_daemon: DaemonProcess
) -> AsyncIterator[Session]:
    """A connected session to the shared daemon, once per transport."""
    opened = await open_session(request.param, shared_daemon)
    try:
        yield opened
    finally:
        await opened.close()


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
    daemon = start_daemon(harness=True, config=upstream_config(upstream.base_url))
    try:
        yield daemon
    finally:
        code = daemon.stop()
        daemon.close()
        assert code == 0


@pytest.fixture(params=TRANSPORTS)
async def chat_session(
    request: pytest.FixtureRequest, chat_daemon: DaemonProcess
) -> AsyncIterator[Session]:
    """A connected session to the chat daemon, once per transport."""
    opened = await open_session(request.param, chat_daemon)
    try:
        yield opened
    finally:
        await opened.close()


def result_validator(method: str) -> Any:
    """A validator for ``method``'s result schema from openrpc.json."""
    document = load_openrpc()
    described = next(m for m in document["methods"] if m["name"] == method)
    schema = {**described["result"]["schema"], "components": document["components"]}
    return fastjsonschema.compile(schema)
