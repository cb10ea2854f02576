"""chat.send to an anthropic-messages provider through the real daemon, replaying recordings.

A small server answers ``POST /v1/messages`` with the recorded bytes of a real Anthropic
exchange (streamed or not) and keeps what the daemon sent, so both directions are checked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from daemon.client import Client
from daemon.errors import UpstreamAuthFailed
from tests.fakes import cassettes
from tests.support.daemon import running_daemon
from tests.support.local_server import serving
from tests.support.replay import raw_body

RECORDED = cassettes.WIRE / "anthropic_messages"
STREAM = "test_anthropic_tools_streaming_legacy.yaml"
JSON = "anthropic_completion_tools.yaml"
BAD_KEY = "anthropic_completion_invalid_api_key.yaml"


class Replay:
    """Answers each request with the recording its model names; remembers the requests."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], Any]] = []

    async def messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.seen.append((dict(request.headers), body))
        interaction = cassettes.load(RECORDED / body["model"])[-1]
        raw = raw_body(interaction)
        content_type = (interaction.header("content-type") or "application/json").split(";")[0]
        return web.Response(status=interaction.status or 200, body=raw, content_type=content_type)


@pytest.fixture
async def replay() -> AsyncIterator[tuple[Replay, str]]:
    replay = Replay()
    app = web.Application()
    app.router.add_post("/v1/messages", replay.messages)
    async with serving(app) as origin:
        yield replay, f"{origin}/v1"


def config(base_url: str) -> str:
    return f'[providers.anthropic]\nbase_url = "{base_url}"\napi_key = "sk-ant-test-0000"\n'


async def send(client: Client, model: str, on_notification: Any = None, **params: Any) -> Any:
    messages = [{"role": "user", "content": "What's the weather in San Francisco?"}]
    body = {"provider": "claude", "model": model, "messages": messages, **params}
    return await client.call("chat.send", body, on_notification=on_notification)


async def test_a_streamed_anthropic_answer_arrives_as_deltas_and_a_whole_message(
    replay: tuple[Replay, str],
) -> None:
    server, base_url = replay
    deltas: list[dict[str, Any]] = []
    with running_daemon(config=config(base_url)) as daemon:
        async with Client(daemon.socket) as client:
            result = await send(
                client, STREAM, stream=True, on_notification=lambda _m, p: deltas.append(p)
            )
    assert result["provider"] == "anthropic"
    assert [call["name"] for call in result["message"]["toolCalls"]] == ["get_weather", "get_time"]
    assert {d["type"] for d in deltas} == {"text", "toolCall"}
    headers, body = server.seen[0]
    assert (headers["x-api-key"], headers["anthropic-version"]) == (
        "sk-ant-test-0000",
        "2023-06-01",
    )
    assert body["stream"] is True


async def test_a_json_anthropic_answer_and_a_rejected_key(replay: tuple[Replay, str]) -> None:
    _server, base_url = replay
    with running_daemon(config=config(base_url)) as daemon:
        async with Client(daemon.socket) as client:
            result = await send(client, JSON)
            assert result["finishReason"] == "tool_calls"
            assert result["usage"]["inputTokens"] == 599
            with pytest.raises(UpstreamAuthFailed, match="invalid x-api-key"):
                await send(client, BAD_KEY)
