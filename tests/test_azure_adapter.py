"""The azure-openai adapter: Chat Completions at a deployment's URL, with Azure's filter quirks.

Recorded traffic: ``openai_chat/azure-model-router.1.chunks.txt`` is a real Azure stream
(vercel/ai's fixture: a ``choices: []`` first chunk with ``prompt_filter_results``, then chunks
carrying ``content_filter_results``). The OpenAI chat recordings in the same folder are the
same wire, so they are replayed through this adapter too and must assemble exactly as through
openai-completions.

Hand-written, from Microsoft's documentation (no recording of them exists in the fixtures):
the 400 of a filtered prompt (``error.code == "content_filter"``, verdicts in
``error.innererror.content_filter_result``; "Content filtering", Azure OpenAI docs), the
asynchronous-filter annotation chunks (``content_filter_offsets``, a late ``finish_reason:
"content_filter"``; "Content streaming") and a non-streamed completion whose output was
filtered. Their field names and nesting follow those pages; ids and values are invented.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from daemon.adapters import ADAPTERS, PLANNED_FAMILIES, adapter_for
from daemon.adapters import azure_openai as adapter
from daemon.adapters import openai_completions as completions
from daemon.adapters.types import Assembly, ChatCall, Target
from daemon.errors import (
    RateLimited,
    Unsupported,
    UpstreamAuthFailed,
    UpstreamRejected,
    UpstreamUnavailable,
)
from daemon.providers.catalog import PROVIDERS
from daemon.providers.lookup import Registry
from daemon.providers.model import ApiFamily, Provider, Quirk
from tests.support import replay
from tests.support.local_server import serving
from tests.support.replay import Recordings, raw_body

recorded = Recordings("openai_chat")
AZURE_RECORDING = "azure-model-router.1.chunks.txt"
ROW = next(row for row in PROVIDERS if row.id == "azure-openai")
BASE = "https://myres.openai.azure.com/openai"
CALL = ChatCall(
    model="gpt-4o-prod",
    messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    stream=True,
)


def target(
    options: dict[str, str] | None = None, base: str = BASE, model: str = "gpt-4o-prod"
) -> Target:
    return Target(ROW, base, model, "azure-key-1", options=options or {})


def body_of(call: ChatCall, tgt: Target | None = None) -> dict[str, Any]:
    request = adapter.build_request(tgt or target(), call)
    assert request.body is not None
    return dict(orjson.loads(request.body))


# --- the request ---------------------------------------------------------------------------


def test_a_text_call_goes_to_the_deployment_with_the_ga_api_version_and_api_key() -> None:
    request = adapter.build_request(target(), CALL)
    assert request.method == "POST"
    assert request.url == f"{BASE}/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21"
    assert adapter.DEFAULT_API_VERSION == "2024-10-21"
    assert request.headers["api-key"] == "azure-key-1"
    assert "Authorization" not in request.headers
    assert request.headers["Accept"] == "text/event-stream"
    assert request.headers["Content-Type"] == "application/json"
    assert body_of(CALL) == {
        "model": "gpt-4o-prod",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_the_body_is_exactly_openai_completions_body() -> None:
    call = ChatCall(
        model="d",
        messages=[{"role": "user", "content": "hi"}],
        tools=[{"name": "f", "description": "does f", "parameters": {"type": "object"}}],
        tool_choice="required",
        max_tokens=64,
        temperature=0.2,
        reasoning="low",
    )
    same = completions.build_request(target(), call)
    assert adapter.build_request(target(), call).body == same.body
    assert adapter.build_request(target(), call).headers == same.headers


def test_tools_and_tool_choice() -> None:
    call = ChatCall(
        model="d",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[{"name": "get_weather", "parameters": {"type": "object"}}],
        tool_choice={"name": "get_weather"},
    )
    body = body_of(call)
    assert body["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_a_tool_round_trip_keeps_the_call_ids() -> None:
    call = ChatCall(
        model="d",
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": "",
                "toolCalls": [{"id": "call_1", "name": "w", "arguments": {"city": "Oslo"}}],
            },
            {"role": "tool", "toolCallId": "call_1", "content": "rain"},
        ],
    )
    messages = body_of(call)["messages"]
    assert messages[1]["tool_calls"][0]["id"] == "call_1"
    assert messages[2] == {"role": "tool", "tool_call_id": "call_1", "content": "rain"}


def test_images_become_image_url_parts() -> None:
    call = ChatCall(
        model="d",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
                    {"type": "image", "url": "https://example.com/cat.jpg"},
                ],
            }
        ],
    )
    assert body_of(call)["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]


def test_max_tokens_is_sent_as_max_completion_tokens() -> None:
    assert ROW.has(Quirk.MAX_COMPLETION_TOKENS)
    body = body_of(ChatCall(model="d", messages=[{"role": "user", "content": "x"}], max_tokens=7))
    assert body["max_completion_tokens"] == 7
    assert "max_tokens" not in body
    assert body["stream"] is False
    assert "stream_options" not in body


def test_a_non_streamed_call_accepts_json() -> None:
    call = ChatCall(model="d", messages=[{"role": "user", "content": "x"}])
    assert adapter.build_request(target(), call).headers["Accept"] == "application/json"


def test_the_configured_api_version_overrides_the_default() -> None:
    url = adapter.build_request(target({"api_version": "2025-04-01-preview"}), CALL).url
    assert url.endswith("/chat/completions?api-version=2025-04-01-preview")


def test_deployment_names_and_versions_are_url_quoted() -> None:
    url = adapter.chat_url(target({"api_version": "v 1&x=y"}, model="my dep/1?"))
    assert url == f"{BASE}/deployments/my%20dep%2F1%3F/chat/completions?api-version=v%201%26x%3Dy"


@pytest.mark.parametrize(
    ("base", "root"),
    [
        ("https://myres.openai.azure.com", "https://myres.openai.azure.com/openai"),
        ("https://myres.openai.azure.com/openai", "https://myres.openai.azure.com/openai"),
        ("https://gw.example.com/llm/openai", "https://gw.example.com/llm/openai"),
        ("http://127.0.0.1:8080/azure", "http://127.0.0.1:8080/azure"),
    ],
)
def test_a_bare_host_base_url_gets_the_openai_path(base: str, root: str) -> None:
    assert adapter.api_root(base) == root
    assert adapter.chat_url(target(base=base)).startswith(f"{root}/deployments/")


# --- config -> base URL through the registry ------------------------------------------------


def test_config_resource_builds_the_base_url_and_options_reach_the_target() -> None:
    config = {
        "azure-openai": {
            "resource": "myres",
            "api_version": "2025-04-01-preview",
            "models": ["gpt-4o-prod"],
        }
    }
    registry = Registry(PROVIDERS, config, "cfg.toml")
    row = registry.resolve("azure")
    assert row.base_url == "https://myres.openai.azure.com/openai"
    assert not row.has(Quirk.NEEDS_CONFIG)
    settings = registry.settings(row.id)
    assert dict(settings.options) == {"resource": "myres", "api_version": "2025-04-01-preview"}
    assert settings.models == ("gpt-4o-prod",)
    tgt = Target(row, row.base_url, "gpt-4o-prod", "k", options=settings.options)
    assert adapter.chat_url(tgt) == (
        "https://myres.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions"
        "?api-version=2025-04-01-preview"
    )


def test_base_url_wins_over_resource_and_a_portal_endpoint_works() -> None:
    custom = Registry(
        PROVIDERS,
        {"azure-openai": {"resource": "myres", "base_url": "https://llm.example.com/openai"}},
    ).resolve("azure-openai")
    assert custom.base_url == "https://llm.example.com/openai"
    portal = Registry(
        PROVIDERS, {"azure-openai": {"base_url": "https://myres.openai.azure.com/"}}
    ).resolve("azure-openai")
    assert portal.base_url is not None
    assert adapter.chat_url(target(base=portal.base_url)).startswith(
        "https://myres.openai.azure.com/openai/deployments/gpt-4o-prod/"
    )


def test_without_config_the_row_still_needs_it() -> None:
    row = Registry(PROVIDERS, {}).resolve("azure-openai")
    assert row.base_url is None
    assert row.has(Quirk.NEEDS_CONFIG)
    assert row.base_url_template == "https://{resource}.openai.azure.com/openai"


# --- registration and models -----------------------------------------------------------------


def test_the_family_has_this_adapter() -> None:
    assert ApiFamily.AZURE_OPENAI in ADAPTERS
    assert ApiFamily.AZURE_OPENAI not in PLANNED_FAMILIES
    assert adapter_for(ApiFamily.AZURE_OPENAI) is adapter


async def test_models_is_unsupported_so_routing_uses_config_hints() -> None:
    assert ROW.has(Quirk.NO_MODELS_ENDPOINT)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(Unsupported, match="models"):
            await adapter.models(session, target(), 1.0)


# --- the recorded Azure stream and the OpenAI recordings --------------------------------------


def test_the_recorded_azure_stream_with_filter_annotations() -> None:
    body = raw_body(recorded(AZURE_RECORDING))
    assembly = replay.replay_stream(adapter.StreamParser(), body)
    assert assembly.message() == {"role": "assistant", "content": "Capital of Denmark."}
    assert assembly.finish_reason() == "stop"
    assert assembly.usage == {
        "inputTokens": 15,
        "outputTokens": 78,
        "cacheReadTokens": 0,
        "cacheWriteTokens": 0,
        "reasoningTokens": 64,
    }


def test_the_prompt_filter_chunk_yields_no_events() -> None:
    first = raw_body(recorded(AZURE_RECORDING)).split(b"\n\n")[0].removeprefix(b"data: ")
    assert b"prompt_filter_results" in first
    assert adapter.StreamParser().feed(first) == []


def test_every_byte_offset_of_the_azure_stream_gives_the_same_message() -> None:
    body = raw_body(recorded(AZURE_RECORDING))
    whole = replay.replay_stream(adapter.StreamParser(), body)
    for cut in range(1, len(body)):
        assert replay.replay_stream(adapter.StreamParser(), body, [cut]) == whole


OPENAI_STREAMS = [
    ("test_chat_completion_streaming.yaml", -1),
    ("test_chat_completion_streaming_not_complete.yaml", -1),
    ("test_chat_completion_multiple_tools_streaming_no_content.yaml", -1),
    ("test_run_stream_sync_streams_real_model.yaml", 0),
    ("test_run_stream_sync_streams_real_model.yaml", 1),
    (AZURE_RECORDING, -1),
]


@pytest.mark.parametrize(("name", "index"), OPENAI_STREAMS)
def test_openai_chat_streams_assemble_as_through_openai_completions(name: str, index: int) -> None:
    body = raw_body(recorded(name, index))
    azure = replay.replay_stream(adapter.StreamParser(), body)
    assert azure == replay.replay_stream(completions.StreamParser(), body)
    assert azure.message()["content"] or azure.calls


def test_a_recorded_text_stream_through_azure_matches_its_payloads() -> None:
    body = raw_body(recorded("test_chat_completion_streaming.yaml"))
    payloads = [orjson.loads(p) for p in body.decode().split("data: ")[1:] if "[DONE]" not in p]
    expected = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in payloads if c["choices"]
    )
    parser = adapter.StreamParser()
    assembly = replay.replay_stream(parser, body)
    assert parser.done, "[DONE] ends the stream"
    assert assembly.message()["content"] == expected
    assert assembly.finish_reason() == "stop"


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("test_chat_completion_with_content.yaml", -1),
        ("test_chat_completion_tool_calls_no_content.yaml", 0),
        ("test_chat_completion_tool_calls_no_content.yaml", 1),
    ],
)
def test_openai_chat_bodies_parse_as_through_openai_completions(name: str, index: int) -> None:
    body = raw_body(recorded(name, index))
    azure = replay.assembled(adapter.parse_body(body))
    assert azure == replay.assembled(completions.parse_body(body))
    assert azure.message()["content"] or azure.calls


@pytest.mark.parametrize(
    "name",
    [
        "test_chat_completion_404.yaml",
        "test_model_name_suggestion[openai-chat].yaml",
        "test_openai_o1_mini_system_role[system].yaml",
    ],
)
def test_openai_chat_errors_type_as_through_openai_completions(name: str) -> None:
    interaction = recorded(name)
    status, body = interaction.status or 0, raw_body(interaction)
    azure = adapter.map_error(status, {}, body)
    plain = completions.map_error(status, {}, body)
    assert isinstance(azure, UpstreamRejected)
    assert (type(azure), azure.detail, azure.data) == (type(plain), plain.detail, plain.data)


# --- documented shapes: filtered output, async-filter annotations -----------------------------

SAFE = {"filtered": False, "severity": "safe"}
PROMPT_ANNOTATION = {
    "choices": [],
    "created": 0,
    "id": "",
    "model": "",
    "object": "",
    "prompt_filter_results": [
        {
            "prompt_index": 0,
            "content_filter_results": {
                "hate": SAFE,
                "jailbreak": {"filtered": False, "detected": False},
                "self_harm": SAFE,
                "sexual": SAFE,
                "violence": SAFE,
            },
        }
    ],
}


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, **extra}
    return {"id": "chatcmpl-az1", "object": "chat.completion.chunk", "choices": [choice]}


def sse(*objects: Any) -> bytes:
    events = [b"data: " + orjson.dumps(o) + b"\n\n" for o in objects]
    return b"".join(events) + b"data: [DONE]\n\n"


def test_output_cut_by_the_filter_finishes_with_content_filter() -> None:
    verdicts = {"hate": SAFE, "self_harm": SAFE, "sexual": SAFE, "violence": SAFE}
    blocked = {**verdicts, "violence": {"filtered": True, "severity": "high"}}
    offsets = {"check_offset": 12, "start_offset": 0, "end_offset": 12}
    body = sse(
        PROMPT_ANNOTATION,
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Once upon"}, content_filter_results=verdicts),
        chunk({"content": " a time"}, content_filter_results=verdicts),
        # The asynchronous filter's annotation: no delta, verdicts for a span of output.
        {
            "id": "",
            "object": "",
            "created": 0,
            "model": "",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": None,
                    "content_filter_results": verdicts,
                    "content_filter_offsets": offsets,
                }
            ],
        },
        chunk({}, "content_filter", content_filter_results=blocked),
    )
    parser = adapter.StreamParser()
    assembly = replay.replay_stream(parser, body)
    assert parser.done
    assert assembly.message() == {"role": "assistant", "content": "Once upon a time"}
    assert assembly.finish_reason() == "content_filter"


def test_a_whole_completion_filtered_on_output() -> None:
    body = {
        "id": "chatcmpl-az2",
        "object": "chat.completion",
        "model": "gpt-4o-2024-11-20",
        "prompt_filter_results": PROMPT_ANNOTATION["prompt_filter_results"],
        "choices": [
            {
                "index": 0,
                "finish_reason": "content_filter",
                "message": {"role": "assistant", "content": None},
                "content_filter_results": {"violence": {"filtered": True, "severity": "medium"}},
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 40, "total_tokens": 49},
    }
    assembly = replay.assembled(adapter.parse_body(orjson.dumps(body)))
    assert assembly.message() == {"role": "assistant", "content": ""}
    assert assembly.finish_reason() == "content_filter"
    assert assembly.usage["outputTokens"] == 40


# --- errors ------------------------------------------------------------------------------------

PROMPT_FILTERED = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy. Please modify your prompt and retry.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": SAFE,
                "jailbreak": {"filtered": True, "detected": True},
                "self_harm": SAFE,
                "sexual": {"filtered": False, "severity": "low"},
                "violence": {"filtered": True, "severity": "medium"},
            },
        },
    }
}


def test_a_filtered_prompt_is_rejected_naming_the_categories() -> None:
    error = adapter.map_error(400, {}, orjson.dumps(PROMPT_FILTERED))
    assert type(error) is UpstreamRejected
    assert not error.retryable
    assert not error.falls_back
    assert error.detail == (
        "Azure OpenAI's content filter blocked the request: jailbreak (detected), violence (medium)"
    )
    assert error.data == {"status": 400, "upstreamCode": "content_filter", "field": "prompt"}
    assert "sexual" not in (error.detail or ""), "only categories that were filtered"


def test_a_filter_error_without_verdicts_still_says_so() -> None:
    body = {"error": {"code": "content_filter", "message": "filtered", "status": 400}}
    error = adapter.map_error(400, {}, orjson.dumps(body))
    assert type(error) is UpstreamRejected
    assert error.detail == "Azure OpenAI's content filter blocked the request: no category named"


def test_custom_blocklists_in_either_shape_are_named() -> None:
    assert adapter.filtered_categories(
        {
            "custom_blocklists": [{"id": "words", "filtered": True}],
            "profanity": {"filtered": True, "detected": True},
            "hate": {"filtered": False, "severity": "safe"},
        }
    ) == ["custom_blocklists", "profanity (detected)"]
    assert adapter.filtered_categories(
        {"custom_blocklists": {"filtered": True, "details": [{"filtered": True, "id": "w"}]}}
    ) == ["custom_blocklists"]
    assert adapter.filtered_categories(None) == []


def test_a_filter_error_inside_a_stream_is_named_too() -> None:
    payload = orjson.dumps(
        {**PROMPT_FILTERED, "error": {**PROMPT_FILTERED["error"], "status": 200}}
    )
    with pytest.raises(UpstreamRejected, match=r"jailbreak \(detected\), violence \(medium\)"):
        adapter.StreamParser().feed(payload)
    with pytest.raises(UpstreamRejected, match=r"violence \(medium\)"):
        adapter.parse_body(payload)


def test_other_errors_inside_a_stream_keep_the_providers_words() -> None:
    with pytest.raises(UpstreamRejected, match="bad tool schema"):
        adapter.StreamParser().feed(b'{"error":{"message":"bad tool schema","code":"invalid"}}')
    with pytest.raises(UpstreamUnavailable):
        adapter.StreamParser().feed(b'{"error":{"message":"the server is overloaded"}}')


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (
            401,
            {},
            b'{"error":{"code":"401","message":"Access denied due to invalid subscription key '
            b"or wrong API endpoint. Make sure to provide a valid key for an active "
            b'subscription and use a correct regional API endpoint for your resource."}}',
            UpstreamAuthFailed,
        ),
        (
            404,
            {},
            b'{"error":{"code":"DeploymentNotFound","message":"The API deployment for this '
            b'resource does not exist."}}',
            UpstreamRejected,
        ),
        (
            429,
            {"Retry-After": "6"},
            b'{"error":{"code":"429","message":"Requests to the ChatCompletions_Create '
            b"Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate "
            b'limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds."}}',
            RateLimited,
        ),
        (
            500,
            {},
            b'{"error":{"code":"InternalServerError","message":"oops"}}',
            UpstreamUnavailable,
        ),
        (503, {}, b"<html>Service Unavailable</html>", UpstreamUnavailable),
    ],
)
def test_error_answers_are_typed(
    status: int, headers: dict[str, str], body: bytes, expected: type
) -> None:
    error = adapter.map_error(status, headers, body)
    assert type(error) is expected
    assert error.data["status"] == status
    if headers:
        assert error.data["retryAfterMs"] == 6000


def test_retry_after_ms_is_preferred_to_whole_seconds() -> None:
    error = adapter.map_error(
        429, {"Retry-After": "2", "retry-after-ms": "1500"}, b'{"error":{"code":"429"}}'
    )
    assert type(error) is RateLimited
    assert error.data["retryAfterMs"] == 1500


# --- the stream function against a local server ------------------------------------------------


@dataclass
class Seen:
    """What the local server received."""

    paths: list[str] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)


@pytest.fixture
async def azure() -> AsyncIterator[tuple[str, Seen]]:
    """A local server answering Azure's chat route; the deployment name picks the answer."""
    seen = Seen()

    async def chat(request: web.Request) -> web.Response:
        seen.paths.append(request.path)
        seen.queries.append(dict(request.query))
        seen.headers.append(dict(request.headers))
        seen.bodies.append(await request.json())
        deployment = request.match_info["deployment"]
        if deployment == "blocked":
            return web.json_response(PROMPT_FILTERED, status=400)
        if deployment == "busy":
            return web.json_response(
                {"error": {"code": "429"}}, status=429, headers={"retry-after-ms": "250"}
            )
        body = raw_body(recorded(AZURE_RECORDING))
        return web.Response(body=body, content_type="text/event-stream")

    app = web.Application()
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", chat)
    async with serving(app) as origin:
        yield f"{origin}/openai", seen


