"""An offline fake of the OpenAI Chat Completions API, wire-compatible with the recordings.

It serves ``POST /v1/chat/completions`` and ``GET /v1/models`` in the shape recorded in
``../shared/fixtures/wire/openai_chat`` and can fail the way real providers do. Each request picks
its behaviour through the model string::

    <base>(+<flag> | +<key>=<value>)*    e.g. gpt-fake+chunks=20+fault=http_429+times=1+scenario=a

Flags: ``tools``, ``reasoning``, ``retry_after_date``. Integer options (>= 0): ``chunks``,
``delay_ms``, ``times``, ``retry_after``. Text options: ``fault`` (one of ``FAULTS``), ``scenario``
and ``wire`` (``current``, the default, or ``2024`` for the shape of the 2024 recordings).
Anything else is answered with a 400.

With ``tools`` the assistant calls every tool offered, and streams each call as OpenAI does: a
first fragment with id, type and name, then the arguments in pieces, without the id. Three flags
stream them the other ways the wire allows (fragments are keyed by ``index``), as some
OpenAI-compatible servers do: ``interleave`` (call ``k`` runs ``k`` fragments behind call 0, so
two calls go 0, 0, 1, 0, 1, ...), ``late_name`` (a call's first fragment carries its id and the
start of its arguments; the name comes with the second) and ``no_args`` (arguments ``""``: no
fragment but the first). The ``truncated`` fault ends the stream cleanly halfway through its
frames, before any finish reason or ``[DONE]`` (with tools: in the middle of a call).

Standalone: ``python -m tests.fakes.openai_chat --port N [--unix PATH]`` prints the base URL on
one line once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import signal
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.serving import GARBAGE_HTML, FakeServer, reset

JSON = dict[str, Any]

#: fault -> (status, error.type, error.code, error.param, error.message template)
HTTP_FAULTS: dict[str, tuple[int, str, str | None, str | None, str]] = {
    "http_401": (
        401,
        "invalid_request_error",
        "invalid_api_key",
        None,
        "Incorrect API key provided: sk-fake*****************************1234. "
        "You can find your API key at https://platform.openai.com/account/api-keys.",
    ),
    "http_404": (
        404,
        "invalid_request_error",
        "model_not_found",
        None,
        "The model `{model}` does not exist or you do not have access to it.",
    ),
    "http_429": (
        429,
        "requests",
        "rate_limit_exceeded",
        None,
        "Rate limit reached for {model} in organization org-fake on requests per min (RPM): "
        "Limit 3, Used 3, Requested 1. Please try again in {retry}s. "
        "Visit https://platform.openai.com/account/rate-limits to learn more.",
    ),
    "http_500": (
        500,
        "server_error",
        None,
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    "http_503": (503, "server_error", None, None, "The server is overloaded or not ready yet."),
    "context_length": (
        400,
        "invalid_request_error",
        "context_length_exceeded",
        "messages",
        "This model's maximum context length is 128000 tokens. However, your messages resulted "
        "in 131072 tokens. Please reduce the length of the messages.",
    ),
}
EARLY_FAULTS = frozenset({"reset_before_first_chunk", "stall_before_headers", "garbage"})
CUT_FAULTS = frozenset({"reset_after_first_chunk", "stall_after_first_chunk"})
STREAM_FAULTS = frozenset(
    {"malformed_json", "split_bytes", "duplicate_done", "missing_done", "truncated"}
)
FAULTS = frozenset(HTTP_FAULTS) | EARLY_FAULTS | CUT_FAULTS | STREAM_FAULTS
WIRES = ("current", "2024")
FLAGS = ("tools", "reasoning", "retry_after_date", "interleave", "late_name", "no_args")
INT_OPTIONS = ("chunks", "delay_ms", "times", "retry_after")
TEXT_OPTIONS = ("fault", "scenario", "wire")
SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
ERROR_CONTENT_TYPE = "application/json; charset=utf-8"
FINGERPRINT = "fp_5eedf4ce01"
DEFAULT_MODELS = ("gpt-fake", "gpt-fake-mini", "fake-reasoner")
REFUSED_AUTH = frozenset({"Bearer bad-key", "Bearer fault-401"})
ARGUMENT_FRAGMENT = 5
DONE = b"data: [DONE]\n\n"
BAD_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was "
    "not valid JSON.)"
)
_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True)
class ModelSpec:
    """The behaviour requested through the model string."""

    base: str
    chunks: int | None = None
    delay_ms: int = 0
    fault: str | None = None
    times: int | None = None
    scenario: str | None = None
    retry_after: int | None = None
    retry_after_date: bool = False
    tools: bool = False
    reasoning: bool = False
    wire: str = "current"
    interleave: bool = False
    late_name: bool = False
    no_args: bool = False


def parse_model(model: str) -> ModelSpec:
    """Parse ``base+flag+key=value…``; raise ``ValueError`` for anything not in the grammar."""
    base, *parts = model.split("+")
    values: dict[str, Any] = {}
    for part in parts:
        key, has_value, raw = part.partition("=")
        if not has_value and key in FLAGS:
            values[key] = True
        elif has_value and key in INT_OPTIONS and raw.isdigit():
            values[key] = int(raw)
        elif has_value and key in TEXT_OPTIONS and raw:
            values[key] = raw
        else:
            raise ValueError(f"fake model option {part!r} is not understood")
    spec = ModelSpec(base=base, **values)
    if spec.fault is not None and spec.fault not in FAULTS:
        raise ValueError(f"unknown fake fault {spec.fault!r}; known: {', '.join(sorted(FAULTS))}")
    if spec.wire not in WIRES:
        raise ValueError(f"unknown fake wire {spec.wire!r}; known: {', '.join(WIRES)}")
    if spec.chunks == 0:
        raise ValueError("fake model option 'chunks' must be at least 1")
    return spec


@dataclass(frozen=True)
class ToolCall:
    """One tool call made by the fake assistant."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class CallLayout:
    """How tool calls' fragments go on the wire (see the module docstring)."""

    interleave: bool = False
    late_name: bool = False


