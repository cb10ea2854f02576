"""Resolving provider names, and config that overrides or adds providers."""

from __future__ import annotations

import pytest

from daemon.errors import ConfigInvalid, UnknownProvider
from daemon.providers.lookup import Registry
from daemon.providers.model import ApiFamily, AuthStyle, Provider, Quirk

ROWS = (
    Provider(
        "openai",
        "OpenAI",
        ApiFamily.OPENAI_COMPLETIONS,
        "https://api.openai.com/v1",
        env_keys=("OPENAI_API_KEY",),
    ),
    Provider(
        "anthropic",
        "Anthropic",
        ApiFamily.ANTHROPIC_MESSAGES,
        "https://api.anthropic.com",
        aliases=("claude",),
    ),
    Provider(
        "azure-openai",
        "Azure",
        ApiFamily.AZURE_OPENAI,
        None,
        quirks=frozenset({Quirk.NEEDS_CONFIG}),
    ),
)


def registry(config: dict[str, object] | None = None) -> Registry:
    return Registry(ROWS, config or {}, "cfg.toml")


def test_ids_and_aliases_resolve_case_insensitively() -> None:
    assert registry().resolve("claude").id == "anthropic"
    assert registry().resolve("OpenAI").id == "openai"


def test_an_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(UnknownProvider) as caught:
        registry().resolve("anthropik")
    assert "anthropic" in caught.value.data["suggestions"]


def test_custom_forms_make_ad_hoc_rows() -> None:
    row = registry().resolve("custom:http://127.0.0.1:8000/v1/")
    assert (row.family, row.base_url, row.auth) == (
        ApiFamily.OPENAI_COMPLETIONS,
        "http://127.0.0.1:8000/v1",
        AuthStyle.BEARER,
    )
    row = registry().resolve("anthropic-custom:https://gw.example/anthropic")
    assert (row.family, row.auth) == (ApiFamily.ANTHROPIC_MESSAGES, AuthStyle.X_API_KEY)
    with pytest.raises(UnknownProvider, match="https"):
        registry().resolve("custom:http://remote.example/v1")


def test_config_overrides_a_row_and_adds_keys() -> None:
    reg = registry(
        {
            "azure-openai": {"base_url": "https://me.openai.azure.com/", "api_keys": ["a", "b"]},
            "claude": {"headers": {"X-Team": "7"}, "default_model": "claude-x"},
        }
    )
    azure = reg.resolve("azure-openai")
    assert azure.base_url == "https://me.openai.azure.com"
    assert not azure.has(Quirk.NEEDS_CONFIG)
    assert reg.settings("azure-openai").api_keys == ("a", "b")
    assert ("X-Team", "7") in reg.resolve("anthropic").headers
    assert reg.settings("anthropic").default_model == "claude-x"
    assert reg.is_configured("anthropic")
    assert not reg.is_configured("openai")


def test_config_can_define_a_new_provider() -> None:
    reg = registry(
        {
            "myproxy": {
                "api": "openai-completions",
                "base_url": "http://localhost:4000/v1",
                "api_key": "k",
            }
        }
    )
    row = reg.resolve("myproxy")
    assert (row.family, row.base_url) == (ApiFamily.OPENAI_COMPLETIONS, "http://localhost:4000/v1")
    assert reg.settings("myproxy").api_keys == ("k",)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"opnai": {"api_key": "k"}}, "providers.opnai"),
        ({"new": {"api": "smoke-signals", "base_url": "https://x"}}, "providers.new.api"),
        ({"new": {"api": "openai-completions"}}, "providers.new.base_url"),
        ({"openai": {"base_url": "http://remote.example/v1"}}, "providers.openai.base_url"),
        ({"openai": {"api_keys": "k"}}, "providers.openai.api_keys"),
        ({"openai": {"apikey": "k"}}, "providers.openai.apikey"),
    ],
)
def test_config_mistakes_name_their_key(config: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        registry(config)
    assert caught.value.data["key"] == key
