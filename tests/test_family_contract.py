"""The one contract every API family keeps, driven through the real daemon.

Each family's fake (``tests/fakes/families/``) speaks that family's wire; one daemon is
configured with every family's catalog provider pointed at it. The same cases run for each:
text, streamed text, a tool call, a tool round trip, reasoning, usage, an error before the
stream, an error in the middle of it, and cancellation. What is asserted is what a client sees
(the answer, its chat.delta notifications, typed errors) and, where it matters, what the
provider received.

Login-bound families (a ChatGPT, Gemini CLI, Copilot, Qwen, Kimi or MiniMax login) run the same
cases with no key at all: the daemon's ``$HOME`` holds each official CLI's credential file, and
the login comes from ``auth.oauth.import`` before the first case.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from daemon.adapters.checks import STOP_LIMIT
from daemon.errors import (
    Cancelled,
    NeedsLogin,
    RateLimited,
    RequestInvalid,
    Unsupported,
    UpstreamAuthFailed,
    UpstreamProtocol,
    UpstreamRejected,
    UpstreamUnavailable,
)
from daemon.providers.catalog import PROVIDERS
from daemon.providers.model import Provider, Quirk
from tests.fakes.families import logins
from tests.fakes.families.script import (
    FAULT_MESSAGES,
    MID_STREAM_MESSAGE,
    REASONING,
    expected_text,
)
from tests.fakes.families.server import FakeFamilies, daemon_config, load_wires
from tests.fakes.families.wire import Wire
from tests.support.daemon import DaemonProcess
from tests.support.sign_ins import signed_in_daemon
from tests.support.upstream import Threaded, threaded_families
from tests.support.wsrpc import Rpc

WIRES = load_wires()
KEYED = [w for w in WIRES if w.sign_in is None]
LOGINS = [w for w in WIRES if w.sign_in is not None]
QUESTION = "what is the weather in Paris"
SEARCH_TOOL = {
    "name": "search",
    "description": "Search the web",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
}
RETRIES = 1


def contract_config(base_url: str) -> str:
    reliability = f"""retries = {RETRIES}