async def streamed(base: str, deployment: str) -> Assembly:
    assembly = Assembly()
    call = ChatCall(
        model=deployment, messages=[{"role": "user", "content": "hi"}], max_tokens=50, stream=True
    )
    async with aiohttp.ClientSession() as session:
        async for batch in adapter.stream(session, target(base=base, model=deployment), call, 5.0):
            for event in batch:
                assembly.add(event)
    return assembly


async def test_stream_sends_azure_s_request_and_relays_the_answer(
    azure: tuple[str, Seen],
) -> None:
    base, seen = azure
    assembly = await streamed(base, "router")
    assert assembly.message()["content"] == "Capital of Denmark."
    assert seen.paths == ["/openai/deployments/router/chat/completions"]
    assert seen.queries == [{"api-version": adapter.DEFAULT_API_VERSION}]
    assert seen.headers[0]["api-key"] == "azure-key-1"
    assert "Authorization" not in seen.headers[0]
    assert seen.bodies[0]["max_completion_tokens"] == 50


async def test_stream_raises_the_named_filter_error_and_rate_limits(
    azure: tuple[str, Seen],
) -> None:
    base, _ = azure
    with pytest.raises(UpstreamRejected, match=r"violence \(medium\)"):
        await streamed(base, "blocked")
    with pytest.raises(RateLimited) as caught:
        await streamed(base, "busy")
    assert caught.value.data["retryAfterMs"] == 250


def test_the_row_is_the_catalog_row() -> None:
    assert isinstance(ROW, Provider)
    assert ROW.family is ApiFamily.AZURE_OPENAI
    assert ROW.env_keys == ("AZURE_OPENAI_API_KEY",)
