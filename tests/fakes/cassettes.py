"""Read the recorded provider traffic in ``../shared/fixtures/wire`` (see its README).

``load`` understands VCR.py cassettes (``.yaml``; needs PyYAML) and vercel/ai fixtures
(``.chunks.txt``: one SSE payload per line, re-framed here as ``data:`` events; ``.json``: a body).
"""

from __future__ import annotations

import gzip
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WIRE = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "wire"


@dataclass(frozen=True)
class Interaction:
    """One recorded request/response pair; header names are lower-cased."""

    method: str
    uri: str
    request: Any
    status: int | None
    headers: dict[str, list[str]]
    body: str | bytes | None
    parsed_body: Any

    def header(self, name: str) -> str | None:
        """The first value of a response header, or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None


def _maybe_json(text: Any) -> Any:
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError:
            return None  # a binary body (Bedrock's event stream) is not JSON
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _headers(raw: Any) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for name, values in (raw or {}).items():
        as_list = values if isinstance(values, list) else [values]
        merged.setdefault(str(name).lower(), []).extend(str(v) for v in as_list)
    return merged


def _response_body(response: Any, headers: dict[str, list[str]]) -> str | bytes | None:
    raw = (response.get("body") or {}).get("string")
    if isinstance(raw, bytes) and "gzip" in headers.get("content-encoding", []):
        raw = gzip.decompress(raw)
    if isinstance(raw, bytes):
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return raw
    return raw if isinstance(raw, str) else None


def _vcr_interaction(raw: Any) -> Interaction:
    request, response = raw["request"], raw["response"]
    headers = _headers(response.get("headers"))
    body = _response_body(response, headers)
    if "parsed_body" in request:
        sent = request["parsed_body"]
    else:
        sent = _maybe_json(request.get("body"))
    parsed = response["parsed_body"] if "parsed_body" in response else _maybe_json(body)
    return Interaction(
        method=request["method"],
        uri=request["uri"],
        request=sent,
        status=response["status"]["code"],
        headers=headers,
        body=body,
        parsed_body=parsed,
    )


def load(path: str | Path) -> list[Interaction]:
    """The interactions of a recorded fixture, in recorded order."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.name.endswith(".chunks.txt"):
        framed = "".join(f"data: {line}\n\n" for line in text.splitlines() if line.strip())
        return [Interaction("", "", None, None, {}, framed, None)]
    if path.suffix == ".json":
        return [Interaction("", "", None, None, {}, text, json.loads(text))]
    yaml = importlib.import_module("yaml")
    document = yaml.safe_load(text)
    return [_vcr_interaction(raw) for raw in document["interactions"]]


def sse_payloads(body: str | bytes) -> list[str]:
    """The ``data:`` payload of every SSE event in ``body`` (``[DONE]`` included), in order."""
    if isinstance(body, bytes):
        body = body.decode()
    payloads: list[str] = []
    for event in body.replace("\r\n", "\n").replace("\r", "\n").split("\n\n"):
        lines = [line for line in event.split("\n") if line.startswith("data:")]
        if lines:
            payloads.append("\n".join(line[5:].removeprefix(" ") for line in lines))
    return payloads


def sse_events(body: str | bytes) -> list[Any]:
    """``sse_payloads`` parsed as JSON, except ``[DONE]``, which stays the string ``"[DONE]"``."""
    return [p if p == "[DONE]" else json.loads(p) for p in sse_payloads(body)]


def key_paths(value: Any, prefix: str = "") -> frozenset[str]:
    """Every key path in a JSON value (``choices[].delta.content``); lists are merged as ``[]``."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            paths.add(path)
            paths |= key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            paths |= key_paths(item, prefix + "[]")
    return frozenset(paths)
