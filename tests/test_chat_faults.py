"""chat.send when the provider misbehaves: what the user sees, and what the provider saw.

Every fault comes from the fake provider (``tests/fakes/openai_chat.py``), chosen through the
model string; a unique ``scenario=`` per test tells its upstream requests apart, since the
daemon and the fake are shared. Over HTTP POST the daemon asks the provider for JSON; over
WebSocket and stdio with ``stream=true`` it asks for Server-Sent Events.

The shared chat daemon retries twice (3 attempts) with a 10 ms backoff, holds two keys for
openai and waits 1.5 s for a first byte. Timeouts, fallbacks and the circuit breaker are
tested against daemons of their own with configs made for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.conftest import result_validator
from tests.fakes.openai_chat import RecordedRequest
from tests.support.daemon import DaemonProcess, running_daemon, start_daemon
from tests.support.local_server import serving
from tests.support.transports import TRANSPORTS, Session, collect, connected, open_session
from tests.support.upstream import ThreadedUpstream, upstream_config
from tests.support.wsrpc import unix_http

HELLO = [{"role": "user", "content": "hello there"}]
ECHO = "Echo: hello there"
KEYS = ("sk-test-key-one-0000", "sk-test-key-two-0000")
RETRIES = 2  # the chat daemon's [reliability] retries
ATTEMPTS = RETRIES + 1
SEARCH_TOOL = {
    "name": "search",
    "description": "Search the web",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
}
STREAMING = ["websocket", "stdio"]  # the transports that get chat.delta notifications
FAST_TIMEOUT_MS = 300
DRAIN_DEADLINE_S = 2.0
BAD_LOG_LINES = ("Task was destroyed", "Unclosed", "exception was never retrieved")

_ids = itertools.count(1)


# --- helpers -------------------------------------------------------------------------------


def fake_model(name: str, **options: int | str | bool) -> tuple[str, str]:
    """A fake model string for a fresh scenario, and the marker that finds its requests."""
    scenario = f"{name}-{uuid.uuid4().hex[:10]}"
    parts = ["gpt-fake"]
    for key, value in options.items():
        parts.append(key if value is True else f"{key}={value}")
    parts.append(f"scenario={scenario}")
    return "+".join(parts), f"scenario={scenario}"


async def chat(session: Session, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """chat.send over ``session``: the chat.delta params that came first, and the answer."""
    body = {"jsonrpc": "2.0", "id": next(_ids), "method": "chat.send", "params": params}
    notes, answer = await collect(session, body)
    return [n["params"] for n in notes if n["method"] == "chat.delta"], answer


def streamed(session: Session) -> bool:
    """Whether a stream=true chat.send over ``session`` reaches the provider as SSE."""
    return session.name != "http"


def error_of(answer: dict[str, Any], code: int) -> dict[str, Any]:
    assert "error" in answer, f"expected error {code}, got {answer}"
    error: dict[str, Any] = answer["error"]
    assert error["code"] == code, error
    return error


def outcomes(route: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(attempt["provider"], attempt["outcome"]) for attempt in route]


def authorizations(requests: list[RecordedRequest]) -> list[str]:
    return [request.headers.get("authorization", "") for request in requests]


async def active_responses(upstream: ThreadedUpstream) -> int:
    """The fake's active responses once they drained (or the deadline passed)."""
    return await upstream.wait(upstream.fake.wait_idle(DRAIN_DEADLINE_S))


def tuned_config(base_url: str, extra: str = "", **reliability: int) -> str:
    """``upstream_config`` with some [reliability] numbers changed and ``extra`` appended."""
    text = upstream_config(base_url, extra=extra)
    for key, value in reliability.items():
        text, found = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.MULTILINE)
        if not found:
            text += f"{key} = {value}\n"
    return text


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
async def _every_fault_ends_its_upstream_response(
    upstream: ThreadedUpstream,
) -> AsyncIterator[None]:
    """After each test the fake has finished (or had cut off) every response it started."""
    yield
    assert await active_responses(upstream) == 0, "a response to the daemon is still open"