@dataclass(frozen=True)
class Reply:
    """What the fake assistant answers, before it is put on the wire."""

    content: list[str]
    reasoning: list[str]
    tool_calls: list[ToolCall]
    prompt_tokens: int
    layout: CallLayout = CallLayout()

    @property
    def finish_reason(self) -> str:
        """``tool_calls`` when the assistant calls tools, else ``stop``."""
        return "tool_calls" if self.tool_calls else "stop"

    def usage(self) -> JSON:
        """OpenAI's usage object: one completion token per streamed fragment."""
        fragments = sum(len(_fragments(call.arguments)) for call in self.tool_calls)
        completion = len(self.content) + len(self.reasoning) + fragments
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": len(self.reasoning),
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


def _text(content: Any) -> str:
    """The text of a message ``content``: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _words(text: str) -> list[str]:
    """Split into words that keep their leading whitespace (as OpenAI's deltas do)."""
    pieces: list[str] = re.findall(r"\s*\S+", text)
    rest = text[len("".join(pieces)) :]
    if not pieces:
        return [text] if text else []
    pieces[-1] += rest
    return pieces


def _fit(pieces: list[str], count: int | None) -> list[str]:
    """Regroup ``pieces`` into exactly ``count`` chunks (words repeat cyclically if too few)."""
    if count is None or not pieces:
        return pieces
    if count > len(pieces):
        extra = [" " + pieces[i % len(pieces)].strip() for i in range(count - len(pieces))]
        return pieces + extra
    size, bigger = divmod(len(pieces), count)
    out, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < bigger else 0)
        out.append("".join(pieces[start:end]))
        start = end
    return out


