"""The routing policy's pieces: config, backoff, Retry-After, the circuit breaker, credentials."""

from __future__ import annotations

import email.utils

import pytest

from daemon.adapters.http import retry_after_ms
from daemon.auth.credentials import EmptyVault, resolve
from daemon.auth.records import Login, api_key_login
from daemon.errors import ConfigInvalid, CredentialsMissing
from daemon.providers.lookup import ProviderSettings
from daemon.providers.model import ApiFamily, AuthStyle, Provider
from daemon.reliability import Breaker, Policy, backoff_s, load_policy


def test_policy_defaults_and_config() -> None:
    policy = load_policy(
        {
            "reliability": {
                "retries": 4,
                "fallback_providers": ["groq"],
                "model_fallbacks": {"openai/gpt-x": ["groq/llama"]},
            },
            "defaults": {"provider": "openai", "model": "gpt-x"},
            "model_routes": [
                {"prefix": "claude-", "provider": "anthropic"},
                {"prefix": "claude-3-", "provider": "bedrock"},
            ],
        },
        "cfg.toml",
    )
    assert (policy.retries, policy.backoff_ms) == (4, Policy().backoff_ms)
    assert policy.fallback_providers == ("groq",)
    assert policy.model_fallbacks == {"openai/gpt-x": ("groq/llama",)}
    assert policy.model_routes[0] == ("claude-3-", "bedrock"), "the longest prefix is tried first"
    assert (policy.default_provider, policy.default_model) == ("openai", "gpt-x")


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        ({"reliability": {"retries": -1}}, "reliability.retries"),
        ({"reliability": {"retry": 1}}, "reliability.retry"),
        ({"reliability": {"fallback_providers": "groq"}}, "reliability.fallback_providers"),
        ({"model_routes": [{"prefix": "x"}]}, "model_routes[0]"),
        ({"defaults": {"provider": 3}}, "defaults.provider"),
    ],
)
def test_policy_mistakes_name_their_key(sections: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        load_policy(sections, "cfg.toml")
    assert caught.value.data["key"] == key


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling() -> None:
    policy = Policy(backoff_ms=100, backoff_max_ms=1000)
    assert backoff_s(policy, 1, None, rng=lambda: 1.0) == 0.1
    assert backoff_s(policy, 3, None, rng=lambda: 1.0) == 0.4
    assert backoff_s(policy, 10, None, rng=lambda: 1.0) == 1.0
    assert backoff_s(policy, 3, None, rng=lambda: 0.5) == 0.2
    assert backoff_s(policy, 1, 3000, rng=lambda: 1.0) == 3.0, "Retry-After is a floor"


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_ms({"Retry-After": "7"}) == 7000
    later = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after_ms({"retry-after": later}, now=1_000_000) == 30_000
    assert retry_after_ms({"Retry-After": "soon"}) is None
    assert retry_after_ms({}) is None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_after_n_failures_and_lets_one_probe_through() -> None:
    clock = Clock()
    breaker = Breaker(threshold=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        breaker.failed()
    assert breaker.allow()
    breaker.failed()
    assert not breaker.allow()
    assert breaker.retry_after_ms() == 10_000
    clock.now = 10.0
    assert breaker.allow(), "half-open: one probe"
    assert not breaker.allow(), "only one"
    breaker.failed()
    assert not breaker.allow(), "a failed probe opens it again"
    clock.now = 20.0
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.allow()
    assert breaker.allow()


ROW = Provider(
    "acme",
    "Acme",
    ApiFamily.OPENAI_COMPLETIONS,
    "https://api.acme.test/v1",
    env_keys=("ACME_KEY", "ACME_API_KEY"),
)


class Vault(EmptyVault):
    """A vault holding one stored API key."""

    def __init__(self, key: str) -> None:
        self.key = key

    async def current(self, provider: str, account: str = "default") -> Login | None:
        return api_key_login(self.key)


async def test_credentials_follow_request_vault_config_env_order() -> None:
    settings = ProviderSettings(api_keys=("cfg-1", "cfg-2"))
    env = {"ACME_API_KEY": "env-2", "ACME_KEY": "env-1"}
    assert (await resolve(ROW, settings, Vault("v"), env, "req")).keys == ("req",)
    from_vault = await resolve(ROW, settings, Vault("v"), env)
    assert (from_vault.keys, from_vault.source) == (("v",), "vault")
    assert (await resolve(ROW, settings, EmptyVault(), env)).keys == ("cfg-1", "cfg-2")
    assert (await resolve(ROW, ProviderSettings(), EmptyVault(), env)).keys == ("env-1",)
    assert (await resolve(ROW, ProviderSettings(), EmptyVault(), {"ACME_API_KEY": "e2"})).keys == (
        "e2",
    )


async def test_missing_credentials_say_where_a_key_could_go() -> None:
    with pytest.raises(CredentialsMissing) as caught:
        await resolve(ROW, ProviderSettings(), EmptyVault(), {})
    assert caught.value.data["envKeys"] == ["ACME_KEY", "ACME_API_KEY"]
    local = Provider(
        "box",
        "Box",
        ApiFamily.OPENAI_COMPLETIONS,
        "http://127.0.0.1:1/v1",
        auth=AuthStyle.NONE,
        key_optional=True,
    )
    assert (await resolve(local, ProviderSettings(), EmptyVault(), {})).keys == (None,)


def test_credentials_never_show_keys_in_repr() -> None:
    from daemon.auth.credentials import Credentials

    assert "secret-key" not in repr(Credentials(("secret-key",), "config"))