@pytest.fixture(scope="module")
def fast_daemon(upstream: ThreadedUpstream) -> Iterator[DaemonProcess]:
    """Like the chat daemon, but it gives up on a silent provider after 300 ms."""
    config = tuned_config(
        upstream.base_url,
        first_byte_timeout_ms=FAST_TIMEOUT_MS,
        idle_timeout_ms=FAST_TIMEOUT_MS,
    )
    with running_daemon(config=config, harness=True) as daemon:
        yield daemon


@pytest.fixture(params=TRANSPORTS)
async def fast_session(
    request: pytest.FixtureRequest, fast_daemon: DaemonProcess
) -> AsyncIterator[Session]:
    async with connected(request.param, fast_daemon) as opened:
        yield opened


@pytest.fixture(scope="module")
def fallback_daemon(upstream: ThreadedUpstream) -> Iterator[DaemonProcess]:
    """openai falls back to the config-defined provider "fake" (and one model to another)."""
    extra = (
        'fallback_providers = ["fake"]\n'
        'model_fallbacks = { "openai/gpt-fake+fault=http_503+scenario=mf" = '
        '["fake/gpt-fake+scenario=mf2"] }\n'
    )
    with running_daemon(config=upstream_config(upstream.base_url, extra=extra), harness=True) as d:
        yield d


@pytest.fixture(scope="module")
def breaker_daemon(upstream: ThreadedUpstream) -> Iterator[DaemonProcess]:
    """Opens a provider's circuit after two failed calls, for ten minutes; no retries."""
    config = tuned_config(
        upstream.base_url, retries=0, breaker_threshold=2, breaker_cooldown_ms=600_000
    )
    with running_daemon(config=config, harness=True) as daemon:
        yield daemon


@pytest.fixture(scope="module")
def probe_daemon(upstream: ThreadedUpstream) -> Iterator[DaemonProcess]:
    """Opens a provider's circuit on the first failed call; lets a probe through at once."""
    config = tuned_config(upstream.base_url, retries=0, breaker_threshold=1, breaker_cooldown_ms=0)
    with running_daemon(config=config, harness=True) as daemon:
        yield daemon


# --- errors the provider states ------------------------------------------------------------


async def test_a_refused_key_is_reported_once_without_retrying_or_echoing_keys(
    chat_session: Session, upstream: ThreadedUpstream
) -> None:
    model, marker = fake_model("401", fault="http_401")
    _, answer = await chat(chat_session, messages=HELLO, model=model, stream=True)
    error = error_of(answer, -32020)
    assert (error["data"]["status"], error["data"]["provider"]) == (401, "openai")
    assert outcomes(error["data"]["route"]) == [("openai", "UpstreamAuthFailed")]
    assert len(upstream.requests_for(marker)) == 1, "a refused key is not retried"
    text = orjson.dumps(answer).decode()
    for key in KEYS:
        assert key not in text


async def test_a_key_the_provider_echoes_back_is_masked_whatever_its_shape(
    chat_session: Session,
) -> None:
    # The fake echoes this key in full, as OpenAI does ("Incorrect API key provided: ..."), and
    # it has no secret-looking shape: only knowing the call's own key can mask it.
    _, answer = await chat(chat_session, messages=HELLO, apiKey="bad-key")
    error = error_of(answer, -32020)
    assert "bad-key" not in orjson.dumps(answer).decode()
    assert "[redacted]" in error["data"]["detail"]


@pytest.mark.parametrize(
    ("fault", "code", "status"),
    [("http_404", -32021, 404), ("context_length", -32022, 400)],
)
async def test_a_request_the_provider_refuses_is_not_retried(
    chat_session: Session, upstream: ThreadedUpstream, fault: str, code: int, status: int
) -> None:
    model, marker = fake_model(fault, fault=fault)
    _, answer = await chat(chat_session, messages=HELLO, model=model, stream=True)
    error = error_of(answer, code)
    assert error["data"]["status"] == status
    assert error["data"]["detail"], "the provider's own words are passed on"
    assert len(error["data"]["route"]) == 1
    assert len(upstream.requests_for(marker)) == 1