def _fragments(arguments: str) -> list[str]:
    """The pieces a tool call's arguments are streamed in."""
    return [
        arguments[i : i + ARGUMENT_FRAGMENT] for i in range(0, len(arguments), ARGUMENT_FRAGMENT)
    ]


def _token(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(_ALNUM) for _ in range(length))


def _tool_call(tool: JSON, text: str, compact: bool, rng: random.Random) -> ToolCall:
    """Call ``tool`` with the user's text as its first (required) property, or with ``{}``."""
    function = tool.get("function")
    function = function if isinstance(function, dict) else {}
    parameters = function.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    properties = parameters.get("properties")
    names = list(properties) if isinstance(properties, dict) else []
    required = [n for n in parameters.get("required") or [] if n in names]
    arguments = {(required or names)[0]: text} if names else {}
    separators = (",", ":") if compact else (", ", ": ")
    encoded = json.dumps(arguments, separators=separators, ensure_ascii=False)
    return ToolCall("call_" + _token(rng, 24), str(function.get("name", "")), encoded)


def plan_reply(body: JSON, spec: ModelSpec, rng: random.Random) -> Reply:
    """Decide the deterministic answer to a chat request."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    prompt_tokens = sum(len(_text(m.get("content")).split()) for m in messages)
    last = messages[-1] if messages else {}
    user = next((_text(m.get("content")) for m in messages[::-1] if m.get("role") == "user"), "")
    said = f"tool said {_text(last.get('content'))}" if last.get("role") == "tool" else user
    reasoning = _words(f"Thinking about: {said}") if spec.reasoning else []
    tools = [
        t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"
    ]
    if spec.tools and tools and last.get("role") != "tool":
        compact = spec.wire == "current"
        calls = [_tool_call(tool, user, compact, rng) for tool in tools]
        if spec.no_args:
            calls = [ToolCall(call.id, call.name, "") for call in calls]
        layout = CallLayout(spec.interleave, spec.late_name)
        return Reply([], reasoning, calls, prompt_tokens, layout)
    return Reply(_fit(_words(f"Echo: {said}"), spec.chunks), reasoning, [], prompt_tokens)


@dataclass
class Envelope:
    """The per-response fields every chunk or body repeats."""

    id: str
    created: int
    model: str
    current: bool
    obfuscate: bool
    rng: random.Random

    def chunk(self, choices: list[JSON], usage: JSON | None, with_usage: bool) -> JSON:
        """One ``chat.completion.chunk`` in the recorded key order."""
        out: JSON = {"id": self.id, "object": "chat.completion.chunk", "created": self.created}
        out["model"] = self.model
        if self.current:
            out["service_tier"] = "default"
        out["system_fingerprint"] = FINGERPRINT
        out["choices"] = choices
        if with_usage:
            out["usage"] = usage
        if self.current and self.obfuscate:
            out["obfuscation"] = _token(self.rng, self.rng.randint(2, 16))
        return out


def _deltas(reply: Reply, current: bool) -> list[JSON]:
    """The ``delta`` objects of a streamed reply, before the finish chunk."""
    reasoning: list[JSON] = [{"content": None, "reasoning_content": r} for r in reply.reasoning]
    if not reply.tool_calls:
        role: JSON = {"role": "assistant", "content": "", "refusal": None}
        return [role, *reasoning, *({"content": piece} for piece in reply.content)]
    pieces = [_call_pieces(i, call, reply.layout) for i, call in enumerate(reply.tool_calls)]
    calls = [{"tool_calls": [piece]} for piece in _ordered(pieces, reply.layout)]
    if current and not reasoning:
        return [{"role": "assistant", "content": None, **calls[0], "refusal": None}, *calls[1:]]
    return [{"role": "assistant", "content": None}, *reasoning, *calls]


def _call_pieces(index: int, call: ToolCall, layout: CallLayout) -> list[JSON]:
    """The ``tool_calls`` entries that stream one call: id, type and name first."""
    fragments = _fragments(call.arguments)
    head: JSON = {"index": index, "id": call.id, "type": "function"}
    if not layout.late_name:
        head["function"] = {"name": call.name, "arguments": ""}
        return [head, *({"index": index, "function": {"arguments": f}} for f in fragments)]
    first, second, *rest = [*fragments, "", ""][: max(2, len(fragments))]
    head["function"] = {"arguments": first}
    named = {"index": index, "function": {"name": call.name, "arguments": second}}
    return [head, named, *({"index": index, "function": {"arguments": f}} for f in rest)]


def _ordered(pieces: list[list[JSON]], layout: CallLayout) -> list[JSON]:
    """The calls' pieces one call after another, or interleaved: call k lags k pieces."""
    if not layout.interleave:
        return [piece for call in pieces for piece in call]
    longest = max((len(call) for call in pieces), default=0)
    steps = range(longest + len(pieces))
    return [
        call[step - k]
        for step in steps
        for k, call in enumerate(pieces)
        if 0 <= step - k < len(call)
    ]


