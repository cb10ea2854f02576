"""The bedrock-converse adapter: Bedrock's recorded traffic, request building, SigV4, errors."""

from __future__ import annotations

import importlib
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpServer

from daemon.adapters import ADAPTERS, PLANNED_FAMILIES, adapter_for, aws
from daemon.adapters import bedrock_converse as adapter
from daemon.adapters.bedrock_converse import EVENTSTREAM
from daemon.adapters.types import Assembly, ChatCall, Target
from daemon.auth.credentials import EmptyVault, resolve
from daemon.errors import (
    ContextTooLong,
    CredentialsMissing,
    RateLimited,
    RequestInvalid,
    Unsupported,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamProtocol,
    UpstreamRejected,
    UpstreamUnavailable,
)
from daemon.providers.catalog import PROVIDERS
from daemon.providers.lookup import ProviderSettings
from daemon.providers.model import ApiFamily
from tests.fakes import cassettes
from tests.fakes.families import bedrock_converse as wire
from tests.support.daemon import run_python
from tests.support.replay import assembled

FOLDER = cassettes.WIRE / "bedrock_converse"
BEDROCK = next(p for p in PROVIDERS if p.id == "amazon-bedrock")
CLAUDE = "us.anthropic.claude-sonnet-4-20250514-v1:0"


def interactions(name: str) -> list[dict[str, Any]]:
    """A cassette's interactions as YAML gives them (``!!binary`` bodies become bytes)."""
    yaml = importlib.import_module("yaml")
    loaded: list[dict[str, Any]] = yaml.safe_load((FOLDER / name).read_text())["interactions"]
    return loaded


def response_body(interaction: dict[str, Any]) -> bytes:
    response = interaction["response"]
    if "parsed_body" in response:
        return orjson.dumps(response["parsed_body"])
    body = response["body"]["string"]
    return body if isinstance(body, bytes) else body.encode()


def recorded_streams() -> list[tuple[str, int]]:
    """Every eventstream answer in the folder, as (file, interaction index)."""
    return [
        (path.name, index)
        for path in sorted(FOLDER.glob("*.yaml"))
        for index, interaction in enumerate(interactions(path.name))
        if "eventstream" in str(interaction["response"]["headers"]).lower()
    ]


def stream_body(name: str, index: int = 0) -> bytes:
    return response_body(interactions(name)[index])


def replay(body: bytes, cuts: list[int]) -> tuple[Assembly, bool]:
    """``body`` fed to a fresh parser in pieces split at ``cuts``; and whether it saw the end."""
    parser, events, start = adapter.StreamParser(), [], 0
    for end in [*cuts, len(body)]:
        events.extend(parser.feed(body[start:end]))
        start = end
    return assembled(events), parser.done


def summary(assembly: Assembly) -> tuple[Any, ...]:
    return assembly.message(), assembly.usage, assembly.finish_reason()


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No AWS credentials anywhere botocore looks, and no network probe for them."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        (tmp_path / name).write_text("")
        monkeypatch.setenv(name, str(tmp_path / name))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws.forget_credentials()
    yield
    aws.forget_credentials()


# --- recorded answers --------------------------------------------------------------------

EXPECTED = {
    ("bedrock_converse_stream.yaml", 0): (
        "Okay, let me use the tool to fetch",
        [("tooluse_HA9wsJ32RhOvn8XgIUDpGA", "fetch_concept", {"concept": "distributed tracing"})],
        "tool_calls",
        (259, 64),
    ),
    ("test_bedrock_model_iter_stream.yaml", 0): (
        "<thinking> To find the temperature",
        [("tooluse_lAG_zP8QRHmSYOwZzzaCqA", "get_temperature", {"city": "Paris"})],
        "tool_calls",
        (471, 91),
    ),
    ("test_bedrock_model_iter_stream.yaml", 1): (
        "The current temperature in Paris, the capital of France, is 30°C.",
        [],
        "stop",
        (577, 18),
    ),
    ("test_bedrock_model_stream.yaml", 0): (
        "The capital of France is Paris.",
        [],
        "stop",
        (13, 82),
    ),
    ("test_bedrock_model_thinking_part_stream.yaml", 0): (
        "Hello! It's nice to meet you.",
        [],
        "stop",
        (36, 73),
    ),
}