async def test_a_rate_limit_on_one_key_moves_to_the_next_key_at_once(
    chat_session: Session, upstream: ThreadedUpstream
) -> None:
    model, marker = fake_model("429once", fault="http_429", retry_after=1, times=1)
    started = time.monotonic()
    deltas, answer = await chat(chat_session, messages=HELLO, model=model, stream=True)
    elapsed = time.monotonic() - started
    result = answer["result"]
    result_validator("chat.send")(result)
    assert result["message"]["content"] == ECHO
    assert outcomes(result["route"]) == [("openai", "RateLimited"), ("openai", "ok")]
    assert (result["route"][0]["code"], result["route"][0]["status"]) == (-32023, 429)
    sent = upstream.requests_for(marker)
    assert authorizations(sent) == [f"Bearer {KEYS[0]}", f"Bearer {KEYS[1]}"]
    assert elapsed < 1.0, "another key is tried without waiting out the first key's Retry-After"
    if streamed(chat_session):
        assert "".join(d["text"] for d in deltas) == ECHO


@pytest.mark.parametrize("chat_session", ["http"], indirect=True)
async def test_rate_limits_on_every_key_end_in_rate_limited_with_retry_after(
    chat_session: Session, upstream: ThreadedUpstream
) -> None:
    model, marker = fake_model("429always", fault="http_429", retry_after=1)
    _, answer = await chat(chat_session, messages=HELLO, model=model)
    error = error_of(answer, -32023)
    assert error["data"]["retryAfterMs"] == 1000
    assert error["data"]["status"] == 429
    # Each key once without waiting; then the last key is retried `retries` times.
    sent = upstream.requests_for(marker)
    assert len(sent) == len(KEYS) + RETRIES
    assert authorizations(sent) == [f"Bearer {KEYS[0]}"] + [f"Bearer {KEYS[1]}"] * (1 + RETRIES)
    assert outcomes(error["data"]["route"]) == [("openai", "RateLimited")] * len(sent)


@pytest.mark.parametrize("chat_session", ["http"], indirect=True)
async def test_a_retry_after_longer_than_the_call_may_last_ends_it_with_rate_limited_at_once(
    chat_session: Session, upstream: ThreadedUpstream
) -> None:
    # Waiting out a 60 s Retry-After cannot fit in a 1 s call: say so now, with the wait.
    model, marker = fake_model("429long", fault="http_429", retry_after=60)
    _, answer = await chat(chat_session, messages=HELLO, model=model, timeoutMs=1000)
    error = error_of(answer, -32023)
    assert error["data"]["retryAfterMs"] == 60_000
    assert len(upstream.requests_for(marker)) == len(KEYS)


@pytest.mark.parametrize("fault", ["http_500", "http_503"])
async def test_a_server_error_is_retried_until_the_third_attempt_succeeds(
    chat_session: Session, upstream: ThreadedUpstream, fault: str
) -> None:
    model, marker = fake_model(fault, fault=fault, times=2)
    _, answer = await chat(chat_session, messages=HELLO, model=model, stream=True)
    result = answer["result"]
    assert result["message"]["content"] == ECHO
    assert outcomes(result["route"]) == [
        ("openai", "UpstreamUnavailable"),
        ("openai", "UpstreamUnavailable"),
        ("openai", "ok"),
    ]
    assert len(upstream.requests_for(marker)) == ATTEMPTS


@pytest.mark.parametrize(("fault", "status"), [("http_500", 500), ("http_503", 503)])
async def test_a_provider_that_stays_down_fails_after_retries_plus_one_attempts(
    chat_session: Session, upstream: ThreadedUpstream, fault: str, status: int
) -> None:
    model, marker = fake_model(fault, fault=fault)
    _, answer = await chat(chat_session, messages=HELLO, model=model, stream=True)
    error = error_of(answer, -32024)
    assert error["data"]["status"] == status
    assert outcomes(error["data"]["route"]) == [("openai", "UpstreamUnavailable")] * ATTEMPTS
    assert len(upstream.requests_for(marker)) == ATTEMPTS


# --- broken connections --------------------------------------------------------------------


async def test_a_connection_reset_before_the_answer_is_retried(
    chat_session: Session, upstream: ThreadedUpstream
) -> None:
    model, marker = fake_model("resetbefore", fault="reset_before_first_chunk", times=1)
    _, answer = await chat(chat_session, messages=HELLO, model=model, stream=True)
    result = answer["result"]
    assert result["message"]["content"] == ECHO
    assert outcomes(result["route"]) == [("openai", "UpstreamUnavailable"), ("openai", "ok")]
    assert len(upstream.requests_for(marker)) == 2


