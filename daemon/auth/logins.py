"""The login catalog: how a person gives the daemon a credential, per provider. DATA ONLY.

One frozen :class:`LoginSpec` row per provider with a login of its own; the facts (URLs,
client ids, scopes, ports, dialects) and the policy status of each come from
``reference/oauth-flows.md``. Every URL, client id, scope list and port can be overridden in
``[oauth.<id>]`` (:mod:`daemon.auth.login_config` applies that), which is also how the tests
point the real flows at a fake authorization server.

Policy (oauth-flows.md, section 0): only logins a provider permits for third-party clients
are offered. ``anthropic`` is API key only. ``google-gemini-cli`` and ``github-copilot`` are
``opt-in``: their flows run only after ``[oauth.<id>] enabled = true``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from daemon.providers.model import LoginMethod


class LoginStatus(StrEnum):
    """Whether a login is offered as is, behind an explicit opt-in, or winding down."""

    AVAILABLE = "available"
    OPT_IN = "opt-in"  # runs only with [oauth.<id>] enabled = true
    DISCONTINUED = "discontinued"  # kept for accounts that still work; see the note


class TokenBody(StrEnum):
    """How the token endpoint wants its parameters."""

    FORM = "form"  # application/x-www-form-urlencoded (RFC 6749)
    JSON = "json"


class DeviceDialect(StrEnum):
    """Which device login a provider speaks; one poller per dialect."""

    # device_code grant, errors as RFC 8628 section 3.5 (GitHub sends them with HTTP 200,
    # and JSON only when asked: every request here asks).
    RFC8628 = "rfc8628"
    CODEX = "codex"  # usercode -> poll for an authorization code + verifier -> code exchange
    MINIMAX = "minimax"  # user_code grant, status field, absolute-ms expiry


class Exchange(StrEnum):
    """A second token the provider's API wants, minted from the login's token."""

    NONE = "none"
    COPILOT = "copilot"  # GitHub token -> short-lived Copilot token (copilot_internal)
    CODE_ASSIST = "code-assist"  # after login: discover the Code Assist project (Gemini CLI)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where a login talks to; every field is overridable in ``[oauth.<id>]``."""

    client_id: str = ""
    client_secret: str | None = None  # installed-app secrets the vendor publishes
    authorize_url: str | None = None
    token_url: str | None = None
    device_url: str | None = None
    revoke_url: str | None = None
    # Exchange.COPILOT's token endpoint; Exchange.CODE_ASSIST's API base (loadCodeAssist).
    exchange_url: str | None = None
    scopes: tuple[str, ...] = ()
    # Loopback redirect: pinned ports in order (the provider's allow-list), or () for any.
    redirect_ports: tuple[int, ...] = ()
    redirect_host: str = "localhost"
    redirect_path: str = "/callback"
    # Where the provider's own page sends the user after a device login (codex), if anywhere.
    device_redirect_uri: str | None = None
    verification_uri: str | None = None  # shown with a user code when the answer lacks one


@dataclass(frozen=True, slots=True)
class LoginSpec:
    """One provider's logins."""

    provider: str
    methods: tuple[LoginMethod, ...]
    status: LoginStatus
    policy: str  # one sentence a person reads before choosing
    endpoints: Endpoints = Endpoints()
    key_url: str | None = None  # where to create an API key (the api_key method)
    device: DeviceDialect | None = None
    token_body: TokenBody = TokenBody.FORM
    pkce_on_device: bool = False
    state_on_device: bool = False
    authorize_params: tuple[tuple[str, str], ...] = ()
    # Headers every request to the authorization server carries (and the Copilot token
    # exchange). Values may name {device_id}, {version}, {hostname}, {machine}, {system},
    # {os_version}: daemon.auth.identity fills them in once per start.
    client_headers: tuple[tuple[str, str], ...] = ()
    exchange: Exchange = Exchange.NONE
    rotates_refresh: bool = True  # False: the answer may omit refresh_token; keep the old one
    # Claims read from the token answer into Login.claims, e.g. qwen's resource_url.
    answer_claims: tuple[str, ...] = ()
    # When the answer names a resource_url, the API base is it (https:// added to a bare
    # host) plus this suffix; it replaces the catalog's base URL for calls with the login.
    resource_suffix: str | None = None
    # How long a browser or paste login waits for the person ([oauth] flow_ttl_s).
    flow_ttl_ms: int = 10 * 60_000