def test_every_recorded_stream_is_covered() -> None:
    assert sorted(recorded_streams()) == sorted(EXPECTED)


@pytest.mark.parametrize(("name", "index"), recorded_streams())
def test_a_recorded_stream_gives_its_message(name: str, index: int) -> None:
    text, calls, finish, (tokens_in, tokens_out) = EXPECTED[(name, index)]
    assembly, done = replay(stream_body(name, index), [])
    message = assembly.message()
    assert done
    assert message["content"].startswith(text)
    assert [(c["id"], c["name"], c["arguments"]) for c in message.get("toolCalls", [])] == calls
    assert assembly.finish_reason() == finish
    assert (assembly.usage["inputTokens"], assembly.usage["outputTokens"]) == (
        tokens_in,
        tokens_out,
    )


def test_recorded_reasoning_stays_apart_from_the_text() -> None:
    assembly, _ = replay(stream_body("test_bedrock_model_thinking_part_stream.yaml"), [])
    assert assembly.message()["reasoning"].startswith(
        'The user has greeted me with a simple "Hello"'
    )
    assert "greeted" not in assembly.message()["content"]
    assert assembly.message()["reasoningSignature"].startswith("Eu0CCkgIBxAB")


@pytest.mark.parametrize(("name", "index"), recorded_streams())
def test_a_stream_fed_one_byte_at_a_time_gives_the_same_events(name: str, index: int) -> None:
    body = stream_body(name, index)
    one_by_one, done = replay(body, list(range(1, len(body))))
    assert (summary(one_by_one), done) == (summary(replay(body, [])[0]), True)


@pytest.mark.parametrize(("name", "index"), recorded_streams())
def test_a_cut_at_every_offset_gives_the_same_frames(name: str, index: int) -> None:
    """Every single cut, checked on the frame it splits and the one after it.

    Events come from whole frames only (the parser never sees part of one), so the same
    frames mean the same events; re-parsing the untouched frames for each of ~10,000 cuts
    would cost seconds per recording (the shortest recording gets that, below).
    """
    body = stream_body(name, index)
    frames = aws.FrameReader().feed(body)
    ends, position = [], 0
    while position < len(body):  # each frame opens with its total length
        position += struct.unpack_from(">I", body, position)[0]
        ends.append(position)
    assert len(ends) == len(frames)
    for k, (start, end) in enumerate(zip([0, *ends], ends, strict=False)):
        stop = ends[min(k + 1, len(ends) - 1)]
        for cut in range(start, end):
            reader = aws.FrameReader()
            assert reader.feed(body[start:cut]) + reader.feed(body[cut:stop]) == frames[k : k + 2]


def test_every_offset_of_a_whole_stream_gives_the_same_message() -> None:
    body = stream_body("test_bedrock_model_iter_stream.yaml", 1)
    whole = summary(replay(body, [])[0])
    for cut in range(len(body) + 1):
        split, done = replay(body, [cut])
        assert (summary(split), done) == (whole, True), cut


@pytest.mark.parametrize(("name", "index"), recorded_streams())
def test_encode_frame_rebuilds_every_recorded_frame_byte_for_byte(name: str, index: int) -> None:
    body = stream_body(name, index)
    frames = aws.FrameReader().feed(body)
    assert b"".join(wire.frame(f.headers, f.payload) for f in frames) == body
    first = orjson.loads(frames[0].payload)
    assert aws.FrameReader().feed(wire.event_frame("messageStart", first)) == [
        (frames[0].headers, orjson.dumps(first))
    ]


def test_the_recorded_json_answer_parses() -> None:
    (interaction,) = interactions("bedrock_converse.yaml")
    assembly = assembled(adapter.parse_body(response_body(interaction)))
    (call,) = assembly.message()["toolCalls"]
    assert assembly.message()["content"].startswith("Okay, let me use the tool")
    assert call == {
        "id": "tooluse_iPA5tRLlQ5qSvfeYGeQVPg",
        "name": "fetch_concept",
        "arguments": {"concept": "distributed tracing"},
    }
    assert (assembly.finish_reason(), assembly.usage["inputTokens"]) == ("tool_calls", 269)