@pytest.mark.parametrize("chat_session", STREAMING, indirect=True)
async def test_a_stream_cut_after_output_reached_the_client_is_not_retried(
    chat_session: Session, upstream: ThreadedUpstream
) -> None:
    # With tools the fake's first chunk already carries the tool call's name: output starts.
    model, marker = fake_model("cutafter", fault="reset_after_first_chunk", tools=True)
    deltas, answer = await chat(
        chat_session, messages=HELLO, model=model, tools=[SEARCH_TOOL], stream=True
    )
    assert [(d["type"], d.get("name")) for d in deltas] == [("toolCall", "search")]
    error = error_of(answer, -32024)
    assert outcomes(error["data"]["route"]) == [("openai", "UpstreamUnavailable")]
    assert len(upstream.requests_for(marker)) == 1, "what the client saw cannot be taken back"


@pytest.mark.parametrize("chat_session", STREAMING, indirect=True)
async def test_a_stream_cut_before_any_text_is_retried_without_repeating_output(
    chat_session: Session, upstream: ThreadedUpstream
) -> None:
    # The fake's first chunk is the role alone: nothing has reached the client yet.
    model, marker = fake_model("cutrole", fault="reset_after_first_chunk", times=1)
    deltas, answer = await chat(chat_session, messages=HELLO, model=model, stream=True)
    result = answer["result"]
    assert result["message"]["content"] == ECHO
    assert "".join(d["text"] for d in deltas) == ECHO
    assert outcomes(result["route"]) == [("openai", "UpstreamUnavailable"), ("openai", "ok")]
    assert len(upstream.requests_for(marker)) == 2


@pytest.mark.parametrize("chat_session", ["http"], indirect=True)
async def test_a_json_answer_cut_in_half_is_retried(
    chat_session: Session, upstream: ThreadedUpstream
) -> None:
    # Not streamed, the fake sends half of the JSON body (Content-Length says more), then resets.
    model, marker = fake_model("cutjson", fault="reset_after_first_chunk", times=1)
    _, answer = await chat(chat_session, messages=HELLO, model=model, stream=True)
    result = answer["result"]
    assert result["message"]["content"] == ECHO
    assert outcomes(result["route"]) == [("openai", "UpstreamUnavailable"), ("openai", "ok")]
    sent = upstream.requests_for(marker)
    assert [r.body["stream"] for r in sent] == [False, False]


@pytest.mark.parametrize("chat_session", ["http"], indirect=True)
async def test_a_json_answer_that_is_always_cut_fails_after_every_attempt(
    chat_session: Session, upstream: ThreadedUpstream
) -> None:
    model, marker = fake_model("cutjsonalways", fault="reset_after_first_chunk")
    _, answer = await chat(chat_session, messages=HELLO, model=model)
    error = error_of(answer, -32024)
    assert outcomes(error["data"]["route"]) == [("openai", "UpstreamUnavailable")] * ATTEMPTS
    assert len(upstream.requests_for(marker)) == ATTEMPTS


# --- timeouts (a daemon with 300 ms first-byte and idle limits) ----------------------------


async def test_a_provider_silent_before_headers_times_out_after_every_attempt(
    fast_session: Session, upstream: ThreadedUpstream
) -> None:
    model, marker = fake_model("stallhead", fault="stall_before_headers")
    started = time.monotonic()
    _, answer = await chat(fast_session, messages=HELLO, model=model, stream=True)
    elapsed = time.monotonic() - started
    error = error_of(answer, -32025)
    assert error["data"]["phase"] == "first byte"
    assert outcomes(error["data"]["route"]) == [("openai", "UpstreamTimeout")] * ATTEMPTS
    assert len(upstream.requests_for(marker)) == ATTEMPTS, "a timeout before output is retried"
    assert elapsed >= ATTEMPTS * FAST_TIMEOUT_MS / 1000


