"""Every example of the JSON-RPC 2.0 specification's "Examples" section, over every transport.

The methods (subtract, sum, update, notify_hello, get_data) are registered by the test harness
with OpenRPC descriptions. Expected answers are the specification's own; an error's ``data``
(optional in the spec) is ignored, and batch answers are compared as sets since the spec lets
them come in any order.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.support.transports import Session

ERROR = {"code", "message"}


def _normal(answer: Any) -> Any:
    """An answer without the optional error ``data``, batches sorted for comparison."""
    if answer is None:
        return None
    if isinstance(answer, list):
        return sorted(
            (_normal(a) for a in answer), key=lambda a: orjson.dumps(a, option=orjson.OPT_SORT_KEYS)
        )
    if "error" in answer:
        answer = {**answer, "error": {k: answer["error"][k] for k in ERROR}}
    return answer


SPEC_EXAMPLES: list[tuple[str, str, str | None]] = [
    (
        "positional parameters",
        '{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}',
        '{"jsonrpc": "2.0", "result": 19, "id": 1}',
    ),
    (
        "positional parameters, swapped",
        '{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}',
        '{"jsonrpc": "2.0", "result": -19, "id": 2}',
    ),
    (
        "named parameters",
        '{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}',
        '{"jsonrpc": "2.0", "result": 19, "id": 3}',
    ),
    (
        "named parameters, reordered",
        '{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}',
        '{"jsonrpc": "2.0", "result": 19, "id": 4}',
    ),
    ("a notification", '{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}', None),
    ("a notification of an unknown method", '{"jsonrpc": "2.0", "method": "foobar"}', None),
    (
        "a non-existent method",
        '{"jsonrpc": "2.0", "method": "foobar", "id": "1"}',
        '{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}',
    ),
    (
        "invalid JSON",
        '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]',
        '{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}',
    ),
    (
        "an invalid Request object",
        '{"jsonrpc": "2.0", "method": 1, "params": "bar"}',
        '{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}',
    ),
    (
        "a batch with invalid JSON",
        '[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method"]',
        '{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}',
    ),
    (
        "an empty array",
        "[]",
        '{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}',
    ),
    (
        "an invalid batch, not empty",
        "[1]",
        '[{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}]',
    ),
    (
        "an invalid batch",
        "[1,2,3]",
        '[{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},'
        ' {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},'
        ' {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}]',
    ),
    (
        "a batch",
        '[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},'
        ' {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},'
        ' {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},'
        ' {"foo": "boo"},'
        ' {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},'
        ' {"jsonrpc": "2.0", "method": "get_data", "id": "9"}]',
        '[{"jsonrpc": "2.0", "result": 7, "id": "1"},'
        ' {"jsonrpc": "2.0", "result": 19, "id": "2"},'
        ' {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},'
        ' {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},'
        ' {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}]',
    ),
    (
        "a batch of notifications",
        '[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},'
        ' {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]',
        None,
    ),
]


@pytest.mark.parametrize(
    ("sent", "expected"), [e[1:] for e in SPEC_EXAMPLES], ids=[e[0] for e in SPEC_EXAMPLES]
)
async def test_spec_example(session: Session, sent: str, expected: str | None) -> None:
    answer = await session.send(sent.encode())
    assert _normal(answer) == _normal(None if expected is None else orjson.loads(expected))
