"""The official ``openai`` SDK against the daemon's /v1 endpoint, on the Unix socket and on TCP."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpx2
import openai
import pytest
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
)

from tests.support.daemon import DaemonProcess, running_daemon
from tests.support.upstream import ThreadedUpstream, upstream_config

TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {"name": "search", "parameters": {"type": "object"}},
}
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi sdk"}]


@dataclass(frozen=True)
class Endpoint:
    """How an SDK client reaches the daemon: base URL, key, and (for the socket) a transport."""

    name: str
    base_url: str
    api_key: str
    uds: str | None

    def sync(self) -> openai.OpenAI:
        transport = httpx2.HTTPTransport(uds=self.uds) if self.uds else None
        return openai.OpenAI(
            base_url=self.base_url,
            api_key=self.api_key,
            max_retries=0,
            http_client=httpx2.Client(transport=transport),
        )

    def asynchronous(self) -> openai.AsyncOpenAI:
        transport = httpx2.AsyncHTTPTransport(uds=self.uds) if self.uds else None
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self.api_key,
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=transport),
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def sdk_daemon(upstream: ThreadedUpstream) -> Iterator[tuple[DaemonProcess, int]]:
    port = free_port()
    config = f'[daemon]\ntcp = "127.0.0.1:{port}"\n' + upstream_config(upstream.base_url)
    with running_daemon(config=config) as daemon:
        yield daemon, port


@pytest.fixture(params=["unix", "tcp"])
def endpoint(request: pytest.FixtureRequest, sdk_daemon: tuple[DaemonProcess, int]) -> Endpoint:
    daemon, port = sdk_daemon
    if request.param == "unix":
        return Endpoint(
            "unix", "http://switchboard/v1", "not-needed-on-the-socket", str(daemon.socket)
        )
    token = (daemon.state_dir / "tcp-token").read_text().strip()
    return Endpoint("tcp", f"http://127.0.0.1:{port}/v1", token, None)


def test_sync_completion(endpoint: Endpoint) -> None:
    with endpoint.sync() as client:
        completion = client.chat.completions.create(model="openai/gpt-fake", messages=HI)
    assert completion.choices[0].message.content == "Echo: hi sdk"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    assert completion.model == "openai/gpt-fake"


def test_sync_stream_with_usage(endpoint: Endpoint) -> None:
    with endpoint.sync() as client:
        chunks = list(
            client.chat.completions.create(
                model="gpt-fake", messages=HI, stream=True, stream_options={"include_usage": True}
            )
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: hi sdk"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None


def test_sync_tool_calls(endpoint: Endpoint) -> None:
    with endpoint.sync() as client:
        completion = client.chat.completions.create(
            model="openai/gpt-fake+tools", messages=HI, tools=[TOOL]
        )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    assert call.function.name == "search"


async def test_async_completion_and_stream(endpoint: Endpoint) -> None:
    async with endpoint.asynchronous() as client:
        completion = await client.chat.completions.create(model="fake/gpt-fake", messages=HI)
        assert completion.choices[0].message.content == "Echo: hi sdk"
        stream = await client.chat.completions.create(
            model="openai/gpt-fake", messages=HI, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Echo: hi sdk"


async def test_async_streamed_tool_calls_assemble(endpoint: Endpoint) -> None:
    async with endpoint.asynchronous() as client:
        stream = await client.chat.completions.create(
            model="openai/gpt-fake+tools", messages=HI, tools=[TOOL], stream=True
        )
        calls = [
            tc async for c in stream if c.choices for tc in c.choices[0].delta.tool_calls or []
        ]
    assert calls[0].function is not None
    assert calls[0].function.name == "search"
    assert "".join(c.function.arguments or "" for c in calls if c.function) == "{}"


def test_models_list_names_provider_and_model(endpoint: Endpoint) -> None:
    with endpoint.sync() as client:
        ids = [model.id for model in client.models.list()]
    assert "openai/gpt-fake" in ids
    assert "fake/gpt-fake" in ids


def test_provider_errors_become_sdk_exceptions(endpoint: Endpoint) -> None:
    with endpoint.sync() as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            client.chat.completions.create(model="openai/gpt-fake+fault=http_401", messages=HI)
        assert caught.value.status_code == 401
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="openai/gpt-fake+fault=http_404", messages=HI)
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(
                model="openai/gpt-fake", messages=cast(Any, [{"role": "wizard", "content": "x"}])
            )
        assert refused.value.param == "messages[0].role"  # the provider's words, its field


def test_tcp_without_the_token_is_refused(sdk_daemon: tuple[DaemonProcess, int]) -> None:
    _daemon, port = sdk_daemon
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="openai/gpt-fake", messages=HI)


def test_an_oversized_body_is_refused_with_413(endpoint: Endpoint) -> None:
    huge: list[ChatCompletionMessageParam] = [{"role": "user", "content": "x" * (9 << 20)}]
    with endpoint.sync() as client, pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="openai/gpt-fake", messages=huge)
    assert caught.value.status_code == 413