@pytest.mark.parametrize(
    ("name", "expected", "words", "code"),
    [
        ("bedrock_converse_error.yaml", UpstreamAuthFailed, "token included", "ExpiredToken"),
        ("test_bedrock_streaming_error.yaml", UpstreamRejected, "model identifier is invalid", ""),
    ],
)
def test_recorded_error_answers_are_typed(name: str, expected: type, words: str, code: str) -> None:
    (interaction,) = interactions(name)
    response = interaction["response"]
    headers = {k: v[0] for k, v in response["headers"].items()}
    error = adapter.map_error(response["status"]["code"], headers, response_body(interaction))
    assert type(error) is expected
    assert words in (error.detail or "")
    assert error.data.get("upstreamCode", "").startswith(code)
    assert ":http" not in error.data.get("upstreamCode", "")


# --- stream failures ---------------------------------------------------------------------

START = wire.event_frame("messageStart", {"role": "assistant"})


@pytest.mark.parametrize(
    ("kind", "message", "expected"),
    [
        ("throttlingException", "Too many requests", RateLimited),
        ("modelStreamErrorException", "The model stream broke", UpstreamUnavailable),
        ("internalServerException", "", UpstreamUnavailable),
        ("serviceUnavailableException", "try later", UpstreamUnavailable),
        ("validationException", "bad field", UpstreamRejected),
        ("validationException", "Input is too long for requested model.", ContextTooLong),
        ("someNewException", "what is this", UpstreamRejected),
    ],
)
def test_exception_frames_mid_stream_raise_typed_errors(
    kind: str, message: str, expected: type[UpstreamError]
) -> None:
    parser = adapter.StreamParser()
    with pytest.raises(expected) as caught:
        parser.feed(START + wire.exception_frame(kind, message))
    assert caught.value.data["upstreamCode"] == kind
    assert message in (caught.value.detail or "")


def test_an_eventstream_error_frame_is_raised() -> None:
    frame = wire.frame(
        {":message-type": "error", ":error-code": "InternalError", ":error-message": "boom"}, b""
    )
    with pytest.raises(UpstreamUnavailable, match="boom") as caught:  # "internal": their side
        adapter.StreamParser().feed(frame)
    assert caught.value.data["upstreamCode"] == "InternalError"


@pytest.mark.parametrize(
    "frame",
    [
        wire.frame({":message-type": "event", ":event-type": "metadata"}, b"not json"),
        wire.frame({":event-type": "metadata"}, b"{}"),
        wire.event_frame("contentBlockDelta", {"contentBlockIndex": 4, "delta": {"toolUse": {}}}),
        wire.event_frame("contentBlockDelta", {"delta": {"toolUse": {"input": "{"}}}),
        b"\x00\x00\x00\x10garbage-garbage!",
    ],
)
def test_unreadable_frames_are_protocol_errors(frame: bytes) -> None:
    with pytest.raises(UpstreamProtocol):
        adapter.StreamParser().feed(frame)


def test_a_corrupted_byte_fails_the_checksum() -> None:
    body = bytearray(stream_body("test_bedrock_model_stream.yaml"))
    body[200] ^= 0x01
    with pytest.raises(UpstreamProtocol, match="corrupt"):
        adapter.StreamParser().feed(bytes(body))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_escape_as_anything_but_protocol_errors(data: bytes) -> None:
    try:
        adapter.StreamParser().feed(data)
    except UpstreamProtocol:
        pass


# --- the request -------------------------------------------------------------------------


def request_of(call: ChatCall, key: str | None = "br-key", **options: str) -> Any:
    target = Target(BEDROCK, BEDROCK.base_url or "", call.model, key, options=options)
    return adapter.build_request(target, call, aws.AwsKeys("AKIDEXAMPLE", "secret", None))


def body_of(call: ChatCall) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(request_of(call).body)
    return body


