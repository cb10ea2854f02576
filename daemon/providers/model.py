"""The types of the provider catalog: one frozen row per provider, closed sets as enums.

Quirks are named flags on the row (:class:`Quirk`); nothing outside the catalog tables
branches on a provider's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ApiFamily(StrEnum):
    """The wire protocol a provider speaks; each has one adapter module."""

    OPENAI_COMPLETIONS = "openai-completions"
    OPENAI_RESPONSES = "openai-responses"
    ANTHROPIC_MESSAGES = "anthropic-messages"
    GOOGLE_GENERATIVE_AI = "google-generative-ai"
    GOOGLE_VERTEX = "google-vertex"
    AZURE_OPENAI = "azure-openai"
    COHERE_CHAT = "cohere-chat"
    BEDROCK_CONVERSE = "bedrock-converse"
    # Login-bound variants: the same wire shapes behind a subscription login.
    OPENAI_CODEX_RESPONSES = "openai-codex-responses"
    GOOGLE_GEMINI_CLI = "google-gemini-cli"
    GITHUB_COPILOT = "github-copilot"


class AuthStyle(StrEnum):
    """Where the credential goes on the request."""

    BEARER = "bearer"  # Authorization: Bearer <key>
    X_API_KEY = "x-api-key"  # x-api-key: <key>
    API_KEY = "api-key"  # api-key: <key> (Azure)
    X_GOOG_API_KEY = "x-goog-api-key"  # x-goog-api-key: <key> (Gemini)
    QUERY_KEY = "query-key"  # ?key=<key>
    AWS_SIGV4 = "aws-sigv4"  # signed with AWS credentials (Bedrock)
    NONE = "none"  # local servers that take no key


class LoginMethod(StrEnum):
    """How a person can give the daemon a credential for this provider."""

    BROWSER = "browser"  # PKCE with a loopback redirect
    PASTE = "paste"  # authorize in a browser, paste the code back
    DEVICE = "device"  # device code
    API_KEY = "api_key"  # paste an API key
    IMPORT = "import"  # from an official CLI's credential file


class Quirk(StrEnum):
    """A deviation from the family's common behaviour, named so adapters can test for it."""

    NO_STREAM_USAGE = "no-stream-usage"  # rejects stream_options.include_usage
    MAX_COMPLETION_TOKENS = "max-completion-tokens"  # wants max_completion_tokens, not max_tokens
    NO_TOOL_CHOICE = "no-tool-choice"  # rejects tool_choice
    NO_MODELS_ENDPOINT = "no-models-endpoint"  # has no GET /models
    TEXT_ONLY = "text-only"  # no image input on any model
    NEEDS_CONFIG = "needs-config"  # base URL (or more) must come from config
    ANTHROPIC_PUBLISHER = "anthropic-publisher"  # google-vertex: Claude via rawPredict


# Quirks the daemon applies to what a request asks (renamed or dropped fields, refused
# images): a provider with any of them never gets a client's request body unchanged.
REQUEST_QUIRKS: frozenset[Quirk] = frozenset(
    {
        Quirk.NO_STREAM_USAGE,
        Quirk.MAX_COMPLETION_TOKENS,
        Quirk.NO_TOOL_CHOICE,
        Quirk.TEXT_ONLY,
        Quirk.ANTHROPIC_PUBLISHER,
    }
)


@dataclass(frozen=True, slots=True)
class BridgeHint:
    """A chat website the daemon can drive when no key is available."""

    site: str  # a key of bridges' site table, e.g. "zai"
    website_url: str


@dataclass(frozen=True, slots=True)
class Provider:
    """One row of the catalog."""

    id: str
    name: str
    family: ApiFamily
    base_url: str | None  # None: the user must configure it (see Quirk.NEEDS_CONFIG)
    # For tenant clouds: the base URL built from config options, e.g. "https://{resource}...".
    base_url_template: str | None = None
    auth: AuthStyle = AuthStyle.BEARER
    env_keys: tuple[str, ...] = ()  # in precedence order
    aliases: tuple[str, ...] = ()
    key_optional: bool = False
    local: bool = False
    bridge: BridgeHint | None = None
    logins: tuple[LoginMethod, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # static extra headers
    quirks: frozenset[Quirk] = field(default_factory=frozenset)
    default_model: str | None = None
    docs_url: str | None = None

    def has(self, quirk: Quirk) -> bool:
        return quirk in self.quirks
