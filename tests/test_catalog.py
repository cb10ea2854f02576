"""The provider catalog's invariants, checked the way hassfest checks manifests.

Each test states one rule every row of ``daemon.providers.catalog.PROVIDERS`` obeys.
"""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import urlsplit

import pytest

from daemon.providers.catalog import PROVIDERS
from daemon.providers.model import ApiFamily, AuthStyle, LoginMethod, Provider, Quirk

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
BRIDGE_SITES = frozenset({"zai", "qwen"})

# The "provider id" column of oauth-flows.md's summary table, plus minimax-portal-cn, whose
# hosts that table documents in the minimax-portal row.
OAUTH_TABLE_IDS = frozenset(
    {
        "openai",
        "openai-codex",
        "anthropic",
        "google-gemini-cli",
        "qwen-portal",
        "minimax-portal",
        "minimax-portal-cn",
        "kimi-coding",
        "opencode",
        "zhipuai",
        "github-copilot",
        "google-antigravity",
    }
)

# Every provider id or alias the five seed matrices name (shared/seeds/*.txt): openclaw-rust's
# built-in defaults, alias+config table, bridge defaults and OAuth catalog; pi_agent_rust's
# Wave A/B/C, Batch A1-A4, deferred list and alias table; zeroclaw's slugs and aliases;
# llmadapter's endpoint ids; SmartopolAI's native, registry and config ids.
SEED_IDS = frozenset(
    {
        # openclaw-rust
        "ollama", "lmstudio", "vllm", "llamacpp", "localai", "tgi", "gpt4all", "koboldcpp",
        "oobabooga", "groq", "google", "deepseek", "mistral", "fireworks", "together",
        "deepinfra", "cerebras", "siliconflow", "sambanova", "novita", "hyperbolic", "nebius",
        "inference-net", "openrouter", "inception", "aimlapi", "vercel-ai-gateway", "shareai",
        "bifrost", "openai", "anthropic", "azure-openai", "vertex-ai", "bedrock", "cohere",
        "xai", "nvidia", "github-models", "opencode", "byteplus", "huggingface", "kimi-coding",
        "litellm", "moonshot", "openai-codex", "perplexity", "qianfan", "qwen-portal",
        "volcengine", "zai", "zhipuai", "zhipuai-coding", "claude", "claude-code", "claude-cli",
        "azure", "azure-openai-service", "vertex", "google-vertex", "amazon-bedrock",
        "github-model", "vercel-ai", "ai-gateway", "share-ai", "maxim-bifrost", "bifrost-maxim",
        "minimax-portal", "google-gemini-cli",
        # zeroclaw
        "gemini", "google-gemini", "aws-bedrock", "copilot", "github-copilot", "openai_codex",
        "codex", "venice", "vercel", "cloudflare", "cloudflare-ai", "kimi-code", "synthetic",
        "opencode-zen", "grok", "together-ai", "fireworks-ai", "lm-studio", "llama.cpp",
        "nvidia-nim", "astrai", "ovhcloud", "ovh", "kimi", "glm", "zhipu", "bigmodel", "minimax",
        "minimaxi", "minimax-oauth", "minimax-oauth-cn", "minimax-portal-cn", "qwen",
        "dashscope", "z.ai", "baidu", "doubao", "ark", "custom", "anthropic-custom",
        # llmadapter
        "openai_chat", "openai_responses", "codex_responses", "bedrock_responses",
        "bedrock_messages", "bedrock_converse", "openrouter_chat", "openrouter_responses",
        "openrouter_messages", "minimax_chat", "minimax_messages",
        # SmartopolAI
        "qwen_oauth", "lepton", "corethink", "featherless", "requesty", "glama", "chutes", "yi",
        "hunyuan", "stepfun", "openai_compat",
        # pi_agent_rust
        "moonshotai", "togetherai", "alibaba", "alibaba-cn", "kimi-for-coding", "minimax-cn",
        "minimax-coding-plan", "minimax-cn-coding-plan", "modelscope", "moonshotai-cn",
        "scaleway", "siliconflow-cn", "upstage", "zai-coding-plan", "zhipuai-coding-plan",
        "baseten", "llama", "ollama-cloud", "zenmux", "vertexai", "azure-cognitive-services",
        "sap-ai-core", "sap", "gitlab", "gitlab-duo", "cloudflare-ai-gateway",
        "cloudflare-workers-ai", "v0", "google-vertex-anthropic", "local", "302ai", "abacus",
        "aihubmix", "bailing", "berget", "cortecs", "fastrouter", "firmware", "friendli",
        "helicone", "iflowcn", "inference", "io-net", "jiekou", "lucidquery", "moark", "morph",
        "nano-gpt", "nova", "novita-ai", "poe", "privatemode-ai", "submodel", "vivgrid",
        "vultr", "wandb", "xiaomi",
    }
)  # fmt: skip