def test_the_recorded_tool_round_trip_request_is_rebuilt() -> None:
    recorded = interactions("test_bedrock_model_iter_stream.yaml")[1]["request"]
    sent = orjson.loads(recorded["body"])
    call = ChatCall(
        model="us.amazon.nova-micro-v1:0",
        messages=[
            {"role": "system", "content": "You are a helpful chatbot."},
            {"role": "user", "content": "What is the temperature of the capital of France?"},
            {
                "role": "assistant",
                "content": sent["messages"][1]["content"][0]["text"],
                "toolCalls": [
                    {
                        "id": "tooluse_lAG_zP8QRHmSYOwZzzaCqA",
                        "name": "get_temperature",
                        "arguments": {"city": "Paris"},
                    }
                ],
            },
            {"role": "tool", "toolCallId": "tooluse_lAG_zP8QRHmSYOwZzzaCqA", "content": "30°C"},
        ],
        tools=[
            {
                "name": t["toolSpec"]["name"],
                "description": t["toolSpec"]["description"],
                "parameters": t["toolSpec"]["inputSchema"]["json"],
            }
            for t in sent["toolConfig"]["tools"]
        ],
        stream=True,
    )
    request = request_of(call)
    body = orjson.loads(request.body)
    assert request.url == recorded["uri"]
    assert request.headers["Accept"] == "application/vnd.amazon.eventstream"
    assert (body["messages"], body["system"]) == (sent["messages"], sent["system"])
    assert body["toolConfig"] == sent["toolConfig"]
    assert "inferenceConfig" not in body


def test_the_url_is_the_one_botocores_own_client_sends() -> None:
    config = importlib.import_module("botocore.config")
    client = (
        importlib.import_module("botocore.session")
        .get_session()
        .create_client(
            "bedrock-runtime",
            region_name="us-east-1",
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret",
            config=config.Config(retries={"max_attempts": 0}),
        )
    )
    sent: list[str] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(request.url)
        raise RuntimeError("captured")  # never reach the network

    client.meta.events.register("before-send.bedrock-runtime.Converse", capture)
    with pytest.raises(RuntimeError, match="captured"):
        client.converse(modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    call = ChatCall(model=CLAUDE, messages=[{"role": "user", "content": "hi"}])
    assert request_of(call).url == sent[0]


def test_system_inference_config_and_merged_turns() -> None:
    body = body_of(
        ChatCall(
            model="amazon.nova-micro-v1:0",
            messages=[
                {"role": "system", "content": "be brief"},
                {"role": "system", "content": [{"type": "text", "text": "be kind"}]},
                {"role": "user", "content": "one"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": ""}, {"type": "text", "text": "two"}],
                },
            ],
            max_tokens=50,
            temperature=0.2,
        )
    )
    assert body["system"] == [{"text": "be brief"}, {"text": "be kind"}]
    assert body["messages"] == [{"role": "user", "content": [{"text": "one"}, {"text": "two"}]}]
    assert body["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.2}


def image_call(part: dict[str, Any]) -> ChatCall:
    return ChatCall(model="m", messages=[{"role": "user", "content": [part]}])


def test_images_go_as_bytes_and_a_url_cannot() -> None:
    png = {"type": "image", "data": "aGk=", "mimeType": "image/jpeg"}
    inline = {"type": "image", "url": "data:image/webp;base64,aGk="}
    assert body_of(image_call(png))["messages"][0]["content"] == [
        {"image": {"format": "jpeg", "source": {"bytes": "aGk="}}}
    ]
    assert body_of(image_call(inline))["messages"][0]["content"][0]["image"]["format"] == "webp"
    with pytest.raises(RequestInvalid, match="not URLs") as caught:
        body_of(image_call({"type": "image", "url": "https://example.com/cat.png"}))
    assert caught.value.data["field"] == "messages"
    with pytest.raises(Unsupported, match="image/bmp"):
        body_of(image_call({"type": "image", "data": "aGk=", "mimeType": "image/bmp"}))


TOOL = {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, None),
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ({"name": "get_weather"}, {"tool": {"name": "get_weather"}}),
    ],
)
def test_tool_specs_and_choices(choice: Any, expected: Any) -> None:
    call = ChatCall(
        model="m", messages=[{"role": "user", "content": "hi"}], tools=[TOOL], tool_choice=choice
    )
    config = body_of(call)["toolConfig"]
    assert config["tools"] == [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Weather",
                "inputSchema": {"json": {"type": "object"}},
            }
        }
    ]
    assert config.get("toolChoice") == expected