def sse_frame(payload: JSON) -> bytes:
    """``data: {json}\\n\\n`` with OpenAI's compact separators."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return b"data: " + text.encode() + b"\n\n"


def stream_frames(reply: Reply, envelope: Envelope, include_usage: bool) -> list[bytes]:
    """The SSE frames of a streamed reply, ``[DONE]`` included."""
    choices: list[JSON] = [
        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        for delta in _deltas(reply, envelope.current)
    ]
    choices.append(
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": reply.finish_reason}
    )
    chunks = [envelope.chunk([choice], None, include_usage) for choice in choices]
    if include_usage:
        chunks.append(envelope.chunk([], reply.usage(), True))
    return [*map(sse_frame, chunks), DONE]


def completion_body(reply: Reply, envelope: Envelope) -> bytes:
    """A non-streamed ``chat.completion`` body, pretty-printed like OpenAI's (indent 2)."""
    message: JSON = {
        "role": "assistant",
        "content": None if reply.tool_calls else "".join(reply.content),
    }
    if reply.reasoning:
        message["reasoning_content"] = "".join(reply.reasoning)
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    message["refusal"] = None
    if envelope.current:
        message["annotations"] = []
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": reply.finish_reason,
    }
    body: JSON = {"id": envelope.id, "object": "chat.completion", "created": envelope.created}
    body.update(model=envelope.model, choices=[choice], usage=reply.usage())
    if envelope.current:
        body["service_tier"] = "default"
    body["system_fingerprint"] = FINGERPRINT
    return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode()


def error_response(
    status: int,
    message: str,
    kind: str,
    code: str | None,
    param: str | None = None,
    *,
    layout: str = "current",
    headers: dict[str, str] | None = None,
) -> web.Response:
    """OpenAI's ``{"error": {message, type, param, code}}`` in one of the recorded byte layouts.

    The recordings' content-lengths show three: ``2024`` (indent 4 and a newline), ``current``
    (one line) and ``validation`` (a 400 from parameter checks: indent 2, ``application/json``).
    """
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    content_type = ERROR_CONTENT_TYPE
    if layout == "2024":
        text = json.dumps(body, indent=4) + "\n"
    elif layout == "validation":
        text, content_type = json.dumps(body, indent=2), "application/json"
    else:
        text = json.dumps(body)
    all_headers = {"Content-Type": content_type, **(headers or {})}
    return web.Response(status=status, body=text.encode(), headers=all_headers)


def _refusal(request: web.Request) -> web.Response | None:
    """401 for the keys the fake treats as invalid, like OpenAI's ``invalid_api_key``."""
    auth = request.headers.get("Authorization", "")
    if auth not in REFUSED_AUTH:
        return None
    key = auth.removeprefix("Bearer ")
    message = (
        f"Incorrect API key provided: {key}. "
        "You can find your API key at https://platform.openai.com/account/api-keys."
    )
    return error_response(401, message, "invalid_request_error", "invalid_api_key")


ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_ROLES_SAID = ", ".join(repr(role) for role in ROLES[:-1]) + f", and {ROLES[-1]!r}"


