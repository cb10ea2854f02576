"""The RPC contract's files agree with the code: methods, versions, errors, generated docs."""

from __future__ import annotations

import contextlib

import orjson
import pytest

from daemon import __version__, errors
from daemon.rpc.dispatch import Dispatcher
from daemon.rpc.handlers import METHODS
from daemon.rpc.schema import compile_params, params_schema
from rpc_schema import ERRORS_PATH, load_openrpc
from tests.support.daemon import run_python


def test_handler_table_and_openrpc_list_the_same_methods() -> None:
    described = [m["name"] for m in load_openrpc()["methods"]]
    assert sorted(described) == sorted(METHODS)
    assert len(described) == len(set(described)), "a method is described twice"


def test_a_dispatcher_refuses_a_table_that_differs_from_the_schema() -> None:
    document = load_openrpc()
    with pytest.raises(ValueError, match="daemon.health"):
        Dispatcher({k: v for k, v in METHODS.items() if k != "daemon.health"}, document)


def test_openrpc_document_is_well_formed() -> None:
    document = load_openrpc()
    assert document["openrpc"].startswith("1.")
    assert document["info"]["version"] == __version__
    for method in document["methods"]:
        assert method["summary"], f"{method['name']} has no summary"
        assert "schema" in method["result"], f"{method['name']} has no result schema"
        assert all("schema" in p for p in method["params"])
    for validate in Dispatcher(METHODS, document).validators.values():
        with contextlib.suppress(errors.InvalidParams):
            validate({})  # compiles the method's params schema (done on first use)


def test_generated_files_are_fresh() -> None:
    result = run_python("-m", "rpc_schema.generate", "--check")
    assert result.returncode == 0, result.stderr


def test_errors_json_lists_every_error_class_once() -> None:
    listed = orjson.loads(ERRORS_PATH.read_bytes())
    codes = [e["code"] for e in listed]
    assert len(codes) == len(set(codes)), "two errors share a code"
    assert {e["name"]: e["code"] for e in listed} == {
        c.__name__: c.code for c in errors.error_classes()
    }
    spec = {-32700, -32600, -32601, -32602, -32603}
    assert spec <= set(codes)
    assert all(-32099 <= c <= -32000 for c in set(codes) - spec), (
        "server errors stay in -32000..-32099"
    )


@pytest.mark.parametrize("cls", errors.error_classes())
def test_every_error_survives_the_wire_as_its_own_class(cls: type[errors.DaemonError]) -> None:
    sent = cls.__new__(cls)
    errors.DaemonError.__init__(sent, "what happened", field="x")
    received = errors.from_rpc(orjson.loads(orjson.dumps(sent.to_rpc())))
    assert type(received) is cls
    assert received.data["field"] == "x"
    assert received.data["nextStep"] == cls.next_step


def test_an_unknown_code_is_kept_as_it_came() -> None:
    wire = {"code": 4242, "message": "From the future", "data": {"detail": "newer daemon"}}
    received = errors.from_rpc(wire)
    assert isinstance(received, errors.RemoteError)
    assert received.to_rpc() == wire


def test_component_references_are_written_out_and_a_recursive_one_still_validates() -> None:
    components = {
        "schemas": {
            "Leaf": {"type": "string", "minLength": 1},
            "Tree": {
                "type": "object",
                "properties": {
                    "name": {"$ref": "#/components/schemas/Leaf"},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}},
                },
            },
        }
    }
    method = {
        "name": "t",
        "params": [{"name": "root", "schema": {"$ref": "#/components/schemas/Tree"}}],
    }
    root = params_schema(method, components)["properties"]["root"]
    assert root["properties"]["name"] == {"type": "string", "minLength": 1}
    assert root["properties"]["children"]["items"] == {"$ref": "#/components/schemas/Tree"}
    validate = compile_params(method, components)
    assert validate({"root": {"name": "a", "children": [{"name": "b", "children": []}]}})
    with pytest.raises(errors.InvalidParams) as refused:
        validate({"root": {"name": "a", "children": [{"name": ""}]}})
    assert refused.value.data["field"] == "root.children.0.name"