@pytest.mark.parametrize("fast_session", STREAMING, indirect=True)
async def test_a_stream_that_stalls_after_output_reached_the_client_times_out_once(
    fast_session: Session, upstream: ThreadedUpstream
) -> None:
    model, marker = fake_model("stallafter", fault="stall_after_first_chunk", tools=True)
    deltas, answer = await chat(
        fast_session, messages=HELLO, model=model, tools=[SEARCH_TOOL], stream=True
    )
    assert [d["type"] for d in deltas] == ["toolCall"]
    error = error_of(answer, -32025)
    assert error["data"]["phase"] == "idle"
    assert outcomes(error["data"]["route"]) == [("openai", "UpstreamTimeout")]
    assert len(upstream.requests_for(marker)) == 1


async def test_a_provider_that_stalls_before_any_output_is_retried(
    fast_session: Session, upstream: ThreadedUpstream
) -> None:
    # Streamed: the role chunk arrives, then nothing. Not streamed: half a JSON body, then nothing.
    model, marker = fake_model("stallrole", fault="stall_after_first_chunk")
    deltas, answer = await chat(fast_session, messages=HELLO, model=model, stream=True)
    assert deltas == []
    error = error_of(answer, -32025)
    assert outcomes(error["data"]["route"]) == [("openai", "UpstreamTimeout")] * ATTEMPTS
    assert len(upstream.requests_for(marker)) == ATTEMPTS


# --- unreadable answers --------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["malformed_json", "garbage"])
async def test_an_unreadable_answer_is_a_protocol_error_and_not_retried(
    chat_session: Session, upstream: ThreadedUpstream, fault: str
) -> None:
    model, marker = fake_model(fault, fault=fault)
    _, answer = await chat(chat_session, messages=HELLO, model=model, stream=True)
    error = error_of(answer, -32026)
    assert outcomes(error["data"]["route"]) == [("openai", "UpstreamProtocol")]
    sent = upstream.requests_for(marker)
    assert len(sent) == 1
    assert sent[0].body["stream"] is streamed(chat_session)


@pytest.mark.parametrize("fault", ["split_bytes", "duplicate_done"])
async def test_odd_but_valid_framing_gives_the_same_result_as_a_normal_answer(
    chat_session: Session, upstream: ThreadedUpstream, fault: str
) -> None:
    normal_model, _ = fake_model("normal")
    odd_model, marker = fake_model(fault, fault=fault)
    normal_deltas, normal = await chat(
        chat_session, messages=HELLO, model=normal_model, stream=True
    )
    odd_deltas, odd = await chat(chat_session, messages=HELLO, model=odd_model, stream=True)
    keep = ("message", "finishReason", "usage")
    assert {k: odd["result"][k] for k in keep} == {k: normal["result"][k] for k in keep}
    assert [d["text"] for d in odd_deltas] == [d["text"] for d in normal_deltas]
    assert outcomes(odd["result"]["route"]) == [("openai", "ok")]
    assert len(upstream.requests_for(marker)) == 1


async def test_a_stream_without_done_is_complete_once_its_finish_reason_arrived(
    chat_session: Session, upstream: ThreadedUpstream
) -> None:
    model, marker = fake_model("nodone", fault="missing_done")
    deltas, answer = await chat(chat_session, messages=HELLO, model=model, stream=True)
    result = answer["result"]
    assert (result["message"]["content"], result["finishReason"]) == (ECHO, "stop")
    assert result["usage"]["outputTokens"] > 0
    assert outcomes(result["route"]) == [("openai", "ok")]
    assert len(upstream.requests_for(marker)) == 1
    if streamed(chat_session):
        assert "".join(d["text"] for d in deltas) == ECHO


# --- fallbacks and the circuit breaker -----------------------------------------------------


def fallback_requests(upstream: ThreadedUpstream) -> list[RecordedRequest]:
    return [
        r
        for r in list(upstream.fake.requests)
        if r.headers.get("authorization") == "Bearer sk-test-fallback-0000"
    ]