def _unknown_role(messages: list[Any]) -> tuple[int, Any] | None:
    """The first message whose role OpenAI does not know, and that role."""
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            return index, role
    return None


def _invalid_body(body: Any) -> web.Response | None:
    """The 400s OpenAI gives for a body that is not JSON, lacks ``model``/``messages`` or has a
    message of a role it does not know."""
    problem: tuple[str, str | None, str | None]
    if not isinstance(body, dict):
        problem = (BAD_JSON_MESSAGE, None, None)
    elif not isinstance(body.get("model"), str) or not body["model"]:
        problem = ("you must provide a model parameter", None, None)
    elif not isinstance(body.get("messages"), list):
        message = "Missing required parameter: 'messages'."
        problem = (message, "missing_required_parameter", "messages")
    elif (wrong := _unknown_role(body["messages"])) is not None:
        index, role = wrong
        message = f"Invalid value: {role!r}. Supported values are: {_ROLES_SAID}."
        problem = (message, "invalid_value", f"messages[{index}].role")
    else:
        return None
    message, code, param = problem
    return error_response(400, message, "invalid_request_error", code, param, layout="validation")


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received (header names lower-cased; ``body`` is parsed JSON or None)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


class _Exchange:
    """One request being answered."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response: web.StreamResponse | None = None
        self.aborted = False


class FakeOpenAI(FakeServer):
    """The fake server: ``async with FakeOpenAI() as fake: …fake.base_url…``."""

    def __init__(self, *, models: Sequence[str] = DEFAULT_MODELS, seed: int = 0) -> None:
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.scenarios: dict[str, int] = {}
        self.base_url: str | None = None
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self._chat)
        self.app.router.add_get("/v1/models", self._models)
        self._model_ids = tuple(models)
        self._rng = random.Random(seed)
        self._active = 0
        self._idle = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._unix_path: str | None = None
        self._closing = asyncio.Event()
        self._stopping = False
        self._disconnected = asyncio.Event()

    @property
    def active(self) -> int:
        """Chat responses being produced right now."""
        return self._active

    async def start(
        self, host: str = "127.0.0.1", port: int | None = 0, *, unix_path: str | None = None
    ) -> str:
        """Listen on ``host:port`` (and/or a Unix socket); return the base URL ending in ``/v1``."""
        if self._runner is not None:
            raise RuntimeError("FakeOpenAI is already started")
        self._closing, self._stopping = asyncio.Event(), False
        runner = web.AppRunner(
            self.app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        self._runner = runner
        self.base_url = "http://localhost/v1"
        if unix_path is not None:
            await web.UnixSite(runner, unix_path).start()
            self._unix_path = unix_path
        if port is not None:
            await web.TCPSite(runner, host, port).start()
            bound = next(a for a in runner.addresses if isinstance(a, tuple))[1]
            self.base_url = f"http://{host}:{bound}/v1"
        return self.base_url

    async def stop(self) -> None:
        """Stop listening; stalled or streaming responses are cut off."""
        if self._runner is None:
            return
        self._stopping = True
        self._closing.set()
        runner, self._runner = self._runner, None
        await runner.cleanup()
        self._forget_unix_socket()

    def _forget_unix_socket(self) -> None:
        if self._unix_path is not None:
            Path(self._unix_path).unlink(missing_ok=True)
            self._unix_path = None

    # The agreed test API takes a timeout; wrapping every call in asyncio.timeout is noise.
    async def wait_disconnect(self, timeout: float = 5.0, count: int = 1) -> int:  # noqa: ASYNC109
        """Wait until ``count`` client disconnects in total were noticed; return the total."""
        async with asyncio.timeout(timeout):
            while self.disconnects < count:
                await self._disconnected.wait()
        return self.disconnects

    async def wait_idle(self, timeout: float = 5.0) -> int:  # noqa: ASYNC109
        """Wait until no chat response is being produced (or ``timeout``); return how many are."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._active:
                    await self._idle.wait()
        return self._active

    def _lost(self, exchange: _Exchange) -> None:
        if exchange.aborted or self._stopping:
            return
        self.disconnects += 1
        self._disconnected.set()
        self._disconnected = asyncio.Event()

    async def _record(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.requests.append(RecordedRequest(request.method, request.path, headers, body))
        return body

    def _headers(self, content_type: str) -> dict[str, str]:
        return {
            "Content-Type": content_type,
            "openai-version": "2020-10-01",
            "openai-processing-ms": "1",
            "x-request-id": "req_"
            + "".join(self._rng.choice("0123456789abcdef") for _ in range(32)),
        }

    async def _models(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        refused = _refusal(request)
        if refused is not None:
            return refused
        data = [
            {
                "id": name,
                "object": "model",
                "created": 1_700_000_000 + i,
                "owned_by": "switchboard-fake",
            }
            for i, name in enumerate(self._model_ids)
        ]
        body = json.dumps({"object": "list", "data": data}, indent=2) + "\n"
        return web.Response(body=body.encode(), headers=self._headers("application/json"))

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        exchange = _Exchange(request)
        self._active += 1
        try:
            return await self._answer(exchange)
        except asyncio.CancelledError:
            self._lost(exchange)
            raise
        except ConnectionError:
            self._lost(exchange)
            return exchange.response or web.Response()
        finally:
            self._active -= 1
            if not self._active:
                self._idle.set()
                self._idle = asyncio.Event()

    async def _answer(self, exchange: _Exchange) -> web.StreamResponse:
        body = await self._record(exchange.request)
        refused = _refusal(exchange.request) or _invalid_body(body)
        if refused is not None:
            return refused
        model: str = body["model"]
        try:
            spec = parse_model(model)
        except ValueError as exc:
            return error_response(
                400,
                str(exc),
                "invalid_request_error",
                "invalid_value",
                "model",
                layout="validation",
            )
        fault = self._fault_for(spec, model)
        if fault in HTTP_FAULTS or fault in EARLY_FAULTS:
            return await self._early_fault(exchange, fault, spec, model)
        reply = plan_reply(body, spec, self._rng)
        options = body.get("stream_options") if isinstance(body.get("stream_options"), dict) else {}
        envelope = Envelope(
            id="chatcmpl-" + _token(self._rng, 29),
            created=int(time.time()),
            model=model,
            current=spec.wire == "current",
            obfuscate=options.get("include_obfuscation", True) is not False,
            rng=self._rng,
        )
        if body.get("stream") is True:
            frames = stream_frames(reply, envelope, options.get("include_usage") is True)
            return await self._send_stream(exchange, frames, spec, fault)
        return await self._send_json(exchange, completion_body(reply, envelope), spec, fault)

    def _fault_for(self, spec: ModelSpec, model: str) -> str | None:
        """The fault for this request, counting requests per scenario for ``times``."""
        if spec.scenario is None and spec.times is None:
            return spec.fault
        key = spec.scenario or model
        seen = self.scenarios[key] = self.scenarios.get(key, 0) + 1
        if spec.times is not None and seen > spec.times:
            return None
        return spec.fault

    async def _early_fault(
        self, exchange: _Exchange, fault: str | None, spec: ModelSpec, model: str
    ) -> web.StreamResponse:
        if fault == "reset_before_first_chunk":
            self._abort(exchange)
            return web.Response()
        if fault == "stall_before_headers":
            await self._closing.wait()
            self._abort(exchange)
            return web.Response()
        if fault == "garbage":
            return web.Response(text=GARBAGE_HTML, content_type="text/html")
        status, kind, code, param, template = HTTP_FAULTS[str(fault)]
        retry = spec.retry_after if spec.retry_after is not None else 1
        message = template.format(model=model, retry=retry)
        headers = {"x-request-id": "req_" + _token(self._rng, 32)}
        if spec.retry_after is not None and not spec.retry_after_date:
            headers["Retry-After"] = str(spec.retry_after)
        if spec.retry_after_date:
            when = datetime.now(UTC) + timedelta(seconds=retry)
            headers["Retry-After"] = format_datetime(when, usegmt=True)
        layout = "validation" if status == 400 else spec.wire
        return error_response(status, message, kind, code, param, layout=layout, headers=headers)

    async def _send_stream(
        self, exchange: _Exchange, frames: list[bytes], spec: ModelSpec, fault: str | None
    ) -> web.StreamResponse:
        if fault == "malformed_json":
            frames[1] = frames[1][: len(frames[1]) // 2] + b"\n\n"
        elif fault == "duplicate_done":
            frames.append(DONE)
        elif fault == "missing_done":
            frames.pop()
        elif fault == "truncated":
            del frames[len(frames) // 2 :]
        response = web.StreamResponse(headers=self._headers(SSE_CONTENT_TYPE))
        if fault in ("missing_done", "truncated"):
            response.force_close()
        return await self._deliver(exchange, response, frames, spec.delay_ms / 1000, fault)

    async def _send_json(
        self, exchange: _Exchange, body: bytes, spec: ModelSpec, fault: str | None
    ) -> web.StreamResponse:
        if fault == "malformed_json":
            body = body[: len(body) // 2]
        response = web.StreamResponse(headers=self._headers("application/json"))
        response.content_length = len(body)
        if await self._pause(spec.delay_ms / 1000):
            self._abort(exchange)
            return response
        halves = [body[: len(body) // 2], body[len(body) // 2 :]]
        return await self._deliver(exchange, response, halves, 0.0, fault)

    async def _deliver(
        self,
        exchange: _Exchange,
        response: web.StreamResponse,
        parts: list[bytes],
        delay: float,
        fault: str | None,
    ) -> web.StreamResponse:
        """Send ``parts`` (headers first), pausing between them and applying wire faults."""
        exchange.response = response
        await response.prepare(exchange.request)
        if fault == "split_bytes":
            parts = [bytes([byte]) for byte in b"".join(parts)]
        for index, part in enumerate(parts):
            if index and await self._pause(delay):
                self._abort(exchange)
                return response
            await response.write(part)
            if fault == "split_bytes":
                await exchange.request.writer.drain()
                await asyncio.sleep(0)
            if index == 0 and fault in CUT_FAULTS:
                return await self._cut(exchange, response, fault)
        await response.write_eof()
        return response

    async def _cut(
        self, exchange: _Exchange, response: web.StreamResponse, fault: str | None
    ) -> web.StreamResponse:
        await exchange.request.writer.drain()
        if fault == "stall_after_first_chunk":
            await self._closing.wait()
        self._abort(exchange)
        return response

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the fake is stopping; return whether it is stopping."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._closing.wait()
        return self._closing.is_set()

    def _abort(self, exchange: _Exchange) -> None:
        """Close the connection at once: a TCP RST (SO_LINGER 0) rather than a FIN."""
        exchange.aborted = True
        reset(exchange.request)


async def _serve(host: str, port: int | None, unix_path: str | None) -> None:
    fake = FakeOpenAI()
    print(await fake.start(host, port, unix_path=unix_path), flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await fake.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the fake until SIGINT/SIGTERM (TCP on ``--port``, 0 = any; Unix with ``--unix``)."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.openai_chat", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="TCP port (default: any free one)")
    parser.add_argument("--unix", default=None, help="also (or, without --port, only) this socket")
    args = parser.parse_args(argv)
    port = args.port if args.port is not None else (None if args.unix else 0)
    asyncio.run(_serve(args.host, port, args.unix))


if __name__ == "__main__":
    main()
