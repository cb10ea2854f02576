"""The three /v1 wires the chat benchmark drives, as data: path, request body, answer checks.

Each :class:`ApiWire` is one client-facing API the daemon serves: OpenAI Chat Completions
(``chat``), Anthropic Messages (``messages``) and OpenAI Responses (``responses``). The same
wire is spoken on both sides of a gateway in the benchmark: the fake upstream serves it
(:mod:`bench._fake`), the bare pass-through proxy relays it unchanged, and the daemon is
configured with a provider of that family pointing at the fake. Every wire's answer carries the
same text (the chat fake's words for the one prompt), so one expected text checks them all.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from bench._chatmodel import API_KEY, MODEL, Endpoint, WireName
from bench._wire import http_request
from tests.fakes.openai_chat import parse_model, plan_reply

PROMPT = "Say hello to the benchmark."
ANTHROPIC_VERSION = "2023-06-01"
MAX_TOKENS = 1024  # Anthropic insists on it; sent on that wire only


def _string(key: bytes) -> re.Pattern[bytes]:
    """A non-empty JSON string value under ``key`` (either spelling of the colon)."""
    return re.compile(b'"' + key + rb'": ?"((?:[^"\\]|\\.)+)"')


@dataclass(frozen=True, slots=True)
class ApiWire:
    """One client-facing API: where it is posted, how a request looks, how an answer is judged.

    ``content`` finds each non-empty text delta of a stream (its first match is the first
    chunk; the matches joined are the streamed text); ``end`` must be in a stream's last bytes.
    ``upstream`` is the path under the fake's ``/v1`` base; ``headers`` are the credential
    headers the fake (and a gateway forwarding to it) sends.
    """

    name: WireName
    path: str
    upstream: str
    body: Callable[[str, bool], dict[str, Any]]
    content: re.Pattern[bytes]
    end: re.Pattern[bytes]
    headers: Mapping[str, str]


def _chat_body(model: str, stream: bool) -> dict[str, Any]:
    # Streams ask for usage, as the daemon does of its upstream.
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return body


def _messages_body(model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": MAX_TOKENS,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    if stream:
        body["stream"] = True
    return body


def _responses_body(model: str, stream: bool) -> dict[str, Any]:
    # What Codex CLI sends: the whole input, nothing stored.
    body: dict[str, Any] = {
        "model": model,
        "input": [{"type": "message", "role": "user", "content": PROMPT}],
        "store": False,
    }
    if stream:
        body["stream"] = True
    return body


BEARER = {"Authorization": f"Bearer {API_KEY}"}
WIRES: Mapping[WireName, ApiWire] = {
    "chat": ApiWire(
        "chat",
        "/v1/chat/completions",
        "/chat/completions",
        _chat_body,
        _string(b"content"),
        re.compile(rb"data: \[DONE\]\s*$"),
        BEARER,
    ),
    "messages": ApiWire(
        "messages",
        "/v1/messages",
        "/messages",
        _messages_body,
        _string(b"text"),  # text_delta's; a block's start has an empty one
        re.compile(rb'"type": ?"message_stop"\}\s*$'),
        {"x-api-key": API_KEY, "anthropic-version": ANTHROPIC_VERSION},
    ),
    "responses": ApiWire(
        "responses",
        "/v1/responses",
        "/responses",
        _responses_body,
        _string(b"delta"),  # response.output_text.delta's; the done events carry "text"
        re.compile(rb'"type": ?"response\.completed"'),
        BEARER,
    ),
}


@functools.cache
def expected_pieces(chunks: int | None) -> tuple[str, ...]:
    """The pieces of text the fake answers :data:`PROMPT` with, on every wire."""
    spec = parse_model(f"{MODEL}+chunks={chunks}" if chunks else MODEL)
    body = {"messages": [{"role": "user", "content": PROMPT}]}
    return tuple(plan_reply(body, spec, random.Random(0)).content)


def expected_text(chunks: int | None) -> str:
    """:func:`expected_pieces` joined."""
    return "".join(expected_pieces(chunks))


@functools.cache
def expected_json(chunks: int | None) -> bytes:
    """:func:`expected_text` as it appears inside a JSON string."""
    return orjson.dumps(expected_text(chunks))[1:-1]


def check_answer(wire: ApiWire, status: int, body: bytes, stream: bool, chunks: int) -> str | None:
    """What is wrong with an answer on ``wire``, or None: a 200 with all of the fake's words
    (for a stream: its deltas add up to them, and it ends as the wire ends a stream)."""
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}"
    if not stream:
        found = b'"' + expected_json(None) + b'"' in body
        return None if found else f"not the answer: {body[:200]!r}"
    text = b"".join(wire.content.findall(body))
    if text != expected_json(chunks) or wire.end.search(body[-4096:]) is None:
        return f"wrong content {text[:100]!r}, or not ended: {body[-200:]!r}"
    return None


def http_post(endpoint: Endpoint, model: str, stream: bool) -> bytes:
    """The bytes of one ``POST`` on the endpoint's wire (with the credential a client of that
    API sends: the daemon on its Unix socket ignores it, the fake and the proxy take it)."""
    wire = WIRES[endpoint.wire]
    headers = {"Content-Type": "application/json", **wire.headers}
    body = orjson.dumps(wire.body(model, stream))
    return http_request("POST", endpoint.path, endpoint.host, headers, body)