def _row_id(provider: Provider) -> str:
    return provider.id


rows = pytest.mark.parametrize("provider", PROVIDERS, ids=_row_id)


def test_ids_are_unique() -> None:
    counts = Counter(p.id for p in PROVIDERS)
    assert [pid for pid, n in counts.items() if n > 1] == []


@rows
def test_id_is_a_lowercase_slug(provider: Provider) -> None:
    assert SLUG.match(provider.id)


@rows
def test_name_is_not_empty(provider: Provider) -> None:
    assert provider.name.strip()


@rows
def test_aliases_are_lowercase(provider: Provider) -> None:
    for alias in provider.aliases:
        assert alias
        assert alias == alias.lower()
        assert alias.strip() == alias


def test_no_alias_equals_an_id_or_another_alias() -> None:
    names = Counter(name.casefold() for p in PROVIDERS for name in (p.id, *p.aliases))
    assert sorted(name for name, n in names.items() if n > 1) == []


@rows
def test_remote_base_url_is_https_without_trailing_slash(provider: Provider) -> None:
    if provider.base_url is None or provider.local:
        return
    parts = urlsplit(provider.base_url)
    assert parts.scheme == "https"
    assert parts.netloc
    assert not provider.base_url.endswith("/")
    assert not parts.query
    assert not parts.fragment


@rows
def test_local_row_is_plain_http_on_loopback(provider: Provider) -> None:
    if not provider.local:
        return
    assert provider.base_url is not None
    parts = urlsplit(provider.base_url)
    assert parts.scheme == "http"
    assert parts.hostname in LOOPBACK_HOSTS
    assert parts.port is not None
    assert not provider.base_url.endswith("/")
    assert provider.key_optional


@rows
def test_missing_base_url_is_flagged_needs_config(provider: Provider) -> None:
    if provider.base_url is None:
        assert provider.has(Quirk.NEEDS_CONFIG)


@rows
def test_env_key_names_are_shell_variables(provider: Provider) -> None:
    for name in provider.env_keys:
        assert ENV_NAME.match(name), name
    assert len(set(provider.env_keys)) == len(provider.env_keys)


@rows
def test_keyless_row_has_no_env_keys_and_is_key_optional(provider: Provider) -> None:
    if provider.auth is AuthStyle.NONE:
        assert provider.env_keys == ()
        assert provider.key_optional
        assert LoginMethod.API_KEY not in provider.logins


@rows
def test_keyed_row_offers_a_way_to_log_in(provider: Provider) -> None:
    if provider.auth is not AuthStyle.NONE:
        assert provider.logins
    assert len(set(provider.logins)) == len(provider.logins)


@rows
def test_family_is_an_api_family(provider: Provider) -> None:
    assert isinstance(provider.family, ApiFamily)
    assert isinstance(provider.auth, AuthStyle)
    assert all(isinstance(q, Quirk) for q in provider.quirks)


def test_every_family_used_has_an_adapter() -> None:
    # Imported here so the rest of this module runs before daemon.adapters exists.
    from daemon.adapters import ADAPTERS, PLANNED_FAMILIES

    used = {p.family for p in PROVIDERS}
    assert used <= set(ADAPTERS) | PLANNED_FAMILIES


@rows
def test_anthropic_messages_row_sends_anthropic_version(provider: Provider) -> None:
    if provider.family is ApiFamily.ANTHROPIC_MESSAGES:
        assert ("anthropic-version", "2023-06-01") in provider.headers


@rows
def test_bridge_hint_names_a_known_site(provider: Provider) -> None:
    if provider.bridge is None:
        return
    assert provider.bridge.site in BRIDGE_SITES
    parts = urlsplit(provider.bridge.website_url)
    assert parts.scheme == "https"
    assert parts.netloc


@rows
def test_logins_beyond_api_keys_are_documented_in_oauth_flows(provider: Provider) -> None:
    if set(provider.logins) - {LoginMethod.API_KEY}:
        assert provider.id in OAUTH_TABLE_IDS


def test_every_seed_id_resolves_to_a_row() -> None:
    by_name = {name: p for p in PROVIDERS for name in (p.id, *p.aliases)}
    assert sorted(SEED_IDS - by_name.keys()) == []
