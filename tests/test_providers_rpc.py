"""providers.list / providers.resolve / models.list, and every openai-completions row end to end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from daemon.client import Client
from daemon.errors import UnknownProvider
from daemon.providers.catalog import PROVIDERS
from daemon.providers.model import ApiFamily, AuthStyle
from tests.conftest import result_validator
from tests.support.daemon import DaemonProcess, running_daemon
from tests.support.upstream import ThreadedUpstream

COMPLETIONS_ROWS = [row for row in PROVIDERS if row.family is ApiFamily.OPENAI_COMPLETIONS]


async def call(daemon: DaemonProcess, method: str, params: dict[str, Any] | None = None) -> Any:
    async with Client(daemon.socket) as client:
        return await client.call(method, params)


async def test_providers_list_has_every_catalog_row(chat_daemon: DaemonProcess) -> None:
    rows = await call(chat_daemon, "providers.list")
    result_validator("providers.list")(rows)
    ids = {row["id"] for row in rows}
    assert {row.id for row in PROVIDERS} <= ids
    assert "fake" in ids, "providers defined only in config are listed too"


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        ({"local": True}, lambda row: row["local"]),
        ({"family": "anthropic-messages"}, lambda row: row["family"] == "anthropic-messages"),
        ({"login": "device"}, lambda row: "device" in row["logins"]),
        ({"configured": True}, lambda row: row["configured"]),
    ],
)
async def test_providers_list_filters(
    chat_daemon: DaemonProcess, filters: dict[str, Any], check: Any
) -> None:
    rows = await call(chat_daemon, "providers.list", filters)
    assert rows
    assert all(check(row) for row in rows)


async def test_the_local_servers_are_all_there(chat_daemon: DaemonProcess) -> None:
    local = {row["id"] for row in await call(chat_daemon, "providers.list", {"local": True})}
    wanted = {
        "ollama",
        "lmstudio",
        "vllm",
        "llamacpp",
        "localai",
        "tgi",
        "gpt4all",
        "koboldcpp",
        "oobabooga",
        "litellm",
    }
    assert wanted <= local


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [("claude", "anthropic"), ("grok", "xai"), ("fireworks-ai", "fireworks")],
)
async def test_providers_resolve_maps_aliases(
    chat_daemon: DaemonProcess, alias: str, canonical: str
) -> None:
    row = await call(chat_daemon, "providers.resolve", {"name": alias})
    result_validator("providers.resolve")(row)
    assert row["id"] == canonical


async def test_providers_resolve_an_unknown_name_suggests(chat_daemon: DaemonProcess) -> None:
    with pytest.raises(UnknownProvider) as caught:
        await call(chat_daemon, "providers.resolve", {"name": "mistrall"})
    assert "mistral" in caught.value.data["suggestions"]


async def test_models_list_is_live_where_the_provider_has_models(
    chat_daemon: DaemonProcess,
) -> None:
    listing = await call(chat_daemon, "models.list", {"provider": "openai"})
    result_validator("models.list")(listing)
    assert listing["source"] == "live"
    assert {"id": "gpt-fake"} in listing["models"]


async def test_models_list_falls_back_to_catalog_hints(chat_daemon: DaemonProcess) -> None:
    listing = await call(chat_daemon, "models.list", {"provider": "perplexity"})
    assert listing["source"] == "catalog"


@pytest.fixture(scope="module")
def every_row_daemon(upstream: ThreadedUpstream) -> Iterator[DaemonProcess]:
    """A daemon where every openai-completions row's base URL is the fake."""
    tables = []
    for row in COMPLETIONS_ROWS:
        key = "" if row.auth is AuthStyle.NONE else f'api_key = "sk-test-{row.id}-0000"\n'
        tables.append(f'[providers."{row.id}"]\nbase_url = "{upstream.base_url}"\n{key}')
    with running_daemon(config="\n".join(tables)) as daemon:
        yield daemon


async def test_every_openai_completions_row_is_dispatchable(
    every_row_daemon: DaemonProcess, upstream: ThreadedUpstream
) -> None:
    async with Client(every_row_daemon.socket) as client:
        for row in COMPLETIONS_ROWS:
            marker = f"scenario=row-{row.id}"
            result = await client.call(
                "chat.send",
                {
                    "provider": row.id,
                    "model": f"gpt-fake+{marker}",
                    "messages": [{"role": "user", "content": "hi"}],
                },
            )
            assert result["provider"] == row.id
            assert result["message"]["content"] == "Echo: hi"
            (seen,) = [
                r for r in upstream.requests_for(marker) if r.body["model"] == f"gpt-fake+{marker}"
            ]
            if row.auth is AuthStyle.BEARER:
                assert seen.headers["authorization"] == f"Bearer sk-test-{row.id}-0000"
    assert len(COMPLETIONS_ROWS) > 80