backoff_ms = 10
first_byte_timeout_ms = 3000
idle_timeout_ms = 3000
breaker_threshold = 1000"""
    return daemon_config(base_url, WIRES, reliability)


@pytest.fixture(scope="module")
def fake() -> Iterator[Threaded[FakeFamilies]]:
    with threaded_families(WIRES) as threaded:
        yield threaded


@pytest.fixture(scope="module")
def daemon(
    fake: Threaded[FakeFamilies], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaemonProcess]:
    home = tmp_path_factory.mktemp("home")
    config = contract_config(fake.base_url)
    with signed_in_daemon(home, LOGINS, fake.base_url, config) as process:
        yield process


@pytest.fixture(params=WIRES, ids=[w.provider for w in WIRES])
def wire(request: pytest.FixtureRequest) -> Wire:
    wire: Wire = request.param
    return wire


def model(wire: Wire, case: str, *flags: str, fault: str | None = None) -> tuple[str, str]:
    """A fake model string for a fresh scenario, and the marker that finds its requests."""
    scenario = f"{case}-{uuid.uuid4().hex[:10]}"
    parts = [wire.model, *flags, *([f"fault={fault}"] if fault else []), f"scenario={scenario}"]
    return "+".join(parts), scenario


def ask(wire: Wire, model_name: str, **params: Any) -> dict[str, Any]:
    messages = params.pop("messages", [{"role": "user", "content": QUESTION}])
    return {"provider": wire.provider, "model": model_name, "messages": messages, **params}


def result_of(answer: dict[str, Any]) -> dict[str, Any]:
    assert "result" in answer, f"expected a result, got {answer}"
    result: dict[str, Any] = answer["result"]
    return result


def joined(deltas: list[dict[str, Any]], kind: str) -> str:
    return "".join(d["text"] for d in deltas if d["type"] == kind)


# --- the answer ----------------------------------------------------------------------------


async def test_text(wire: Wire, rpc: Rpc) -> None:
    name, _ = model(wire, "text")
    result = result_of(await rpc.call("chat.send", ask(wire, name)))
    assert result["message"]["content"] == expected_text(QUESTION)
    assert result["finishReason"] == "stop"
    assert result["provider"] == wire.provider


async def test_streamed_text_arrives_in_pieces_and_whole(wire: Wire, rpc: Rpc) -> None:
    name, _ = model(wire, "stream")
    call = await rpc.send("chat.send", ask(wire, name, stream=True))
    result = result_of(await rpc.answer(call))
    deltas = rpc.deltas.get(call, [])
    assert joined(deltas, "text") == expected_text(QUESTION) == result["message"]["content"]
    assert len([d for d in deltas if d["type"] == "text"]) > 1, "the text came in one piece"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_a_tool_call_names_the_tool_with_its_arguments(
    wire: Wire, rpc: Rpc, stream: bool
) -> None:
    name, _ = model(wire, "tool", "tools")
    params = ask(wire, name, tools=[SEARCH_TOOL], stream=stream)
    result = result_of(await rpc.call("chat.send", params))
    calls = result["message"]["toolCalls"]
    assert [(c["name"], c["arguments"]) for c in calls] == [("search", {"q": QUESTION})]
    assert calls[0]["id"], "a tool call needs an id to be answered"
    assert result["finishReason"] == "tool_calls"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_a_tool_round_trip_ends_in_an_answer_using_the_result(
    wire: Wire, rpc: Rpc, stream: bool
) -> None:
    name, _ = model(wire, "round-trip", "tools")
    first = result_of(await rpc.call("chat.send", ask(wire, name, tools=[SEARCH_TOOL])))
    call = first["message"]["toolCalls"][0]
    messages = [
        {"role": "user", "content": QUESTION},
        first["message"],
        {"role": "tool", "toolCallId": call["id"], "content": "sunny, 21 C"},
    ]
    params = ask(wire, name, messages=messages, tools=[SEARCH_TOOL], stream=stream)
    second = result_of(await rpc.call("chat.send", params))
    assert second["message"]["content"] == expected_text("", ["sunny, 21 C"])
    assert second["finishReason"] == "stop"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_a_tool_round_trip_with_reasoning_sends_the_signed_reasoning_back(
    wire: Wire, rpc: Rpc, stream: bool
) -> None:
    name, _ = model(wire, "reasoning-round-trip", "tools", "reasoning")
    params = ask(wire, name, tools=[SEARCH_TOOL], reasoning="low", stream=stream)
    first = result_of(await rpc.call("chat.send", params))
    call = first["message"]["toolCalls"][0]
    messages = [
        {"role": "user", "content": QUESTION},
        first["message"],
        {"role": "tool", "toolCallId": call["id"], "content": "rain"},
    ]
    params = ask(wire, name, messages=messages, tools=[SEARCH_TOOL], reasoning="low")
    second = result_of(await rpc.call("chat.send", params))
    assert second["message"]["content"] == expected_text("", ["rain"])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_reasoning_is_kept_apart_from_the_answer(wire: Wire, rpc: Rpc, stream: bool) -> None:
    name, _ = model(wire, "reasoning", "reasoning")
    call = await rpc.send("chat.send", ask(wire, name, reasoning="low", stream=stream))
    result = result_of(await rpc.answer(call))
    assert result["message"]["reasoning"] == "".join(REASONING)
    assert result["message"]["content"] == expected_text(QUESTION)
    if stream:
        assert joined(rpc.deltas[call], "reasoning") == "".join(REASONING)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_usage_counts_what_the_provider_counted(wire: Wire, rpc: Rpc, stream: bool) -> None:
    name, _ = model(wire, "usage")
    result = result_of(await rpc.call("chat.send", ask(wire, name, stream=stream)))
    words = len(QUESTION.split())
    assert result["usage"]["inputTokens"] == 10 + words
    # One output token per text piece (the fake's rule): "Echo:" and each word of the question.
    assert result["usage"]["outputTokens"] == 1 + words


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code", "attempts"),
    [
        ("http_400", UpstreamRejected.code, 1),  # not retried
        ("http_429", RateLimited.code, RETRIES + 1),  # retried, then given up
        ("http_500", UpstreamUnavailable.code, RETRIES + 1),  # retried, then given up
    ],
)
async def test_an_error_before_the_stream_is_typed(
    wire: Wire,
    rpc: Rpc,
    fake: Threaded[FakeFamilies],
    fault: str,
    code: int,
    attempts: int,
) -> None:
    name, scenario = model(wire, "error", fault=fault)
    answer = await rpc.call("chat.send", ask(wire, name, stream=True))
    assert answer["error"]["code"] == code, answer
    assert answer["error"]["data"]["provider"] == wire.provider
    if fault == "http_400":  # the provider's own words say what to change
        assert FAULT_MESSAGES[400] in answer["error"]["data"]["detail"]
    assert len(fake.fake.requests_for(scenario)) == attempts


@pytest.mark.parametrize("keyed", KEYED, ids=[w.provider for w in KEYED])
async def test_a_refused_key_is_an_auth_error_and_not_retried(
    keyed: Wire, rpc: Rpc, fake: Threaded[FakeFamilies]
) -> None:
    name, scenario = model(keyed, "error", fault="http_401")
    answer = await rpc.call("chat.send", ask(keyed, name, stream=True))
    assert answer["error"]["code"] == UpstreamAuthFailed.code, answer
    assert answer["error"]["data"]["provider"] == keyed.provider
    assert len(fake.fake.requests_for(scenario)) == 1


def _refused_refreshes(wire: Wire) -> int:
    return sum(1 for path in list(logins.REFUSED) if path.startswith(wire.mount + "/"))


LOGIN_PARAMS = [pytest.param(w, id=w.provider) for w in LOGINS if w.sign_in is not None]


@pytest.mark.parametrize("login", LOGIN_PARAMS)
async def test_a_refused_login_is_renewed_once_then_asks_for_a_new_login(
    login: Wire, rpc: Rpc, fake: Threaded[FakeFamilies]
) -> None:
    assert login.sign_in is not None
    name, scenario = model(login, "login-401", fault="http_401")
    refused = _refused_refreshes(login)
    answer = await rpc.call("chat.send", ask(login, name, stream=True))
    seen = fake.fake.requests_for(scenario)
    if login.sign_in.refreshes:
        # The refresh grant is refused: nothing but a new login helps, and the error says how.
        assert answer["error"]["code"] == NeedsLogin.code, answer
        assert answer["error"]["data"]["command"] == f"switchboard login {login.provider}"
        assert _refused_refreshes(login) == refused + 1
        assert len(seen) == 1
    else:
        # Renewal minted a fresh API token; the provider refused that one too: its word stands.
        assert answer["error"]["code"] == UpstreamAuthFailed.code, answer
        assert len(seen) == 2
        assert seen[0].headers["authorization"] != seen[1].headers["authorization"]
    assert answer["error"]["data"]["provider"] == login.provider


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_an_html_page_instead_of_an_answer_is_a_protocol_error(
    wire: Wire, rpc: Rpc, fake: Threaded[FakeFamilies], stream: bool
) -> None:
    name, scenario = model(wire, "garbage", fault="garbage")
    answer = await rpc.call("chat.send", ask(wire, name, stream=stream))
    assert answer["error"]["code"] == UpstreamProtocol.code, answer
    assert len(fake.fake.requests_for(scenario)) == 1  # not retried; another provider may serve


async def test_a_connection_reset_before_the_answer_is_retried_then_reported(
    wire: Wire, rpc: Rpc, fake: Threaded[FakeFamilies]
) -> None:
    name, scenario = model(wire, "reset", fault="reset")
    answer = await rpc.call("chat.send", ask(wire, name, stream=True))
    assert answer["error"]["code"] == UpstreamUnavailable.code, answer
    assert len(fake.fake.requests_for(scenario)) == RETRIES + 1


async def test_an_unreadable_frame_in_the_stream_is_a_protocol_error(wire: Wire, rpc: Rpc) -> None:
    name, _ = model(wire, "malformed", fault="malformed")
    call = await rpc.send("chat.send", ask(wire, name, stream=True))
    answer = await rpc.answer(call)
    assert answer["error"]["code"] == UpstreamProtocol.code, answer
    # Whatever reached the client before the bad frame is the start of the answer, once.
    assert expected_text(QUESTION).startswith(joined(rpc.deltas.get(call, []), "text"))


async def test_a_wrong_key_is_an_auth_error_that_does_not_echo_the_key(
    wire: Wire, rpc: Rpc
) -> None:
    name, _ = model(wire, "bad-key")
    params = ask(wire, name, apiKey=wire.wrong_key)
    answer = await rpc.call("chat.send", params)
    assert answer["error"]["code"] == UpstreamAuthFailed.code, answer
    assert wire.wrong_key not in str(answer)


@pytest.mark.parametrize("fault", ["mid_error", "cut"])
async def test_an_error_in_the_middle_of_the_stream_follows_what_arrived(
    wire: Wire, rpc: Rpc, fake: Threaded[FakeFamilies], fault: str
) -> None:
    name, scenario = model(wire, "midstream", fault=fault)
    call = await rpc.send("chat.send", ask(wire, name, stream=True))
    await rpc.first_delta(call)
    await fake.wait(fake.fake.release(scenario))
    answer = await rpc.answer(call)
    assert answer["error"]["code"] == UpstreamUnavailable.code, answer
    assert expected_text(QUESTION).startswith(joined(rpc.deltas[call], "text"))
    if fault == "mid_error" and wire.stream_error is not None:
        assert MID_STREAM_MESSAGE in answer["error"]["data"]["detail"]
    assert len(fake.fake.requests_for(scenario)) == 1, "output went out: no retry"


async def test_cancelling_a_stream_hangs_up_on_the_provider(
    wire: Wire, rpc: Rpc, fake: Threaded[FakeFamilies]
) -> None:
    name, scenario = model(wire, "cancel", fault="stall")
    before = fake.fake.disconnects
    call = await rpc.send("chat.send", ask(wire, name, stream=True))
    await rpc.first_delta(call)
    assert result_of(await rpc.call("chat.cancel", {"requestId": call})) == {"cancelled": True}
    assert (await rpc.answer(call))["error"]["code"] == Cancelled.code
    await fake.wait(fake.fake.wait_disconnect(before + 1))
    assert len(fake.fake.requests_for(scenario)) == 1


LISTING = [w for w in WIRES if w.models_route is not None]  # the others have no model list


@pytest.mark.parametrize("lister", LISTING, ids=[w.provider for w in LISTING])
async def test_models_list_comes_from_the_family_endpoint(lister: Wire, rpc: Rpc) -> None:
    wire = lister
    result = result_of(await rpc.call("models.list", {"provider": wire.provider}))
    assert [m["id"] for m in result["models"]] == ["fake-model", "fake-model-large"], result


PNG = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
IMAGES = {
    "base64": {"type": "image", "data": PNG, "mimeType": "image/png"},
    "url": {"type": "image", "url": "https://example.com/cat.png", "mimeType": "image/png"},
}


@pytest.mark.parametrize("kind", list(IMAGES))
async def test_an_image_reaches_the_provider_in_its_own_shape(
    wire: Wire, rpc: Rpc, fake: Threaded[FakeFamilies], kind: str
) -> None:
    name, scenario = model(wire, f"image-{kind}")
    content = [{"type": "text", "text": QUESTION}, IMAGES[kind]]
    answer = await rpc.call(
        "chat.send", ask(wire, name, messages=[{"role": "user", "content": content}])
    )
    if _row(wire).has(Quirk.TEXT_ONLY):
        assert answer["error"]["code"] == Unsupported.code, answer
        assert fake.fake.requests_for(scenario) == [], "refused before anything was sent"
        return
    if kind == "url" and not wire.image_urls:
        assert answer["error"]["code"] == RequestInvalid.code, answer
        assert fake.fake.requests_for(scenario) == [], "refused before anything was sent"
        return
    # The fake counts only images well formed for its family: none lost, none mangled.
    assert result_of(answer)["message"]["content"] == expected_text(QUESTION, images=1)


def _row(wire: Wire) -> Provider:
    return next(row for row in PROVIDERS if row.id == wire.provider)


@pytest.mark.parametrize("count", [2, 6], ids=["two", "six"])
async def test_stop_sequences_end_the_answer_or_are_refused_by_name(
    wire: Wire, rpc: Rpc, fake: Threaded[FakeFamilies], count: int
) -> None:
    name, scenario = model(wire, "stop")
    stop = ["Paris", *(f"never-{n}" for n in range(count - 1))]
    answer = await rpc.call("chat.send", ask(wire, name, stopSequences=stop))
    limit = STOP_LIMIT.get(wire.family)
    if limit is not None and count > limit:
        assert answer["error"]["code"] == RequestInvalid.code, answer
        assert answer["error"]["data"]["field"] == "stopSequences"
        assert fake.fake.requests_for(scenario) == [], "refused before anything was sent"
        return
    # The fake ends its answer where a provider would: before the first stop sequence.
    assert result_of(answer)["message"]["content"] == expected_text(QUESTION).split("Paris")[0]


# --- what cannot be translated ------------------------------------------------------------


async def test_a_tool_the_family_would_refuse_is_named_and_nothing_is_sent(
    wire: Wire, rpc: Rpc, fake: Threaded[FakeFamilies]
) -> None:
    name, scenario = model(wire, "bad-tool")
    tool = {**SEARCH_TOOL, "name": "web search!"}
    answer = await rpc.call("chat.send", ask(wire, name, tools=[tool]))
    assert answer["error"]["code"] == RequestInvalid.code, answer
    assert "'web search!'" in answer["error"]["data"]["detail"]
    assert fake.fake.requests_for(scenario) == []


async def test_a_tool_result_that_answers_no_call_is_refused(
    wire: Wire, rpc: Rpc, fake: Threaded[FakeFamilies]
) -> None:
    name, scenario = model(wire, "orphan-result")
    messages = [
        {"role": "user", "content": QUESTION},
        {"role": "tool", "toolCallId": "call_nobody_made", "content": "sunny"},
    ]
    answer = await rpc.call("chat.send", ask(wire, name, messages=messages))
    assert answer["error"]["code"] == RequestInvalid.code, answer
    assert "call_nobody_made" in answer["error"]["data"]["detail"]
    assert fake.fake.requests_for(scenario) == []
