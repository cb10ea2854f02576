"""No secret reaches a log line, whatever path it takes there."""

from __future__ import annotations

import io
import logging

import orjson
import pytest

from daemon import log
from daemon.client import Client
from daemon.errors import InternalError
from tests.support.daemon import DaemonProcess
from tests.support.methods import SECRET_IN_EXCEPTION

FAKE_SECRETS = [
    "sk-proj-abcdefghijklmnop1234",
    "ghp_FAKE_FAKE_FAKE_FAKE_FAKE",
    "AIzaSyA-abcdefghijklmnopqrstuvw",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijk",
]


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    log.configure("debug", stream, as_json=True)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("secret", FAKE_SECRETS)
def test_secret_shaped_text_is_masked_in_messages_and_fields(
    captured: io.StringIO, secret: str
) -> None:
    log.get_logger("t").info(
        f"calling with {secret}", note=f"header Bearer {secret}", url=f"https://x/?key={secret}"
    )
    assert secret not in captured.getvalue()
    assert "[redacted]" in captured.getvalue()


def test_secret_named_fields_are_masked_whatever_their_value(captured: io.StringIO) -> None:
    log.get_logger("t").info(
        "login", api_key="plain", headers={"Authorization": "x", "Accept": "json"}
    )
    line = lines(captured)[0]
    assert line["api_key"] == "[redacted]"
    assert line["headers"] == {"Authorization": "[redacted]", "Accept": "json"}


def test_a_remembered_secret_is_masked_in_tracebacks(captured: io.StringIO) -> None:
    log.remember_secret("my-own-tcp-token-value")
    try:
        raise RuntimeError("token my-own-tcp-token-value rejected")
    except RuntimeError:
        log.get_logger("t").exception("failed")
    assert "my-own-tcp-token-value" not in captured.getvalue()
    assert "RuntimeError" in captured.getvalue()


def test_library_logs_pass_the_same_redaction(captured: io.StringIO) -> None:
    logging.getLogger("aiohttp.server").error("bad request with %s", FAKE_SECRETS[0])
    assert FAKE_SECRETS[0] not in captured.getvalue()


def test_debug_lines_are_dropped_below_the_level() -> None:
    stream = io.StringIO()
    log.configure("warning", stream, as_json=True)
    log.get_logger("t").info("quiet")
    assert stream.getvalue() == ""


async def test_a_crashing_handler_logs_its_incident_without_the_secret(
    shared_daemon: DaemonProcess,
) -> None:
    async with Client(shared_daemon.socket) as daemon:
        with pytest.raises(InternalError) as caught:
            await daemon.call("test.fail")
    incident = caught.value.data["incident"]
    text = shared_daemon.log_text()
    logged = [orjson.loads(line) for line in text.splitlines() if incident in line]
    assert [entry["event"] for entry in logged] == ["rpc_handler_failed"]
    assert "RuntimeError: upstream rejected key [redacted]" in str(logged[0]["exception"])
    assert SECRET_IN_EXCEPTION not in text
