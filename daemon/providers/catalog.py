"""The provider catalog: one frozen row per provider, data only.

Every provider id found in the seed matrices (openclaw-rust, pi_agent_rust, zeroclaw,
llmadapter, SmartopolAI) resolves here, by canonical id or by alias. Lookup indexes are
built in ``lookup.py``; ``tests/test_catalog.py`` checks the table's invariants.

Conventions the adapters rely on:

- ``base_url`` is everything before the path the family appends, version prefix included:
  ``/chat/completions`` and ``/models`` (openai-completions), ``/responses``
  (openai-responses, openai-codex-responses), ``/messages`` and ``/models``
  (anthropic-messages, so ``https://api.anthropic.com/v1``), ``/chat`` (cohere-chat v2),
  ``/models/{model}:streamGenerateContent`` (google-generative-ai),
  ``:streamGenerateContent`` (google-gemini-cli), ``/model/{id}/converse-stream``
  (bedrock-converse). Region-bound rows carry the us-east-1 host; config overrides it.
- ``None`` base URLs (with ``Quirk.NEEDS_CONFIG``) are per-tenant: Azure resources, Vertex
  projects, self-hosted gateways, account-scoped Cloudflare URLs, custom endpoints.
- ``env_keys`` are alternatives in precedence order, never parts of one credential.
- ``default_model`` comes from the seeds, newest seed first; it is left unset where the only
  seed default is a placeholder ("local-model") or a pinned model family the provider has
  since replaced, because a default that 404s is worse than none (``models.list`` answers).
- Where the seeds disagree the row carries a ``#`` comment naming the choice.
"""

from __future__ import annotations

from daemon.providers.model import (
    ApiFamily,
    AuthStyle,
    BridgeHint,
    LoginMethod,
    Provider,
    Quirk,
)

# Anthropic's Claude models, wherever a cloud serves them ("anthropic.claude-..." on Bedrock,
# "claude-..." on Vertex): they take a thinking budget, and on Vertex the Anthropic publisher.
CLAUDE_MODEL_MARKER = "claude"