def test_tool_choice_none_leaves_tools_out_unless_the_history_used_them() -> None:
    user = {"role": "user", "content": "hi"}
    assert "toolConfig" not in body_of(
        ChatCall(model="m", messages=[user], tools=[TOOL], tool_choice="none")
    )
    used: list[dict[str, Any]] = [
        user,
        {
            "role": "assistant",
            "content": "",
            "toolCalls": [{"id": "t", "name": "get_weather", "arguments": {}}],
        },
        {"role": "tool", "toolCallId": "t", "content": "sun"},
    ]
    again = body_of(ChatCall(model="m", messages=used, tools=[TOOL], tool_choice="none"))
    assert "toolChoice" not in again["toolConfig"]


def test_claude_reasoning_asks_for_a_thinking_budget_with_room_to_answer() -> None:
    call = ChatCall(
        model=CLAUDE,
        messages=[{"role": "user", "content": "Hello"}],
        reasoning="minimal",
        temperature=0.5,
        max_tokens=100,
    )
    body = body_of(call)
    recorded = orjson.loads(
        interactions("test_bedrock_model_thinking_part_stream.yaml")[0]["request"]["body"]
    )
    assert body["additionalModelRequestFields"] == recorded["additionalModelRequestFields"]
    assert body["inferenceConfig"] == {"maxTokens": 1024 + adapter.DEFAULT_MAX_TOKENS}
    other = body_of(
        ChatCall(
            model="amazon.nova-micro-v1:0",
            messages=[{"role": "user", "content": "x"}],
            reasoning="high",
        )
    )
    assert "additionalModelRequestFields" not in other


def test_signed_reasoning_goes_back_before_the_tool_calls() -> None:
    assistant = {
        "role": "assistant",
        "content": "",
        "reasoning": "think",
        "reasoningSignature": "sig",
        "toolCalls": [{"id": "t", "name": "get_weather", "arguments": {}}],
    }
    body = body_of(ChatCall(model=CLAUDE, messages=[{"role": "user", "content": "x"}, assistant]))
    assert body["messages"][1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "think", "signature": "sig"}}},
        {"toolUse": {"toolUseId": "t", "name": "get_weather", "input": {}}},
    ]


# --- credentials and signing -------------------------------------------------------------

HI = ChatCall(model=CLAUDE, messages=[{"role": "user", "content": "hi"}], stream=True)


def target(key: str | None = None, base_url: str | None = None, **options: str) -> Target:
    return Target(BEDROCK, base_url or BEDROCK.base_url or "", CLAUDE, key, options=options)


def test_a_bedrock_api_key_is_a_bearer_token() -> None:
    headers = adapter.build_request(target("br-key"), HI, None).headers
    assert headers["Authorization"] == "Bearer br-key"
    assert not any(name.lower().startswith("x-amz") for name in headers)


