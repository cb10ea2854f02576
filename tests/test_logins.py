"""The login catalog: data that agrees with the provider catalog, the policy, and its config."""

from __future__ import annotations

import pytest

from daemon.auth.login_config import LoginCatalog
from daemon.auth.logins import LOGINS, LOGINS_BY_PROVIDER, DeviceDialect, LoginSpec, LoginStatus
from daemon.errors import ConfigInvalid, LoginNotAllowed, UnknownProvider
from daemon.providers.catalog import PROVIDERS
from daemon.providers.model import LoginMethod

ROWS = {row.id: row for row in PROVIDERS}
ISSUED = (
    "openai openai-codex anthropic google-gemini-cli qwen-portal minimax-portal kimi-coding "
    "opencode zhipuai github-copilot"
).split()


def test_the_catalog_has_a_row_for_each_login_provider_and_no_other() -> None:
    assert sorted(LOGINS_BY_PROVIDER) == sorted(ISSUED)
    assert len(LOGINS) == len(LOGINS_BY_PROVIDER)


@pytest.mark.parametrize("spec", LOGINS, ids=lambda s: s.provider)
def test_each_row_agrees_with_its_provider_row(spec: LoginSpec) -> None:
    assert spec.provider in ROWS
    assert set(spec.methods) == set(ROWS[spec.provider].logins)


@pytest.mark.parametrize("spec", LOGINS, ids=lambda s: s.provider)
def test_each_method_has_what_it_needs(spec: LoginSpec) -> None:
    endpoints = spec.endpoints
    if LoginMethod.BROWSER in spec.methods or LoginMethod.PASTE in spec.methods:
        assert endpoints.authorize_url
        assert endpoints.token_url
        assert endpoints.client_id
    if LoginMethod.DEVICE in spec.methods:
        assert spec.device is not None
        assert endpoints.device_url
        assert endpoints.client_id
    if LoginMethod.API_KEY in spec.methods:
        assert spec.key_url
        assert spec.key_url.startswith("https://")
    for url in (endpoints.authorize_url, endpoints.token_url, endpoints.device_url):
        assert url is None or url.startswith("https://")


def test_anthropic_offers_an_api_key_only_and_says_why() -> None:
    spec = LOGINS_BY_PROVIDER["anthropic"]
    assert spec.methods == (LoginMethod.API_KEY,)
    assert "terms" in spec.policy
    assert "subscription" in spec.policy


@pytest.mark.parametrize("provider", ["google-gemini-cli", "github-copilot"])
def test_opt_in_logins_are_refused_until_enabled(provider: str) -> None:
    catalog = LoginCatalog.from_config({})
    spec = catalog.spec(provider)
    assert spec.status is LoginStatus.OPT_IN
    assert not catalog.usable(spec)
    with pytest.raises(LoginNotAllowed) as refused:
        catalog.method(provider, None)
    assert f"[oauth.{provider}]" in str(refused.value)
    assert refused.value.data["note"] == spec.policy
    enabled = LoginCatalog.from_config({provider: {"enabled": True}})
    assert enabled.method(provider, None)[0].provider == provider


def test_qwen_keeps_its_device_login_and_says_the_free_tier_ended() -> None:
    spec = LOGINS_BY_PROVIDER["qwen-portal"]
    assert spec.status is LoginStatus.DISCONTINUED
    assert "2026-04-15" in spec.policy
    assert spec.device is DeviceDialect.RFC8628
    assert spec.pkce_on_device


def test_codex_pins_its_registered_redirect_ports() -> None:
    assert LOGINS_BY_PROVIDER["openai-codex"].endpoints.redirect_ports == (1455, 1457)


def test_config_overrides_every_endpoint_and_the_port() -> None:
    table = {
        "authorize_url": "http://127.0.0.1:9/a",
        "token_url": "http://127.0.0.1:9/t",
        "device_url": "http://127.0.0.1:9/d",
        "revoke_url": "http://127.0.0.1:9/r",
        "client_id": "test-client",
        "scopes": "a b",
        "redirect_port": 0,
    }
    spec = LoginCatalog.from_config({"openai-codex": table}).spec("openai-codex")
    endpoints = spec.endpoints
    assert endpoints.authorize_url == "http://127.0.0.1:9/a"
    assert endpoints.token_url == table["token_url"]
    assert endpoints.client_id == "test-client"
    assert endpoints.scopes == ("a", "b")
    assert endpoints.redirect_ports == ()


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"nope": {}}, "oauth.nope"),
        ({"openai-codex": {"token_ur": "x"}}, "oauth.openai-codex.token_ur"),
        ({"openai-codex": {"token_url": "http://example.com/t"}}, "oauth.openai-codex.token_url"),
        ({"openai-codex": {"redirect_port": 70000}}, "oauth.openai-codex.redirect_port"),
        ({"github-copilot": {"enabled": "yes"}}, "oauth.github-copilot.enabled"),
        ({"openai-codex": {"scopes": [1]}}, "oauth.openai-codex.scopes"),
        ({"flow_ttl_s": 0}, "oauth.flow_ttl_s"),
        ({"flow_ttl_s": "10"}, "oauth.flow_ttl_s"),
        ({"flow_ttl_s": True}, "oauth.flow_ttl_s"),
        ({"openai-codex": {"redirect_port": []}}, "oauth.openai-codex.redirect_port"),
        ({"openai-codex": {"redirect_port": [1455, 70000]}}, "oauth.openai-codex.redirect_port"),
        ({"openai-codex": {"redirect_port": [0, 1455]}}, "oauth.openai-codex.redirect_port"),
    ],
)
def test_a_bad_oauth_table_stops_the_daemon_naming_the_key(
    table: dict[str, object], key: str
) -> None:
    with pytest.raises(ConfigInvalid) as bad:
        LoginCatalog.from_config(table, "cfg.toml")
    assert bad.value.data["key"] == key


def test_a_method_a_provider_lacks_is_refused_with_the_ones_it_has() -> None:
    catalog = LoginCatalog.from_config({})
    with pytest.raises(LoginNotAllowed) as refused:
        catalog.method("anthropic", "browser")
    assert refused.value.data["methods"] == ["api_key"]


def test_other_key_providers_get_the_plain_api_key_login() -> None:
    catalog = LoginCatalog.from_config({}, key_only={"groq": "https://console.groq.com/docs"})
    spec, method = catalog.method("groq", None)
    assert method is LoginMethod.API_KEY
    assert spec.key_url == "https://console.groq.com/docs"
    with pytest.raises(UnknownProvider):
        catalog.spec("ollama")