PROVIDERS: tuple[Provider, ...] = (
    # Local servers: loopback http, key optional.
    Provider(
        id="gpt4all",
        name="GPT4All",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="http://127.0.0.1:4891/v1",
        auth=AuthStyle.NONE,
        key_optional=True,
        local=True,
        docs_url="https://docs.gpt4all.io/gpt4all_api_server/home.html",
    ),
    Provider(
        id="koboldcpp",
        name="KoboldCpp",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="http://127.0.0.1:5001/v1",
        key_optional=True,  # --password makes it a bearer key
        local=True,
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="litellm",
        name="LiteLLM proxy",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="http://127.0.0.1:4000/v1",
        key_optional=True,  # the proxy's master/virtual key, when it has one
        local=True,
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.litellm.ai/docs/simple_proxy",
    ),
    Provider(
        id="llamacpp",
        name="llama.cpp server",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="http://127.0.0.1:8080/v1",
        # Not LLAMA_API_KEY: that name belongs to Meta's hosted Llama API (row "llama").
        env_keys=("LLAMACPP_API_KEY",),
        aliases=("llama.cpp",),
        key_optional=True,
        local=True,
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="lmstudio",
        name="LM Studio",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="http://127.0.0.1:1234/v1",
        env_keys=("LMSTUDIO_API_KEY",),
        aliases=("lm-studio",),
        key_optional=True,
        local=True,
        logins=(LoginMethod.API_KEY,),
        docs_url="https://lmstudio.ai/docs/app/api/endpoints/openai",
    ),
    Provider(
        id="localai",
        name="LocalAI",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="http://127.0.0.1:8080/v1",
        key_optional=True,
        local=True,
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="ollama",
        name="Ollama",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="http://127.0.0.1:11434/v1",
        # Local Ollama has no auth; OLLAMA_API_KEY is the ollama-cloud key and must not be
        # sent to whatever listens on the loopback port.
        auth=AuthStyle.NONE,
        key_optional=True,
        local=True,
        docs_url="https://docs.ollama.com/openai",
    ),
    Provider(
        id="oobabooga",
        name="Oobabooga text-generation-webui",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="http://127.0.0.1:5000/v1",
        key_optional=True,  # --api-key makes it a bearer key
        local=True,
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="privatemode-ai",
        name="Privatemode AI (local proxy)",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # The encrypting proxy runs on the user's machine and holds the key itself.
        base_url="http://localhost:8080/v1",
        env_keys=("PRIVATEMODE_API_KEY",),
        key_optional=True,
        local=True,
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.privatemode.ai/api/overview",
    ),
    Provider(
        id="tgi",
        name="Hugging Face TGI",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # 8080 is the port of TGI's documented `docker run -p 8080:80`; the bare launcher
        # defaults to 3000.
        base_url="http://127.0.0.1:8080/v1",
        auth=AuthStyle.NONE,
        key_optional=True,
        local=True,
        docs_url="https://huggingface.co/docs/text-generation-inference",
    ),
    Provider(
        id="vllm",
        name="vLLM",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="http://127.0.0.1:8000/v1",
        env_keys=("VLLM_API_KEY",),
        key_optional=True,
        local=True,
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.vllm.ai/en/latest/serving/openai_compatible_server/",
    ),
    # Custom endpoints: the user supplies the URL.
    Provider(
        id="anthropic-custom",
        name="Custom Anthropic-compatible endpoint",
        family=ApiFamily.ANTHROPIC_MESSAGES,
        base_url=None,
        auth=AuthStyle.X_API_KEY,
        logins=(LoginMethod.API_KEY,),
        headers=(("anthropic-version", "2023-06-01"),),
        quirks=frozenset({Quirk.NEEDS_CONFIG}),
    ),
    Provider(
        id="custom",
        name="Custom OpenAI-compatible endpoint",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url=None,
        # openai_compat: SmartopolAI's section for ad-hoc endpoints; local: pi's deferred
        # generic local runtime, which is an OpenAI-shaped server at a URL you choose.
        aliases=("openai_compat", "local"),
        key_optional=True,
        logins=(LoginMethod.API_KEY,),
        quirks=frozenset({Quirk.NEEDS_CONFIG}),
    ),
    # First-party model APIs.
    Provider(
        id="anthropic",
        name="Anthropic",
        family=ApiFamily.ANTHROPIC_MESSAGES,
        base_url="https://api.anthropic.com/v1",
        auth=AuthStyle.X_API_KEY,
        env_keys=("ANTHROPIC_API_KEY",),
        # claude: llmadapter's Claude-subscription endpoint; claude-code/-cli: openclaw.
        aliases=("claude", "claude-code", "claude-cli"),
        # API key only: Anthropic's credential policy forbids third parties offering or
        # intermediating Claude.ai (Pro/Max) logins, which also rules out importing
        # ~/.claude/.credentials.json (oauth-flows.md, section 0).
        logins=(LoginMethod.API_KEY,),
        headers=(("anthropic-version", "2023-06-01"),),
        default_model="claude-sonnet-4-6",
        docs_url="https://docs.anthropic.com/en/api/overview",
    ),
    Provider(
        id="cohere",
        name="Cohere",
        # Native v2 Chat rather than the compatibility endpoint openclaw and SmartopolAI use
        # (https://api.cohere.com/compatibility/v1): the compat layer documents unsupported
        # parameters and drops citations, and cohere-chat is a family we ship anyway.
        family=ApiFamily.COHERE_CHAT,
        base_url="https://api.cohere.com/v2",
        env_keys=("COHERE_API_KEY", "CO_API_KEY"),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.cohere.com/reference/chat",
    ),
    Provider(
        id="deepseek",
        name="DeepSeek",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # DeepSeek documents the bare host; openclaw's /v1 form is an accepted alias.
        base_url="https://api.deepseek.com",
        env_keys=("DEEPSEEK_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        quirks=frozenset({Quirk.TEXT_ONLY}),
        default_model="deepseek-chat",
        docs_url="https://api-docs.deepseek.com/",
    ),
    Provider(
        id="google",
        name="Google Gemini API",
        # Native generateContent, not the OpenAI-compat endpoint openclaw and SmartopolAI
        # default to (https://generativelanguage.googleapis.com/v1beta/openai): native keeps
        # thought signatures, thinking config and multimodal parts the compat layer drops.
        family=ApiFamily.GOOGLE_GENERATIVE_AI,
        base_url="https://generativelanguage.googleapis.com/v1beta",
        # Header rather than pi's ?key= so the key never lands in a logged URL.
        auth=AuthStyle.X_GOOG_API_KEY,
        # GEMINI_API_KEY first (zeroclaw's order; pi has the reverse): GOOGLE_API_KEY is a
        # generic name that often holds a key for some other Google API.
        env_keys=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        aliases=("gemini", "google-gemini"),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://ai.google.dev/gemini-api/docs",
    ),
    Provider(
        id="groq",
        name="Groq",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.groq.com/openai/v1",
        env_keys=("GROQ_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        default_model="llama-3.3-70b-versatile",
        docs_url="https://console.groq.com/docs/openai",
    ),
    Provider(
        id="hunyuan",
        name="Tencent Hunyuan",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.hunyuan.cloud.tencent.com/v1",
        env_keys=("HUNYUAN_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="inception",
        name="Inception (Mercury)",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.inceptionlabs.ai/v1",
        env_keys=("INCEPTION_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.inceptionlabs.ai/get-started/models",
    ),
    Provider(
        id="llama",
        name="Meta Llama API",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.llama.com/compat/v1",
        env_keys=("LLAMA_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://llama.developer.meta.com/docs/models",
    ),
    Provider(
        id="mistral",
        name="Mistral AI",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.mistral.ai/v1",
        env_keys=("MISTRAL_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        default_model="mistral-large-latest",
        docs_url="https://docs.mistral.ai/api/",
    ),
    Provider(
        id="nova",
        name="Amazon Nova",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.nova.amazon.com/v1",
        env_keys=("NOVA_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://nova.amazon.com/dev/documentation",
    ),
    Provider(
        id="openai",
        name="OpenAI",
        # Seeds differ: pi uses Responses, openclaw Chat Completions. Chat Completions serves
        # every OpenAI chat model and is the wire nearly all other rows share; set
        # `api = "openai-responses"` in [providers.openai] for Responses-only models.
        # llmadapter's openai_chat endpoint id resolves here too.
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.openai.com/v1",
        env_keys=("OPENAI_API_KEY", "OPENAI_KEY"),
        aliases=("openai_chat", "openai_responses"),
        # import: ~/.codex/auth.json's OPENAI_API_KEY, opencode's auth.json "openai" key.
        logins=(LoginMethod.API_KEY, LoginMethod.IMPORT),
        default_model="gpt-4.1-mini",
        docs_url="https://platform.openai.com/docs/api-reference",
    ),
    Provider(
        id="perplexity",
        name="Perplexity",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.perplexity.ai",
        env_keys=("PERPLEXITY_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        quirks=frozenset({Quirk.NO_MODELS_ENDPOINT}),
        default_model="sonar-pro",
        docs_url="https://docs.perplexity.ai",
    ),
    Provider(
        id="stepfun",
        name="StepFun",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.stepfun.com/v1",
        env_keys=("STEPFUN_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://platform.stepfun.com/docs/zh/overview/concept",
    ),
    Provider(
        id="upstage",
        name="Upstage (Solar)",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.upstage.ai/v1/solar",
        env_keys=("UPSTAGE_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://developers.upstage.ai/docs/apis/chat",
    ),
    Provider(
        id="v0",
        name="Vercel v0",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # pi defers v0 for lack of a published URL; v0's Model API serves this one.
        base_url="https://api.v0.dev/v1",
        env_keys=("V0_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="xai",
        name="xAI (Grok)",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.x.ai/v1",
        env_keys=("XAI_API_KEY",),
        aliases=("grok",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.x.ai/docs/api-reference",
    ),
    Provider(
        id="xiaomi",
        name="Xiaomi MiMo",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.xiaomimimo.com/v1",
        env_keys=("XIAOMI_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://platform.xiaomimimo.com/#/docs",
    ),
    Provider(
        id="yi",
        name="01.AI (Yi)",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # 01.AI's platform documents api.lingyiwanwu.com; SmartopolAI's api.01.ai is the old
        # international host.
        base_url="https://api.lingyiwanwu.com/v1",
        env_keys=("YI_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://platform.lingyiwanwu.com/docs",
    ),
    # Subscription logins (oauth-flows.md).
    Provider(
        id="github-copilot",
        name="GitHub Copilot",
        family=ApiFamily.GITHUB_COPILOT,
        # The token's proxy-ep (e.g. api.individual.githubcopilot.com) overrides this.
        base_url="https://api.githubcopilot.com",
        # COPILOT_GITHUB_TOKEN is the sanctioned name (oauth-flows.md section 0); the other
        # two are pi's. Each is a GitHub token the adapter exchanges for a Copilot token.
        env_keys=("COPILOT_GITHUB_TOKEN", "GITHUB_COPILOT_API_KEY", "GITHUB_TOKEN"),
        aliases=("copilot",),
        logins=(LoginMethod.DEVICE, LoginMethod.IMPORT),
        # The editor identity Copilot's API insists on (oauth-flows.md 3.10).
        headers=(
            ("Editor-Version", "vscode/1.107.0"),
            ("Editor-Plugin-Version", "copilot-chat/0.35.0"),
            ("Copilot-Integration-Id", "vscode-chat"),
            ("User-Agent", "GitHubCopilotChat/0.35.0"),
            ("Openai-Intent", "conversation-edits"),
            ("X-Initiator", "user"),
        ),
        docs_url="https://docs.github.com/en/copilot",
    ),
    Provider(
        id="google-gemini-cli",
        name="Gemini CLI (Code Assist login)",
        family=ApiFamily.GOOGLE_GEMINI_CLI,
        base_url="https://cloudcode-pa.googleapis.com/v1internal",
        # Paid Code Assist licences only: Google ended the consumer tier on 2026-06-18 and
        # its ToS bars third-party clients (oauth-flows.md section 0); prefer "google".
        logins=(LoginMethod.BROWSER, LoginMethod.PASTE, LoginMethod.IMPORT),
        quirks=frozenset({Quirk.NO_MODELS_ENDPOINT}),
        docs_url="https://github.com/google-gemini/gemini-cli",
    ),
    Provider(
        id="kimi-coding",
        name="Kimi Code (Kimi for Coding)",
        # One service behind three seed ids: openclaw's OAuth id kimi-coding, pi's
        # kimi-for-coding (Anthropic-compatible, x-api-key) and zeroclaw's kimi-code. The
        # host serves Messages and Chat Completions; kimi-cli itself, with a login or a key,
        # speaks Chat Completions with a bearer token (oauth-flows.md 3.7), so this row does.
        family=ApiFamily.OPENAI_COMPLETIONS,
        # openclaw pairs https://api.kimi.com/coding with openai-completions: no /v1, wrong.
        base_url="https://api.kimi.com/coding/v1",
        env_keys=("KIMI_API_KEY",),
        aliases=("kimi-for-coding", "kimi-code"),
        logins=(LoginMethod.DEVICE, LoginMethod.API_KEY, LoginMethod.IMPORT),
        # Kimi Code serves recognised coding agents only and refuses other User-Agents with
        # a 403 (access_terminated_error); these are the identity headers of kimi-cli.
        headers=(
            ("User-Agent", "KimiCLI/1.44.0"),
            ("X-Msh-Platform", "kimi_cli"),
            ("X-Msh-Version", "1.44.0"),
        ),
        docs_url="https://www.kimi.com/code/docs/en/kimi-code/models.html",
    ),
    Provider(
        id="minimax-portal",
        name="MiniMax Coding Plan (OAuth)",
        family=ApiFamily.ANTHROPIC_MESSAGES,
        base_url="https://api.minimax.io/anthropic/v1",  # or the token's resource_url
        aliases=("minimax-oauth",),
        logins=(LoginMethod.DEVICE, LoginMethod.IMPORT),
        headers=(("anthropic-version", "2023-06-01"),),
        quirks=frozenset({Quirk.TEXT_ONLY}),
        default_model="MiniMax-M2.7",
        docs_url="https://platform.minimax.io/docs/guides/quickstart",
    ),
    Provider(
        id="minimax-portal-cn",
        name="MiniMax Coding Plan (OAuth, China)",
        family=ApiFamily.ANTHROPIC_MESSAGES,
        base_url="https://api.minimaxi.com/anthropic/v1",
        aliases=("minimax-oauth-cn",),
        logins=(LoginMethod.DEVICE,),
        headers=(("anthropic-version", "2023-06-01"),),
        quirks=frozenset({Quirk.TEXT_ONLY}),
        default_model="MiniMax-M2.7",
    ),
    Provider(
        id="openai-codex",
        name="OpenAI Codex (ChatGPT subscription)",
        family=ApiFamily.OPENAI_CODEX_RESPONSES,
        # openclaw's https://api.openai.com/v1 is the platform API, which ChatGPT tokens
        # cannot call; every real client posts to the ChatGPT backend.
        base_url="https://chatgpt.com/backend-api/codex",
        env_keys=("CODEX_ACCESS_TOKEN", "CODEX_CODE_OAUTH_TOKEN"),
        aliases=("openai_codex", "codex", "codex_responses"),
        logins=(LoginMethod.BROWSER, LoginMethod.DEVICE, LoginMethod.PASTE, LoginMethod.IMPORT),
        # What every Codex client sends besides the account and session (oauth-flows.md 3.2);
        # the originator is our own name, as the login's is.
        headers=(("originator", "switchboard"), ("OpenAI-Beta", "responses=experimental")),
        quirks=frozenset({Quirk.NO_MODELS_ENDPOINT}),
        docs_url="https://github.com/openai/codex",
    ),
    Provider(
        id="qwen-portal",
        name="Qwen Code (OAuth)",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # Or https://<resource_url>/v1 from the token. The free OAuth tier was discontinued
        # on 2026-04-15; the flow stays for accounts that still work.
        base_url="https://portal.qwen.ai/v1",
        aliases=("qwen_oauth",),
        bridge=BridgeHint(site="qwen", website_url="https://chat.qwen.ai"),
        logins=(LoginMethod.DEVICE, LoginMethod.IMPORT),
        # Qwen Code's own headers (oauth-flows.md 3.5); AuthType marks the token as an OAuth
        # token rather than a DashScope key.
        headers=(
            ("X-DashScope-AuthType", "qwen-oauth"),
            ("X-DashScope-CacheControl", "enable"),
            ("User-Agent", "QwenCode/0.24.4 (linux; x64)"),
            ("X-DashScope-UserAgent", "QwenCode/0.24.4 (linux; x64)"),
        ),
        quirks=frozenset({Quirk.NO_MODELS_ENDPOINT}),  # the portal lists no models
    ),
    # Clouds that need a tenant (project, resource, region).
    Provider(
        id="amazon-bedrock",
        name="Amazon Bedrock",
        family=ApiFamily.BEDROCK_CONVERSE,
        # us-east-1, the AWS SDK fallback; [providers.amazon-bedrock] base_url picks another.
        base_url="https://bedrock-runtime.us-east-1.amazonaws.com",
        auth=AuthStyle.AWS_SIGV4,
        # A Bedrock API key (bearer). SigV4 credentials come from the AWS chain
        # (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY [+ AWS_SESSION_TOKEN], AWS_PROFILE),
        # a multi-part credential that env_keys cannot express.
        env_keys=("AWS_BEARER_TOKEN_BEDROCK",),
        key_optional=True,  # without a Bedrock key the adapter signs with the AWS chain
        aliases=("bedrock", "aws-bedrock", "bedrock_converse"),
        logins=(LoginMethod.API_KEY,),
        quirks=frozenset({Quirk.NO_MODELS_ENDPOINT}),  # listing is on the control plane
        default_model="anthropic.claude-sonnet-4-6",
        docs_url="https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html",
    ),
    Provider(
        id="azure-openai",
        name="Azure OpenAI",
        family=ApiFamily.AZURE_OPENAI,
        # Per tenant: config `resource = "myres"` builds the base URL from the template, or
        # base_url sets it outright (a custom domain, an API gateway). The model is the
        # deployment name; the adapter adds /deployments/{model}/chat/completions?api-version=.
        base_url=None,
        base_url_template="https://{resource}.openai.azure.com/openai",
        auth=AuthStyle.API_KEY,
        env_keys=("AZURE_OPENAI_API_KEY",),
        aliases=("azure", "azure-openai-service", "azure-cognitive-services"),
        logins=(LoginMethod.API_KEY,),
        # o-series deployments require max_completion_tokens and every current api-version
        # accepts it for all models. The data plane's GET /models lists base models, not
        # deployments (those are on the control plane): model names come from config.
        quirks=frozenset(
            {Quirk.NEEDS_CONFIG, Quirk.MAX_COMPLETION_TOKENS, Quirk.NO_MODELS_ENDPOINT}
        ),
        docs_url="https://learn.microsoft.com/azure/ai-foundry/openai/latest",
    ),
    Provider(
        id="bedrock-mantle",
        name="Amazon Bedrock Mantle (OpenAI-compatible)",
        # llmadapter's bedrock_responses (/v1/responses) and bedrock_messages
        # (/anthropic/v1/messages) endpoints; Responses is the row's family.
        family=ApiFamily.OPENAI_RESPONSES,
        base_url="https://bedrock-mantle.us-east-1.api.aws/v1",
        env_keys=("BEDROCK_API_KEY", "AWS_BEARER_TOKEN_BEDROCK"),
        aliases=("bedrock_responses", "bedrock_messages"),
        logins=(LoginMethod.API_KEY,),
        default_model="openai.gpt-oss-120b",
        docs_url="https://docs.aws.amazon.com/bedrock/latest/userguide/bedrock-mantle.html",
    ),
    Provider(
        id="gitlab",
        name="GitLab Duo",
        # No family fits exactly: Duo's AI gateway proxies OpenAI and Anthropic shapes behind
        # a direct-access token minted from GITLAB_TOKEN; the instance URL is per user.
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url=None,
        env_keys=("GITLAB_TOKEN", "GITLAB_API_KEY"),
        aliases=("gitlab-duo",),
        logins=(LoginMethod.API_KEY,),
        quirks=frozenset({Quirk.NEEDS_CONFIG, Quirk.TEXT_ONLY}),
        docs_url="https://docs.gitlab.com/user/duo_agent_platform/",
    ),
    Provider(
        id="google-vertex-anthropic",
        name="Claude on Vertex AI",
        # Anthropic publisher models on Vertex (:rawPredict / :streamRawPredict with the
        # Messages body); ANTHROPIC_PUBLISHER tells the google-vertex adapter to use that path.
        # pi defers it as a separate high-risk surface. URL and auth as on vertex-ai below.
        family=ApiFamily.GOOGLE_VERTEX,
        base_url=None,
        base_url_template=(
            "https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}"
        ),
        auth=AuthStyle.X_GOOG_API_KEY,
        env_keys=("GOOGLE_CLOUD_API_KEY", "VERTEX_API_KEY"),
        key_optional=True,
        logins=(LoginMethod.API_KEY,),
        quirks=frozenset({Quirk.NEEDS_CONFIG, Quirk.NO_MODELS_ENDPOINT, Quirk.ANTHROPIC_PUBLISHER}),
        docs_url="https://cloud.google.com/vertex-ai/generative-ai/docs/partner-models/use-claude",
    ),
    Provider(
        id="sap-ai-core",
        name="SAP AI Core",
        # OpenAI-shaped deployments behind an OAuth2 client-credentials token from the
        # service key (AICORE_SERVICE_KEY); that exchange is not an AuthStyle yet.
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url=None,
        aliases=("sap",),
        logins=(LoginMethod.API_KEY,),
        quirks=frozenset({Quirk.NEEDS_CONFIG}),
        docs_url="https://help.sap.com/docs/sap-ai-core",
    ),
    Provider(
        id="vertex-ai",
        name="Google Vertex AI",
        family=ApiFamily.GOOGLE_VERTEX,
        base_url=None,
        # Filled from [providers.<id>] project + location. The "global" location has no regional
        # host, so set base_url instead:
        #   https://aiplatform.googleapis.com/v1/projects/P/locations/global
        # and for express-mode API keys, which need no project: https://aiplatform.googleapis.com/v1
        # (the adapter appends /publishers/{google|anthropic}/models/{model}:{method}).
        base_url_template=(
            "https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}"
        ),
        # Usually an OAuth access token minted by the adapter from a service-account key file
        # (credentials_file, else GOOGLE_APPLICATION_CREDENTIALS). An express-mode API key
        # from env_keys, config or the vault goes as x-goog-api-key instead. key_optional:
        # with no API key resolve() yields None and the adapter requires the service account.
        auth=AuthStyle.X_GOOG_API_KEY,
        env_keys=("GOOGLE_CLOUD_API_KEY", "VERTEX_API_KEY"),
        aliases=("vertex", "google-vertex", "vertexai"),
        key_optional=True,
        logins=(LoginMethod.API_KEY,),
        # Publisher models have no list under the project URL; models.list gives config hints.
        quirks=frozenset({Quirk.NEEDS_CONFIG, Quirk.NO_MODELS_ENDPOINT}),
        docs_url="https://cloud.google.com/vertex-ai/generative-ai/docs",
    ),
    # China platforms and their regional / coding-plan variants.
    Provider(
        id="alibaba",
        name="Alibaba Cloud Model Studio (DashScope, international)",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # International endpoint (pi); SmartopolAI's qwen row used the CN host, which is
        # the alibaba-cn row.
        base_url="https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        env_keys=("DASHSCOPE_API_KEY", "QWEN_API_KEY"),
        aliases=("dashscope", "qwen"),
        # Without a key, "qwen" is chat.qwen.ai's guest mode (the same models, other terms).
        bridge=BridgeHint(site="qwen", website_url="https://chat.qwen.ai"),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://www.alibabacloud.com/help/en/model-studio/models",
    ),
    Provider(
        id="alibaba-cn",
        name="Alibaba Cloud Bailian (DashScope, China)",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://dashscope.aliyuncs.com/compatible-mode/v1",
        env_keys=("DASHSCOPE_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="bailing",
        name="Ant Group Bailing (Ling)",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.tbox.cn/api/llm/v1",
        env_keys=("BAILING_API_TOKEN",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://alipaytbox.yuque.com/sxs0ba/ling/intro",
    ),
    Provider(
        id="byteplus",
        name="BytePlus ModelArk",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # BytePlus documents the Ark host; openclaw's https://api.byteplus.com/v1 is not an
        # inference endpoint.
        base_url="https://ark.ap-southeast.bytepluses.com/api/v3",
        # ARK_API_KEY second: the same name holds Volcengine (China) keys, which BytePlus
        # (a separate region and account) rejects.
        env_keys=("BYTEPLUS_API_KEY", "ARK_API_KEY"),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.byteplus.com/en/docs/ModelArk/1330626",
    ),
    Provider(
        id="iflowcn",
        name="iFlow",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://apis.iflow.cn/v1",
        env_keys=("IFLOW_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://platform.iflow.cn/en/docs",
    ),
    Provider(
        id="minimax",
        name="MiniMax",
        # pi's Anthropic-compatible route; llmadapter's minimax_chat (OpenAI-compatible,
        # https://api.minimax.io/v1) resolves here too. SmartopolAI's
        # https://api.minimax.chat/v1/text/chatcompletion_v2 is the retired legacy API.
        family=ApiFamily.ANTHROPIC_MESSAGES,
        base_url="https://api.minimax.io/anthropic/v1",
        auth=AuthStyle.X_API_KEY,
        env_keys=("MINIMAX_API_KEY", "MINIMAX_KEY"),
        aliases=("minimax_messages", "minimax_chat"),
        logins=(LoginMethod.API_KEY,),
        headers=(("anthropic-version", "2023-06-01"),),
        quirks=frozenset({Quirk.TEXT_ONLY}),
        default_model="MiniMax-M2.7",
        docs_url="https://platform.minimax.io/docs/guides/quickstart",
    ),
    Provider(
        id="minimax-cn",
        name="MiniMax (China)",
        family=ApiFamily.ANTHROPIC_MESSAGES,
        base_url="https://api.minimaxi.com/anthropic/v1",
        auth=AuthStyle.X_API_KEY,
        env_keys=("MINIMAX_CN_API_KEY",),
        aliases=("minimaxi",),
        logins=(LoginMethod.API_KEY,),
        headers=(("anthropic-version", "2023-06-01"),),
        quirks=frozenset({Quirk.TEXT_ONLY}),
        default_model="MiniMax-M2.7",
    ),
    Provider(
        id="minimax-cn-coding-plan",
        name="MiniMax Coding Plan (China)",
        family=ApiFamily.ANTHROPIC_MESSAGES,
        base_url="https://api.minimaxi.com/anthropic/v1",
        auth=AuthStyle.X_API_KEY,
        env_keys=("MINIMAX_CN_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        headers=(("anthropic-version", "2023-06-01"),),
        quirks=frozenset({Quirk.TEXT_ONLY}),
        default_model="MiniMax-M2.7",
    ),
    Provider(
        id="minimax-coding-plan",
        name="MiniMax Coding Plan",
        family=ApiFamily.ANTHROPIC_MESSAGES,
        base_url="https://api.minimax.io/anthropic/v1",
        auth=AuthStyle.X_API_KEY,
        env_keys=("MINIMAX_API_KEY", "MINIMAX_KEY"),
        logins=(LoginMethod.API_KEY,),
        headers=(("anthropic-version", "2023-06-01"),),
        quirks=frozenset({Quirk.TEXT_ONLY}),
        default_model="MiniMax-M2.7",
    ),
    Provider(
        id="moark",
        name="Moark",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://moark.com/v1",
        env_keys=("MOARK_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="modelscope",
        name="ModelScope",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api-inference.modelscope.cn/v1",
        env_keys=("MODELSCOPE_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://modelscope.cn/docs/model-service/API-Inference/intro",
    ),
    Provider(
        id="moonshotai",
        name="Moonshot AI (Kimi)",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # International host (openclaw, pi); SmartopolAI's api.moonshot.cn is moonshotai-cn.
        base_url="https://api.moonshot.ai/v1",
        # Not pi's KIMI_API_KEY fallback: that name holds Kimi Code keys (kimi-coding),
        # which the Moonshot platform rejects.
        env_keys=("MOONSHOT_API_KEY",),
        aliases=("moonshot", "kimi"),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://platform.moonshot.ai/docs",
    ),
    Provider(
        id="moonshotai-cn",
        name="Moonshot AI (China)",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.moonshot.cn/v1",
        env_keys=("MOONSHOT_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="qianfan",
        name="Baidu Qianfan",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://qianfan.baidubce.com/v2",
        env_keys=("QIANFAN_API_KEY",),
        aliases=("baidu",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://cloud.baidu.com/doc/qianfan/s/Hmh4suq26",
    ),
    Provider(
        id="siliconflow",
        name="SiliconFlow",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # The international host (pi); openclaw's api.siliconflow.cn is siliconflow-cn.
        base_url="https://api.siliconflow.com/v1",
        env_keys=("SILICONFLOW_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.siliconflow.com",
    ),
    Provider(
        id="siliconflow-cn",
        name="SiliconFlow (China)",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.siliconflow.cn/v1",
        env_keys=("SILICONFLOW_CN_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="volcengine",
        name="Volcengine Ark (Doubao)",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://ark.cn-beijing.volces.com/api/v3",
        env_keys=("ARK_API_KEY",),
        aliases=("doubao", "ark"),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://www.volcengine.com/docs/82379/1330310",
    ),
    Provider(
        id="zai",
        name="Z.ai",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # docs.z.ai's path; openclaw's https://api.z.ai/v1 and SmartopolAI's api.z.ai + /v1
        # do not match Z.ai's documentation.
        base_url="https://api.z.ai/api/paas/v4",
        # ZHIPU_API_KEY last: pi shares it across Z.ai and BigModel, whose accounts differ.
        env_keys=("ZAI_API_KEY", "Z_AI_API_KEY", "ZHIPU_API_KEY"),
        aliases=("z.ai",),
        bridge=BridgeHint(site="zai", website_url="https://chat.z.ai"),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.z.ai",
    ),
    Provider(
        id="zai-coding-plan",
        name="Z.ai GLM Coding Plan",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.z.ai/api/coding/paas/v4",  # coding-plan keys work only here
        env_keys=("ZAI_API_KEY", "Z_AI_API_KEY", "ZHIPU_API_KEY"),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.z.ai/devpack/quick-start",
    ),
    Provider(
        id="zhipuai",
        name="Zhipu AI BigModel",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://open.bigmodel.cn/api/paas/v4",
        env_keys=("ZHIPUAI_API_KEY", "BIGMODEL_API_KEY", "ZHIPU_API_KEY"),
        aliases=("glm", "zhipu", "bigmodel"),
        bridge=BridgeHint(site="zai", website_url="https://chat.z.ai"),
        # import: opencode's auth.json "zhipuai" entry.
        logins=(LoginMethod.API_KEY, LoginMethod.IMPORT),
        docs_url="https://docs.bigmodel.cn",
    ),
    Provider(
        id="zhipuai-coding-plan",
        name="Zhipu AI GLM Coding Plan",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://open.bigmodel.cn/api/coding/paas/v4",
        env_keys=("ZHIPUAI_API_KEY", "BIGMODEL_API_KEY", "ZHIPU_API_KEY"),
        aliases=("zhipuai-coding",),
        bridge=BridgeHint(site="zai", website_url="https://chat.z.ai"),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.bigmodel.cn/cn/coding-plan/overview",
    ),
    # Inference clouds (open-weight models).
    Provider(
        id="baseten",
        name="Baseten",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://inference.baseten.co/v1",
        env_keys=("BASETEN_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.baseten.co/inference/model-apis/overview",
    ),
    Provider(
        id="berget",
        name="Berget AI",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.berget.ai/v1",
        env_keys=("BERGET_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.berget.ai",
    ),
    Provider(
        id="cerebras",
        name="Cerebras",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.cerebras.ai/v1",
        env_keys=("CEREBRAS_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://inference-docs.cerebras.ai",
    ),
    Provider(
        id="chutes",
        name="Chutes",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://llm.chutes.ai/v1",
        env_keys=("CHUTES_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://chutes.ai/docs",
    ),
    Provider(
        id="cloudflare-workers-ai",
        name="Cloudflare Workers AI",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url=None,  # https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1
        env_keys=("CLOUDFLARE_API_KEY", "CLOUDFLARE_API_TOKEN"),
        logins=(LoginMethod.API_KEY,),
        quirks=frozenset({Quirk.NEEDS_CONFIG}),
        docs_url="https://developers.cloudflare.com/workers-ai/",
    ),
    Provider(
        id="cortecs",
        name="Cortecs",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.cortecs.ai/v1",
        env_keys=("CORTECS_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="deepinfra",
        name="DeepInfra",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.deepinfra.com/v1/openai",
        env_keys=("DEEPINFRA_API_KEY", "DEEPINFRA_TOKEN"),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://deepinfra.com/docs/openai_api",
    ),
    Provider(
        id="featherless",
        name="Featherless AI",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.featherless.ai/v1",
        env_keys=("FEATHERLESS_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="fireworks",
        name="Fireworks AI",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.fireworks.ai/inference/v1",
        env_keys=("FIREWORKS_API_KEY",),
        aliases=("fireworks-ai",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.fireworks.ai/tools-sdks/openai-compatibility",
    ),
    Provider(
        id="friendli",
        name="Friendli",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.friendli.ai/serverless/v1",
        env_keys=("FRIENDLI_TOKEN",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://friendli.ai/docs/guides/serverless_endpoints/introduction",
    ),
    Provider(
        id="huggingface",
        name="Hugging Face Inference Providers",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # The router Hugging Face documents today; openclaw's api-inference.huggingface.co
        # is the retired serverless Inference API.
        base_url="https://router.huggingface.co/v1",
        env_keys=("HF_TOKEN",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://huggingface.co/docs/inference-providers",
    ),
    Provider(
        id="hyperbolic",
        name="Hyperbolic",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.hyperbolic.xyz/v1",
        env_keys=("HYPERBOLIC_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="inference-net",
        name="Inference.net",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.inference.net/v1",
        env_keys=("INFERENCE_API_KEY",),
        aliases=("inference",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://inference.net/models",
    ),
    Provider(
        id="io-net",
        name="IO.NET Intelligence",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.intelligence.io.solutions/api/v1",
        env_keys=("IOINTELLIGENCE_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://io.net/docs/guides/intelligence/io-intelligence",
    ),
    Provider(
        id="lepton",
        name="Lepton AI (NVIDIA DGX Cloud Lepton)",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # SmartopolAI's shared https://llm.lepton.ai/api/v1 predates NVIDIA's takeover; DGX
        # Cloud Lepton documents per-workspace dedicated endpoints only.
        base_url=None,
        logins=(LoginMethod.API_KEY,),
        quirks=frozenset({Quirk.NEEDS_CONFIG}),
        docs_url="https://docs.nvidia.com/dgx-cloud/lepton/",
    ),
    Provider(
        id="lucidquery",
        name="LucidQuery",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.lucidquery.com/v1",
        env_keys=("LUCIDQUERY_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://lucidquery.com/docs",
    ),
    Provider(
        id="morph",
        name="Morph",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.morphllm.com/v1",
        env_keys=("MORPH_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.morphllm.com/api-reference/introduction",
    ),
    Provider(
        id="nebius",
        name="Nebius Token Factory",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # Nebius AI Studio became Token Factory; openclaw's api.studio.nebius.com is the old
        # host, pi's tokenfactory host is the one documented now.
        base_url="https://api.tokenfactory.nebius.com/v1",
        env_keys=("NEBIUS_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.tokenfactory.nebius.com/",
    ),
    Provider(
        id="novita",
        name="Novita AI",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # Novita's current OpenAI path; openclaw and SmartopolAI use the older /v3/openai.
        base_url="https://api.novita.ai/openai",
        env_keys=("NOVITA_API_KEY",),
        aliases=("novita-ai",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://novita.ai/docs/guides/introduction",
    ),
    Provider(
        id="nvidia",
        name="NVIDIA NIM",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://integrate.api.nvidia.com/v1",
        env_keys=("NVIDIA_API_KEY",),
        aliases=("nvidia-nim",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.api.nvidia.com/nim/reference/llm-apis",
    ),
    Provider(
        id="ollama-cloud",
        name="Ollama Cloud",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://ollama.com/v1",
        env_keys=("OLLAMA_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.ollama.com/cloud",
    ),
    Provider(
        id="ovhcloud",
        name="OVHcloud AI Endpoints",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://oai.endpoints.kepler.ai.cloud.ovh.net/v1",
        env_keys=("OVHCLOUD_API_KEY", "OVH_AI_ENDPOINTS_ACCESS_TOKEN"),
        aliases=("ovh",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://www.ovhcloud.com/en/public-cloud/ai-endpoints/",
    ),
    Provider(
        id="sambanova",
        name="SambaNova Cloud",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.sambanova.ai/v1",
        env_keys=("SAMBANOVA_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.sambanova.ai/docs",
    ),
    Provider(
        id="scaleway",
        name="Scaleway Generative APIs",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.scaleway.ai/v1",
        env_keys=("SCALEWAY_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://www.scaleway.com/en/docs/generative-apis/",
    ),
    Provider(
        id="submodel",
        name="SubModel InstaGen",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://llm.submodel.ai/v1",
        env_keys=("SUBMODEL_INSTAGEN_ACCESS_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://submodel.gitbook.io",
    ),
    Provider(
        id="synthetic",
        name="Synthetic",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.synthetic.new/openai/v1",
        env_keys=("SYNTHETIC_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="together",
        name="Together AI",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.together.xyz/v1",
        env_keys=("TOGETHER_API_KEY", "TOGETHER_AI_API_KEY"),
        aliases=("togetherai", "together-ai"),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.together.ai/docs/openai-api-compatibility",
    ),
    Provider(
        id="venice",
        name="Venice AI",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.venice.ai/api/v1",
        env_keys=("VENICE_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.venice.ai",
    ),
    Provider(
        id="vultr",
        name="Vultr Serverless Inference",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.vultrinference.com/v1",
        env_keys=("VULTR_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="wandb",
        name="Weights & Biases Inference",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.inference.wandb.ai/v1",
        env_keys=("WANDB_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.wandb.ai/guides/integrations/inference/",
    ),
    # Gateways and routers (many upstream labs behind one key).
    Provider(
        id="302ai",
        name="302.AI",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # models.dev names the variable 302AI_API_KEY, which no shell can export (it starts
        # with a digit); keys come from the vault or config.
        base_url="https://api.302.ai/v1",
        logins=(LoginMethod.API_KEY,),
        docs_url="https://doc.302.ai",
    ),
    Provider(
        id="abacus",
        name="Abacus.AI RouteLLM",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://routellm.abacus.ai/v1",
        env_keys=("ABACUS_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://abacus.ai/help/api",
    ),
    Provider(
        id="aihubmix",
        name="AIHubMix",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://aihubmix.com/v1",
        env_keys=("AIHUBMIX_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.aihubmix.com",
    ),
    Provider(
        id="aimlapi",
        name="AI/ML API",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.aimlapi.com/v1",
        env_keys=("AIMLAPI_API_KEY", "AIML_API_KEY"),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.aimlapi.com/",
    ),
    Provider(
        id="astrai",
        name="Astrai",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://as-trai.com/v1",
        env_keys=("ASTRAI_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="bifrost",
        name="Bifrost (Maxim)",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url=None,  # self-hosted gateway
        aliases=("maxim-bifrost", "bifrost-maxim"),
        key_optional=True,  # Bifrost serves without auth unless configured
        logins=(LoginMethod.API_KEY,),
        quirks=frozenset({Quirk.NEEDS_CONFIG}),
        docs_url="https://docs.getbifrost.ai",
    ),
    Provider(
        id="cloudflare-ai-gateway",
        name="Cloudflare AI Gateway",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url=None,  # https://gateway.ai.cloudflare.com/v1/{account_id}/{gateway_id}/compat
        env_keys=("CLOUDFLARE_API_TOKEN",),
        # zeroclaw's "cloudflare" is its AI Gateway provider.
        aliases=("cloudflare", "cloudflare-ai"),
        logins=(LoginMethod.API_KEY,),
        quirks=frozenset({Quirk.NEEDS_CONFIG}),
        docs_url="https://developers.cloudflare.com/ai-gateway/",
    ),
    Provider(
        id="corethink",
        name="CoreThink",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.corethink.ai/v1",
        env_keys=("CORETHINK_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="fastrouter",
        name="FastRouter",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://go.fastrouter.ai/api/v1",
        env_keys=("FASTROUTER_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://fastrouter.ai/models",
    ),
    Provider(
        id="firmware",
        name="Firmware",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://app.firmware.ai/api/v1",
        env_keys=("FIRMWARE_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="github-models",
        name="GitHub Models",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # openclaw needs config for it; GitHub documents this inference host.
        base_url="https://models.github.ai/inference",
        env_keys=("GITHUB_TOKEN",),
        aliases=("github-model",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.github.com/en/github-models",
    ),
    Provider(
        id="glama",
        name="Glama Gateway",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # Glama's current gateway docs; SmartopolAI's glama.ai/api + /v1 matches neither of
        # the hosts Glama has documented.
        base_url="https://gateway.glama.ai/v1",
        env_keys=("GLAMA_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://glama.ai/ai/gateway/docs/api",
    ),
    Provider(
        id="helicone",
        name="Helicone AI Gateway",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://ai-gateway.helicone.ai/v1",
        env_keys=("HELICONE_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.helicone.ai",
    ),
    Provider(
        id="jiekou",
        name="Jiekou.AI",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.jiekou.ai/openai",
        env_keys=("JIEKOU_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="nano-gpt",
        name="NanoGPT",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://nano-gpt.com/api/v1",
        env_keys=("NANO_GPT_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.nano-gpt.com",
    ),
    Provider(
        id="opencode",
        name="OpenCode Zen",
        # Model-dependent shape behind one key; chat/completions serves the open models and
        # is what openclaw and pi route through.
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://opencode.ai/zen/v1",
        env_keys=("OPENCODE_API_KEY", "OPENCODE_ZEN_API_KEY"),
        aliases=("opencode-zen",),
        key_optional=True,  # openclaw: Zen's free models answer without a key
        # import: opencode's auth.json "opencode" entry.
        logins=(LoginMethod.API_KEY, LoginMethod.IMPORT),
        docs_url="https://opencode.ai/docs/zen",
    ),
    Provider(
        id="openrouter",
        name="OpenRouter",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://openrouter.ai/api/v1",
        env_keys=("OPENROUTER_API_KEY", "OPENROUTER_KEY"),
        # llmadapter's three OpenRouter endpoints; chat completions is the row's family.
        aliases=("openrouter_chat", "openrouter_responses", "openrouter_messages"),
        logins=(LoginMethod.API_KEY,),
        default_model="openai/gpt-4.1-mini",
        docs_url="https://openrouter.ai/docs",
    ),
    Provider(
        id="poe",
        name="Poe",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.poe.com/v1",
        env_keys=("POE_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://creator.poe.com/docs/external-applications/openai-compatible-api",
    ),
    Provider(
        id="requesty",
        name="Requesty",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://router.requesty.ai/v1",
        env_keys=("REQUESTY_API_KEY",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="shareai",
        name="ShareAI",
        family=ApiFamily.OPENAI_COMPLETIONS,
        # openclaw leaves it to config; ShareAI's published chat endpoint lives here.
        base_url="https://api.shareai.now/api/v1",
        aliases=("share-ai",),
        logins=(LoginMethod.API_KEY,),
    ),
    Provider(
        id="vercel-ai-gateway",
        name="Vercel AI Gateway",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://ai-gateway.vercel.sh/v1",
        env_keys=("AI_GATEWAY_API_KEY",),
        # vercel: pi and zeroclaw's id; v0 is Vercel's separate row.
        aliases=("vercel", "vercel-ai", "ai-gateway"),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://vercel.com/docs/ai-gateway/sdks-and-apis/openai-compat",
    ),
    Provider(
        id="vivgrid",
        name="Vivgrid",
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://api.vivgrid.com/v1",
        env_keys=("VIVGRID_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.vivgrid.com/models",
    ),
    Provider(
        id="zenmux",
        name="ZenMux",
        # ZenMux serves OpenAI and Anthropic shapes; pi targeted /api/anthropic, models.dev
        # now registers the OpenAI endpoint, which reaches every routed lab.
        family=ApiFamily.OPENAI_COMPLETIONS,
        base_url="https://zenmux.ai/api/v1",
        env_keys=("ZENMUX_API_KEY",),
        logins=(LoginMethod.API_KEY,),
        docs_url="https://docs.zenmux.ai",
    ),
)