async def test_sigv4_signs_with_keys_from_the_environment(
    no_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    keys = await aws.find_keys("amazon-bedrock", hint="")
    assert "EXAMPLEKEY" not in repr(keys)
    headers = adapter.build_request(target(), HI, keys).headers
    scope = f"AKIDEXAMPLE/{headers['X-Amz-Date'][:8]}/us-east-1/bedrock/aws4_request"
    assert headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={scope}")
    assert "host;x-amz-date;x-amz-security-token" in headers["Authorization"]
    assert headers["X-Amz-Security-Token"] == "session-token"
    unsessioned = adapter.build_request(target(), HI, aws.AwsKeys("AKIDEXAMPLE", "s")).headers
    assert "X-Amz-Security-Token" not in unsessioned


@pytest.mark.parametrize(
    ("base_url", "options", "expected"),
    [
        (None, {}, ("https://bedrock-runtime.us-east-1.amazonaws.com", "us-east-1")),
        (
            None,
            {"region": "eu-west-1"},
            ("https://bedrock-runtime.eu-west-1.amazonaws.com", "eu-west-1"),
        ),
        ("https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com", {}, (None, "us-gov-west-1")),
        ("https://vpce-1a.bedrock-runtime.ap-south-1.vpce.amazonaws.com", {}, (None, "ap-south-1")),
        (
            "https://vpce-1a.bedrock-runtime.ap-south-1.vpce.amazonaws.com",
            {"region": "x-1"},
            (None, "x-1"),
        ),
        ("https://gateway.example/bedrock", {}, (None, "us-east-1")),
        ("https://gateway.example/bedrock", {"region": "eu-central-1"}, (None, "eu-central-1")),
    ],
)
def test_the_region_comes_from_the_option_the_host_or_the_default(
    base_url: str | None, options: dict[str, str], expected: tuple[str | None, str]
) -> None:
    url, region = adapter.endpoint(target(None, base_url, **options))
    assert (url, region) == (expected[0] or base_url, expected[1])


async def test_no_credentials_anywhere_says_what_to_set(no_aws: None) -> None:
    with pytest.raises(CredentialsMissing) as caught:
        async for _ in adapter.stream(None, target(), HI, 1.0):  # type: ignore[arg-type]
            pass
    detail = caught.value.detail or ""
    for name in (
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
    ):
        assert name in detail
    assert caught.value.data["provider"] == "amazon-bedrock"


async def test_a_profile_that_does_not_exist_is_missing_credentials(
    no_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    with pytest.raises(CredentialsMissing, match="chain failed.*nope"):
        await aws.find_keys("amazon-bedrock", hint="set AWS_PROFILE")


async def test_resolve_leaves_sigv4_providers_to_the_aws_chain() -> None:
    credentials = await resolve(BEDROCK, ProviderSettings(), EmptyVault(), {})
    assert (credentials.keys, credentials.source) == ((None,), "none")
    with_key = await resolve(
        BEDROCK, ProviderSettings(), EmptyVault(), {"AWS_BEARER_TOKEN_BEDROCK": "k"}
    )
    assert (with_key.keys, with_key.source) == (("k",), "env")


def test_without_botocore_bedrock_calls_say_how_to_install_it() -> None:
    code = """
import asyncio, sys
sys.modules["botocore"] = None  # as if the [bedrock] extra were not installed
from daemon.adapters import adapter_for
from daemon.adapters.types import ChatCall, Target
from daemon.errors import Unsupported
from daemon.providers.catalog import PROVIDERS
from daemon.providers.model import ApiFamily

row = next(p for p in PROVIDERS if p.id == "amazon-bedrock")
adapter = adapter_for(ApiFamily.BEDROCK_CONVERSE)

async def main():
    for key, stream in ((None, False), ("br-key", True)):
        call = ChatCall(model="m", messages=[{"role": "user", "content": "hi"}], stream=stream)
        try:
            async for _ in adapter.stream(None, Target(row, row.base_url, "m", key), call, 1.0):
                pass
        except Unsupported as exc:
            print(exc.detail)

asyncio.run(main())
"""
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert all("pip install 'switchboard[bedrock]'" in line for line in lines)


def test_the_family_is_registered_and_has_no_model_list() -> None:
    assert ApiFamily.BEDROCK_CONVERSE in ADAPTERS
    assert ApiFamily.BEDROCK_CONVERSE not in PLANNED_FAMILIES
    assert adapter_for(ApiFamily.BEDROCK_CONVERSE) is adapter


async def test_models_is_unsupported_on_the_runtime_host() -> None:
    with pytest.raises(Unsupported, match="control plane"):
        await adapter.models(None, target("k"), 1.0)  # type: ignore[arg-type]


# --- over a socket (a loopback handler; the Bedrock contract fake lives in tests/fakes) ----


async def answer(server: Any, call: ChatCall, key: str | None = "br-key") -> Assembly:
    base_url = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as session:
        batches = [b async for b in adapter.stream(session, target(key, base_url), call, 5.0)]
    return assembled(event for batch in batches for event in batch)


def bedrock_app(
    body: bytes, *, status: int = 200, kind: str = EVENTSTREAM, **headers: str
) -> tuple[web.Application, list[Any]]:
    """An app answering every Converse call with ``body`` in 7-byte writes; what it was sent."""
    seen: list[Any] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append((request.raw_path, dict(request.headers), await request.read()))
        response = web.StreamResponse(status=status, headers={"Content-Type": kind, **headers})
        await response.prepare(request)
        for start in range(0, len(body), 7):
            await response.write(body[start : start + 7])
        return response

    app = web.Application()
    app.router.add_post("/model/{model}/{action}", handle)
    return app, seen


async def test_a_signed_stream_over_a_socket_in_small_reads(
    aiohttp_server: AiohttpServer, no_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    app, seen = bedrock_app(stream_body("test_bedrock_model_thinking_part_stream.yaml"))
    assembly = await answer(await aiohttp_server(app), HI, key=None)
    assert (
        assembly.message()["content"] == "Hello! It's nice to meet you. How can I help you today?"
    )
    ((path, headers, body),) = seen
    assert path == "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse-stream"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert orjson.loads(body)["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]


async def test_a_json_answer_over_a_socket(aiohttp_server: AiohttpServer) -> None:
    app, seen = bedrock_app(
        response_body(interactions("bedrock_converse.yaml")[0]), kind="application/json"
    )
    call = ChatCall(model=CLAUDE, messages=[{"role": "user", "content": "hi"}])
    assembly = await answer(await aiohttp_server(app), call)
    assert assembly.finish_reason() == "tool_calls"
    assert seen[0][0].endswith("/converse")
    assert seen[0][1]["Authorization"] == "Bearer br-key"


@pytest.mark.parametrize("into_the_frame", [0, 20])
async def test_a_stream_closed_before_message_stop_ended_early(
    aiohttp_server: AiohttpServer, into_the_frame: int
) -> None:
    body = stream_body("test_bedrock_model_stream.yaml")
    # messageStop's frame: 12-byte prelude, then a header of 1 + 11 (":event-type") + 3 bytes.
    frame = body.index(b"messageStop") - 27
    app, _ = bedrock_app(body[: frame + into_the_frame])
    with pytest.raises(UpstreamUnavailable, match="ended before"):
        await answer(await aiohttp_server(app), HI)


async def test_http_errors_over_a_socket_are_typed(aiohttp_server: AiohttpServer) -> None:
    throttled, _ = bedrock_app(
        b'{"message":"Too many requests, please wait before trying again."}',
        status=429,
        kind="application/json",
        **{"x-amzn-ErrorType": "ThrottlingException:http://internal.amazon.com/coral/"},
        **{"Retry-After": "2"},
    )
    with pytest.raises(RateLimited) as caught:
        await answer(await aiohttp_server(throttled), HI)
    assert caught.value.data["retryAfterMs"] == 2000
    assert caught.value.data["upstreamCode"] == "ThrottlingException"
    not_a_stream, _ = bedrock_app(b'{"message":"hello"}', kind="application/json")
    with pytest.raises(UpstreamProtocol, match="application/json"):
        await answer(await aiohttp_server(not_a_stream), HI)


async def test_a_refused_signature_makes_the_next_call_look_for_keys_again(
    aiohttp_server: AiohttpServer, no_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, seen = bedrock_app(
        b'{"message":"The security token included in the request is expired"}',
        status=403,
        kind="application/json",
        **{"x-amzn-ErrorType": "ExpiredTokenException:http://internal.amazon.com/coral/"},
    )
    server = await aiohttp_server(app)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    for key_id in ("AKIDOLD", "AKIDNEW"):
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
        with pytest.raises(UpstreamAuthFailed, match="expired"):
            await answer(server, HI, key=None)
    assert [s[1]["Authorization"].split("/")[0] for s in seen] == [
        "AWS4-HMAC-SHA256 Credential=AKIDOLD",
        "AWS4-HMAC-SHA256 Credential=AKIDNEW",
    ]