async def test_a_failing_provider_falls_back_to_the_next_provider(
    fallback_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    session = await open_session("websocket", fallback_daemon)
    try:
        model, marker = fake_model("fallback", fault="http_503")
        before = len(fallback_requests(upstream))
        deltas, answer = await chat(session, messages=HELLO, model=model, stream=True)
    finally:
        await session.close()
    result = answer["result"]
    assert (result["provider"], result["model"]) == ("fake", "gpt-fake")
    assert result["message"]["content"] == ECHO
    assert "".join(d["text"] for d in deltas) == ECHO
    assert outcomes(result["route"]) == [("openai", "UpstreamUnavailable")] * ATTEMPTS + [
        ("fake", "ok")
    ]
    assert len(upstream.requests_for(marker)) == ATTEMPTS
    assert len(fallback_requests(upstream)) == before + 1


async def test_a_request_the_provider_judged_wrong_does_not_fall_back(
    fallback_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    session = await open_session("http", fallback_daemon)
    try:
        model, marker = fake_model("nofallback", fault="context_length")
        before = len(fallback_requests(upstream))
        _, answer = await chat(session, messages=HELLO, model=model)
    finally:
        await session.close()
    error = error_of(answer, -32022)
    assert outcomes(error["data"]["route"]) == [("openai", "ContextTooLong")]
    assert len(upstream.requests_for(marker)) == 1
    assert len(fallback_requests(upstream)) == before, "the fallback provider was not asked"


async def test_a_model_fallback_answers_when_the_model_fails(
    fallback_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    session = await open_session("http", fallback_daemon)
    try:
        _, answer = await chat(
            session, messages=HELLO, provider="openai", model="gpt-fake+fault=http_503+scenario=mf"
        )
    finally:
        await session.close()
    result = answer["result"]
    assert (result["provider"], result["model"]) == ("fake", "gpt-fake+scenario=mf2")
    assert outcomes(result["route"]) == [("openai", "UpstreamUnavailable")] * ATTEMPTS + [
        ("fake", "ok")
    ]
    assert upstream.requests_for("scenario=mf2")[-1].headers["authorization"] == (
        "Bearer sk-test-fallback-0000"
    )


async def test_an_open_circuit_refuses_calls_without_asking_the_provider(
    breaker_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    session = await open_session("http", breaker_daemon)
    try:
        failing, failing_marker = fake_model("breaker", fault="http_503")
        for _ in range(2):
            _, answer = await chat(session, messages=HELLO, model=failing)
            error_of(answer, -32024)
        assert len(upstream.requests_for(failing_marker)) == 2
        healthy, healthy_marker = fake_model("breakerthird")
        _, answer = await chat(session, messages=HELLO, model=healthy)
    finally:
        await session.close()
    error = error_of(answer, -32027)
    assert 0 < error["data"]["retryAfterMs"] <= 600_000
    assert error["data"]["provider"] == "openai"
    assert outcomes(error["data"]["route"]) == [("openai", "skipped: circuit open")]
    assert upstream.requests_for(healthy_marker) == []


async def test_a_probe_cut_short_by_the_call_timeout_does_not_hold_the_circuit_open_for_ever(
    probe_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    session = await open_session("http", probe_daemon)
    try:
        failing, _ = fake_model("probeopen", fault="http_503")
        _, opened = await chat(session, messages=HELLO, model=failing)
        error_of(opened, -32024)  # the circuit is open; with no cooldown the next call probes
        stalled, _ = fake_model("probestall", fault="stall_before_headers")
        _, probe = await chat(session, messages=HELLO, model=stalled, timeoutMs=300)
        assert error_of(probe, -32025)["data"]["phase"] == "total"
        healthy, marker = fake_model("probehealthy")
        _, answer = await chat(session, messages=HELLO, model=healthy)
    finally:
        await session.close()
    assert "result" in answer, f"the probe ended, so another call may probe: {answer}"
    assert len(upstream.requests_for(marker)) == 1


# --- the OpenAI-compatible endpoint --------------------------------------------------------


async def completions(daemon: DaemonProcess, body: dict[str, Any]) -> tuple[int, str, Any]:
    """POST /v1/chat/completions: the status, the content type and the parsed body."""
    async with (
        unix_http(daemon) as http,
        http.post("http://sb/v1/chat/completions", json=body) as response,
    ):
        raw = await response.read()
        return response.status, response.content_type, orjson.loads(raw)


@pytest.mark.parametrize(
    ("fault", "status", "kind", "code"),
    [
        ("http_401", 401, "authentication_error", "UpstreamAuthFailed"),
        ("http_429", 429, "rate_limit_error", "RateLimited"),
        ("http_500", 502, "api_error", "UpstreamUnavailable"),
        ("context_length", 400, "invalid_request_error", "ContextTooLong"),
        ("stall_before_headers", 504, "server_error", "UpstreamTimeout"),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_the_openai_endpoint_answers_provider_failures_with_openai_errors(
    fast_daemon: DaemonProcess,
    upstream: ThreadedUpstream,
    fault: str,
    status: int,
    kind: str,
    code: str,
    stream: bool,
) -> None:
    model, marker = fake_model(fault, fault=fault)
    body = {"model": model, "messages": HELLO, "stream": stream}
    got_status, content_type, answer = await completions(fast_daemon, body)
    assert (got_status, content_type) == (status, "application/json"), answer
    assert set(answer) == {"error"}
    assert set(answer["error"]) == {"message", "type", "param", "code"}
    assert (answer["error"]["type"], answer["error"]["code"]) == (kind, code)
    assert answer["error"]["message"]
    for key in KEYS:
        assert key not in orjson.dumps(answer).decode()
    assert upstream.requests_for(marker), "the provider was asked"


async def test_an_openai_stream_that_breaks_after_output_ends_with_an_in_band_error(
    chat_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    model, marker = fake_model("v1cut", fault="reset_after_first_chunk", tools=True)
    body = {"model": model, "messages": HELLO, "tools": [SEARCH_TOOL], "stream": True}
    async with (
        unix_http(chat_daemon) as http,
        http.post("http://sb/v1/chat/completions", json=body) as response,
    ):
        assert (response.status, response.content_type) == (200, "text/event-stream")
        text = (await response.read()).decode()
    events = [line.removeprefix("data: ") for line in text.splitlines() if line]
    chunks = [orjson.loads(event) for event in events]
    assert chunks[-1]["error"]["code"] == "UpstreamUnavailable"
    assert any(c.get("choices") and c["choices"][0]["delta"].get("tool_calls") for c in chunks)
    assert "[DONE]" not in events, "a broken stream must not look complete"
    assert len(upstream.requests_for(marker)) == 1


NETWORK_PAUSE_S = 0.05  # how long the slow provider below takes between two TCP segments


async def _slow_error_body(request: web.Request) -> web.StreamResponse:
    """A context-length 400 whose JSON body arrives in two pieces, as on a slow network."""
    await request.read()
    body = orjson.dumps(
        {
            "error": {
                "message": "This model's maximum context length is 128000 tokens.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        }
    )
    response = web.StreamResponse(status=400, headers={"Content-Type": "application/json"})
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[:40])
    await asyncio.sleep(NETWORK_PAUSE_S)
    with contextlib.suppress(ConnectionResetError):  # a reader that stopped early hung up
        await response.write(body[40:])
        await response.write_eof()
    return response


async def test_an_error_body_that_arrives_in_pieces_is_read_whole() -> None:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _slow_error_body)
    async with serving(app) as origin:
        config = upstream_config(f"{origin}/v1")
        daemon = await asyncio.to_thread(start_daemon, config=config, harness=True)
        try:
            session = await open_session("http", daemon)
            try:
                _, answer = await chat(session, messages=HELLO)
            finally:
                await session.close()
        finally:
            await asyncio.to_thread(daemon.close)
    error = error_of(answer, -32022)
    assert "maximum context length" in error["data"]["detail"]


# --- afterwards ----------------------------------------------------------------------------


async def test_the_daemon_keeps_serving_after_the_faults(
    chat_session: Session, chat_daemon: DaemonProcess
) -> None:
    deltas, answer = await chat(chat_session, messages=HELLO, stream=True)
    assert answer["result"]["message"]["content"] == ECHO
    if streamed(chat_session):
        assert "".join(d["text"] for d in deltas) == ECHO
    info = await chat_session.send(
        orjson.dumps({"jsonrpc": "2.0", "id": "info", "method": "daemon.info"})
    )
    assert "result" in info
    log = chat_daemon.log_text()
    assert not [line for line in log.splitlines() if any(bad in line for bad in BAD_LOG_LINES)]
    for key in KEYS:
        assert key not in log
