"""Compile each method's OpenRPC params into one fast validator, once, at start.

A validator takes the raw ``params`` (object or array), maps an array onto the params in
their documented order, checks the object against a JSON Schema built from the method's
content descriptors, and returns the object. A failure is :class:`InvalidParams` whose
``data.field`` names the offending parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import fastjsonschema

from daemon.errors import InvalidParams

ParamsValidator = Callable[[list[Any] | dict[str, Any]], dict[str, Any]]


SCHEMA_REF = "#/components/schemas/"


def params_schema(method: Mapping[str, Any], components: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a method's params object, as built from its content descriptors.

    References to component schemas are written out in place (a recursive one stays a
    reference): fastjsonschema makes each reference a function call that formats the
    item's name from ``locals()`` on the way in, which was half of checking a chat.send.
    """
    descriptors = method.get("params", [])
    schemas = components.get("schemas", {})
    return {
        "type": "object",
        "properties": {d["name"]: inlined(d.get("schema", {}), schemas) for d in descriptors},
        "required": [d["name"] for d in descriptors if d.get("required")],
        "additionalProperties": False,
        # Keeps "#/components/schemas/..." references resolvable from this root.
        "components": dict(components),
    }


def inlined(node: Any, schemas: Mapping[str, Any], expanding: frozenset[str] = frozenset()) -> Any:
    """``node`` with each ``$ref`` to a component schema replaced by that schema."""
    if isinstance(node, list):
        return [inlined(item, schemas, expanding) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    name = ref.removeprefix(SCHEMA_REF) if isinstance(ref, str) else None
    if name is None or name == ref or name in expanding or name not in schemas:
        return {key: inlined(value, schemas, expanding) for key, value in node.items()}
    # A reference's sibling keywords are ignored (draft 7), so the target stands alone.
    return inlined(schemas[name], schemas, expanding | {name})


def compile_params(method: Mapping[str, Any], components: Mapping[str, Any]) -> ParamsValidator:
    """A validator for ``method``'s params; raises InvalidParams naming the field.

    The schema is compiled on the method's first call: compiling all of them at start took
    a quarter of the daemon's cold start, and most clients call few methods.
    """
    names = tuple(d["name"] for d in method.get("params", []))
    schema = params_schema(method, components)
    compiled: list[Callable[[Any], Any]] = []

    def validate(raw: list[Any] | dict[str, Any]) -> dict[str, Any]:
        if not compiled:
            compiled.append(fastjsonschema.compile(schema))
        params = _by_name(names, raw) if isinstance(raw, list) else raw
        try:
            checked: dict[str, Any] = compiled[0](params)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise _explain(exc, params) from None
        return checked

    return validate


def _by_name(names: tuple[str, ...], values: list[Any]) -> dict[str, Any]:
    if len(values) > len(names):
        raise InvalidParams(
            f"takes at most {len(names)} positional params",
            field=f"params[{len(names)}]",
            reason="unexpected positional param",
        )
    return dict(zip(names, values, strict=False))


def _explain(exc: fastjsonschema.JsonSchemaValueException, params: dict[str, Any]) -> InvalidParams:
    """Turn fastjsonschema's message into ``field`` + ``reason``; never echo the value."""
    path = [str(part) for part in exc.path[1:]]
    if exc.rule == "required":
        missing = [name for name in exc.rule_definition if name not in (exc.value or {})]
        path.append(missing[0] if missing else "?")
        reason = "is required"
    elif exc.rule == "additionalProperties" and not path:
        extra = sorted(set(params) - set(exc.definition.get("properties", {})))
        path.append(extra[0] if extra else "?")
        reason = "is not a parameter of this method"
    else:
        reason = exc.message.split(" ", 1)[1] if " " in exc.message else exc.message
    field = ".".join(path) or "params"
    return InvalidParams(f"{field} {reason}", field=field, reason=reason)
