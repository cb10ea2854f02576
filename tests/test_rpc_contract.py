"""The RPC contract, run identically over every transport (HTTP, WebSocket, stdio relay).

Each test sends raw bodies to the real daemon over its real socket and asserts on the answer a
client would see.
"""

from __future__ import annotations

import orjson
import pytest

from daemon import __version__
from rpc_schema import load_openrpc
from tests.conftest import result_validator
from tests.support.methods import SECRET_IN_EXCEPTION
from tests.support.transports import Session


def request(method: str, params: object = None, request_id: object = 1) -> bytes:
    body: dict[str, object] = {"jsonrpc": "2.0", "method": method, "id": request_id}
    if params is not None:
        body["params"] = params
    return orjson.dumps(body)


async def test_daemon_info_describes_the_running_daemon(session: Session) -> None:
    answer = await session.send(request("daemon.info"))
    info = answer["result"]
    result_validator("daemon.info")(info)
    assert answer["id"] == 1
    assert info["version"] == __version__
    assert info["listeners"][0]["kind"] == "unix"
    assert info["listeners"][0]["auth"] == "peer-uid"


async def test_daemon_health_reports_every_component(session: Session) -> None:
    health = (await session.send(request("daemon.health")))["result"]
    result_validator("daemon.health")(health)
    assert health["status"] == "ready"
    assert {"rpc", "state_dir", "config"} <= set(health["components"])


async def test_rpc_discover_returns_the_openrpc_document(session: Session) -> None:
    document = (await session.send(request("rpc.discover")))["result"]
    own = {m["name"] for m in load_openrpc()["methods"]}
    assert own <= {m["name"] for m in document["methods"]}
    assert document["openrpc"].startswith("1.")


async def test_positional_and_named_params_reach_the_handler_alike(session: Session) -> None:
    by_position = await session.send(request("subtract", [42, 23]))
    by_name = await session.send(request("subtract", {"subtrahend": 23, "minuend": 42}, 2))
    assert by_position["result"] == by_name["result"] == 19


async def test_a_notification_gets_no_answer(session: Session) -> None:
    assert await session.send(b'{"jsonrpc":"2.0","method":"update","params":[1,2]}') is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"jsonrpc":"2.0","method":"daemon.info","id":1', -32700),
        (b"\xff\xfe not utf-8", -32700),
        (b'{"jsonrpc":"1.0","method":"daemon.info","id":1}', -32600),
        (b'{"jsonrpc":"2.0","method":5,"id":1}', -32600),
        (b'{"jsonrpc":"2.0","method":"daemon.info","params":"x","id":1}', -32600),
        (b'{"jsonrpc":"2.0","method":"daemon.info","id":{"an":"object"}}', -32600),
        (b"[]", -32600),
        (b'"just a string"', -32600),
        (b'{"jsonrpc":"2.0","method":"no.such.method","id":1}', -32601),
    ],
)
async def test_malformed_bodies_get_the_spec_error(
    session: Session, body: bytes, code: int
) -> None:
    answer = await session.send(body)
    assert answer["error"]["code"] == code
    assert answer["error"]["data"]["nextStep"]
    assert "result" not in answer


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"subtrahend": 1}, "minuend"),
        ({"minuend": "ten", "subtrahend": 1}, "minuend"),
        ({"minuend": 1, "subtrahend": 2, "extra": 3}, "extra"),
        ([1, 2, 3], "params[2]"),
    ],
)
async def test_wrong_params_name_the_offending_field(
    session: Session, params: object, field: str
) -> None:
    error = (await session.send(request("subtract", params)))["error"]
    assert error["code"] == -32602
    assert error["data"]["field"] == field


async def test_unknown_params_on_a_daemon_method_are_rejected(session: Session) -> None:
    error = (await session.send(request("daemon.info", {"verbose": True})))["error"]
    assert (error["code"], error["data"]["field"]) == (-32602, "verbose")


async def test_a_crashing_handler_becomes_internal_error_with_an_incident_only(
    session: Session,
) -> None:
    answer = await session.send(request("test.fail"))
    error = answer["error"]
    assert error["code"] == -32603
    assert set(error["data"]) == {"incident", "nextStep"}
    assert SECRET_IN_EXCEPTION not in orjson.dumps(answer).decode()
    assert "Traceback" not in orjson.dumps(answer).decode()


async def test_a_batch_is_answered_item_by_item(session: Session) -> None:
    batch = orjson.dumps(
        [
            {"jsonrpc": "2.0", "method": "subtract", "params": [5, 3], "id": "a"},
            {"jsonrpc": "2.0", "method": "update", "params": [1]},
            {"jsonrpc": "2.0", "method": "nope", "id": "b"},
            7,
        ]
    )
    answers = await session.send(batch)
    by_id = {a["id"]: a for a in answers if a["id"] is not None}
    assert by_id["a"]["result"] == 2
    assert by_id["b"]["error"]["code"] == -32601
    assert [a["error"]["code"] for a in answers if a["id"] is None] == [-32600]
    assert len(answers) == 3


async def test_a_batch_of_notifications_gets_no_answer(session: Session) -> None:
    batch = (
        b'[{"jsonrpc":"2.0","method":"update"},'
        b'{"jsonrpc":"2.0","method":"notify_hello","params":[1]}]'
    )
    assert await session.send(batch) is None


async def test_the_daemon_keeps_serving_after_bad_input(session: Session) -> None:
    for body in (b"{", b"[1,2]", b"null", b'{"jsonrpc":"2.0","id":1,"method":"test.fail"}'):
        await session.send(body)
    assert (await session.send(request("daemon.info")))["result"]["name"] == "switchboard"