_CODEX = Endpoints(
    client_id="app_EMoamEEZ73f0CkXaXp7hrann",
    authorize_url="https://auth.openai.com/oauth/authorize",
    token_url="https://auth.openai.com/oauth/token",
    device_url="https://auth.openai.com/api/accounts/deviceauth",
    revoke_url="https://auth.openai.com/oauth/revoke",
    scopes=("openid", "profile", "email", "offline_access"),
    redirect_ports=(1455, 1457),  # the redirect allow-list; 1457 is codex's registered fallback
    redirect_path="/auth/callback",
    device_redirect_uri="https://auth.openai.com/deviceauth/callback",
    verification_uri="https://auth.openai.com/codex/device",
)

LOGINS: tuple[LoginSpec, ...] = (
    LoginSpec(
        provider="openai",
        methods=(LoginMethod.API_KEY, LoginMethod.IMPORT),
        status=LoginStatus.AVAILABLE,
        policy="Platform API keys; a ChatGPT subscription is the separate openai-codex login.",
        key_url="https://platform.openai.com/api-keys",
    ),
    LoginSpec(
        provider="openai-codex",
        methods=(LoginMethod.BROWSER, LoginMethod.PASTE, LoginMethod.DEVICE, LoginMethod.IMPORT),
        status=LoginStatus.AVAILABLE,
        policy="ChatGPT Plus/Pro login with the Codex client; no prohibition found for others.",
        endpoints=_CODEX,
        device=DeviceDialect.CODEX,
        authorize_params=(
            ("id_token_add_organizations", "true"),
            ("codex_cli_simplified_flow", "true"),
            ("originator", "switchboard"),
        ),
    ),
    LoginSpec(
        provider="anthropic",
        methods=(LoginMethod.API_KEY,),
        status=LoginStatus.AVAILABLE,
        policy=(
            "API key only: Anthropic's terms prohibit third-party clients from offering, "
            "storing or intermediating Claude.ai (Pro/Max) subscription logins."
        ),
        key_url="https://console.anthropic.com/settings/keys",
    ),
    LoginSpec(
        provider="google-gemini-cli",
        methods=(LoginMethod.BROWSER, LoginMethod.PASTE, LoginMethod.IMPORT),
        status=LoginStatus.OPT_IN,
        policy=(
            "Opt-in: Gemini CLI's terms call using its OAuth in other software a violation, "
            "and only paid Code Assist licences still work; prefer a Gemini API key (google)."
        ),
        endpoints=Endpoints(
            client_id="681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
            # Published by Google in gemini-cli as an installed-app secret (not confidential).
            client_secret="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",  # noqa: S106
            authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
            token_url="https://oauth2.googleapis.com/token",
            revoke_url="https://oauth2.googleapis.com/revoke",
            exchange_url="https://cloudcode-pa.googleapis.com/v1internal",
            scopes=(
                "https://www.googleapis.com/auth/cloud-platform",
                "https://www.googleapis.com/auth/userinfo.email",
                "https://www.googleapis.com/auth/userinfo.profile",
            ),
            redirect_host="127.0.0.1",
            redirect_path="/oauth2callback",
        ),
        authorize_params=(("access_type", "offline"), ("prompt", "consent")),
        exchange=Exchange.CODE_ASSIST,
        rotates_refresh=False,
    ),
    LoginSpec(
        provider="qwen-portal",
        methods=(LoginMethod.DEVICE, LoginMethod.IMPORT),
        status=LoginStatus.DISCONTINUED,
        policy=(
            "Qwen ended the free OAuth tier on 2026-04-15; the device login stays for accounts "
            "that still work. Prefer an Alibaba Cloud Coding Plan or DashScope API key."
        ),
        endpoints=Endpoints(
            client_id="f0304373b74a44d2b584a3fb70ca9e56",
            device_url="https://chat.qwen.ai/api/v1/oauth2/device/code",
            token_url="https://chat.qwen.ai/api/v1/oauth2/token",
            scopes=("openid", "profile", "email", "model.completion"),
        ),
        device=DeviceDialect.RFC8628,
        pkce_on_device=True,
        rotates_refresh=False,
        answer_claims=("resource_url",),
        resource_suffix="/v1",
    ),
    LoginSpec(
        provider="minimax-portal",
        methods=(LoginMethod.DEVICE, LoginMethod.IMPORT),
        status=LoginStatus.AVAILABLE,
        policy="MiniMax Coding Plan login (OAuth works only for the Coding plan).",
        endpoints=Endpoints(
            client_id="78257093-7e40-4613-99e0-527b14b39113",
            device_url="https://account.minimax.io/oauth2/device/code",
            token_url="https://account.minimax.io/oauth2/token",
            scopes=("group_id", "profile", "model.completion"),
        ),
        device=DeviceDialect.MINIMAX,
        pkce_on_device=True,
        state_on_device=True,
        rotates_refresh=False,
        answer_claims=("resource_url",),
        resource_suffix="/v1",
    ),
    LoginSpec(
        provider="kimi-coding",
        methods=(LoginMethod.DEVICE, LoginMethod.API_KEY, LoginMethod.IMPORT),
        status=LoginStatus.AVAILABLE,
        policy="Kimi Code membership login (kimi-cli's own device flow), or a Kimi Code key.",
        endpoints=Endpoints(
            client_id="17e5f671-d194-4dfb-9706-5516cb48c098",
            device_url="https://auth.kimi.com/api/oauth/device_authorization",
            token_url="https://auth.kimi.com/api/oauth/token",
        ),
        key_url="https://www.kimi.com/code/console",
        device=DeviceDialect.RFC8628,
        # kimi-cli's device identity (oauth-flows.md 3.7); the token endpoint wants it too.
        client_headers=(
            ("X-Msh-Platform", "switchboard"),
            ("X-Msh-Version", "{version}"),
            ("X-Msh-Device-Name", "{hostname}"),
            ("X-Msh-Device-Model", "{system} {machine}"),
            ("X-Msh-Os-Version", "{os_version}"),
            ("X-Msh-Device-Id", "{device_id}"),
        ),
    ),
    LoginSpec(
        provider="opencode",
        methods=(LoginMethod.API_KEY, LoginMethod.IMPORT),
        status=LoginStatus.AVAILABLE,
        policy="OpenCode Zen API keys.",
        key_url="https://opencode.ai/auth",
    ),
    LoginSpec(
        provider="zhipuai",
        methods=(LoginMethod.API_KEY, LoginMethod.IMPORT),
        status=LoginStatus.AVAILABLE,
        policy="BigModel / Z.ai API keys (coding-plan keys belong to zhipuai-coding-plan).",
        key_url="https://open.bigmodel.cn/usercenter/apikeys",
    ),
    LoginSpec(
        provider="github-copilot",
        methods=(LoginMethod.DEVICE, LoginMethod.IMPORT),
        status=LoginStatus.OPT_IN,
        policy=(
            "Opt-in: GitHub reserves Copilot's internal token endpoint for supported editors; "
            "the sanctioned source is a Copilot CLI or gh token (COPILOT_GITHUB_TOKEN)."
        ),
        endpoints=Endpoints(
            client_id="Iv1.b507a08c87ecfe98",
            device_url="https://github.com/login/device/code",
            token_url="https://github.com/login/oauth/access_token",
            exchange_url="https://api.github.com/copilot_internal/v2/token",
            scopes=("read:user",),
        ),
        device=DeviceDialect.RFC8628,
        exchange=Exchange.COPILOT,
        # The editor identity the token exchange expects (oauth-flows.md 3.10, step 3).
        client_headers=(
            ("Editor-Version", "vscode/1.107.0"),
            ("Editor-Plugin-Version", "copilot-chat/0.35.0"),
            ("User-Agent", "GitHubCopilotChat/0.35.0"),
        ),
    ),
)

LOGINS_BY_PROVIDER: Mapping[str, LoginSpec] = {spec.provider: spec for spec in LOGINS}
