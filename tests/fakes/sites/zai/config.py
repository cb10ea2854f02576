"""The mock chat.z.ai's knobs (:class:`ZaiConfig`), models, scenarios and validation steps.

Scenarios (``POST /__mock__/scenario``, reference §5.5) and the requests they apply to; ``times``
counts those requests (None: all until reset):

==========================  ==================================================================
``expired_guest_token``     at once: every guest known now is forgotten (chats/new and
                            completions answer 401; ``GET /api/v1/auths/`` with the stale bearer
                            mints a new guest)
``guest_minting_refused``   ``/api/v1/auths/`` answers 403 ``{"detail"}``
``signature_mismatch``      completions: the server signs with a rotated key → 400
``stale_fe_version``        at once: the current build becomes ``params.fe_version`` (default
                            the next patch); an old page's completions get 405 WAF (``params.mode``
                            ``"426"``: 426 JSON)
``captcha_missing``         completions: SSE ``FRONTEND_CAPTCHA_REQUIRED`` ``missing_param``
``captcha_invalid``         completions: the same with ``verify_failed`` / ``F003``
``captcha_challenge``       captcha issues: the widget shows the checkbox popup
``waf_block``               completions: 405 Aliyun HTML
``ip_block``                every request outside /__mock__/ (pages unless ``params.pages`` is
                            false): 405 Aliyun HTML
``rate_limited``            completions: 429 ``{"detail"}`` (``params.retry_after_s`` adds
                            Retry-After)
``model_forbidden``         completions: SSE "user level" error frame
``http_401`` … ``http_503``  completions: that status, JSON ``{"detail"}`` (HTML for 502/503, or
                            ``params.html``)
``malformed_stream``        completions: ``params.variant`` one of :data:`STREAM_VARIANTS`
``stall``                   completions: no bytes after ``params.after_frames`` (2) frames for
                            ``params.ms`` (an hour)
``abort``                   completions: TCP reset after ``params.after_frames`` (2) frames
``layout_change``           page loads: the §5.5 changed DOM
``login_wall``              page loads: 302 to ``/auth`` (a sign-in page without the input)
``slow_hydration``          ``/api/models``: answered after ``params.ms`` (3000), so the input
                            appears late
==========================  ==================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tests.fakes.sites.common import SiteConfig, StepMode

SIGNING_KEY = "key-@@@@)))()((9))-xxxx&&&%%%%%"
ROTATED_KEY = "key-rotated-by-the-site"  # what signature_mismatch signs with


@dataclass(frozen=True, slots=True)
class ZaiModel:
    """One row of ``/api/models``; ``guest`` says whether a guest may chat with it."""

    id: str
    name: str
    guest: bool
    reasoning_effort: bool = False
    description: str = ""


DEFAULT_MODELS = (
    ZaiModel("x-preview-l", "GLM-5.3-Flash", guest=True, description="Fast preview model"),
    ZaiModel("glm-5.2", "GLM-5.2", guest=False, reasoning_effort=True, description="Flagship"),
    ZaiModel("glm-4.7", "GLM-4.7", guest=True, description="Guest default"),
)


class ZaiScenario(StrEnum):
    EXPIRED_GUEST_TOKEN = "expired_guest_token"
    GUEST_MINTING_REFUSED = "guest_minting_refused"
    SIGNATURE_MISMATCH = "signature_mismatch"
    STALE_FE_VERSION = "stale_fe_version"
    CAPTCHA_MISSING = "captcha_missing"
    CAPTCHA_INVALID = "captcha_invalid"
    CAPTCHA_CHALLENGE = "captcha_challenge"
    WAF_BLOCK = "waf_block"
    IP_BLOCK = "ip_block"
    RATE_LIMITED = "rate_limited"
    MODEL_FORBIDDEN = "model_forbidden"
    HTTP_401 = "http_401"
    HTTP_403 = "http_403"
    HTTP_429 = "http_429"
    HTTP_500 = "http_500"
    HTTP_502 = "http_502"
    HTTP_503 = "http_503"
    MALFORMED_STREAM = "malformed_stream"
    STALL = "stall"
    ABORT = "abort"
    LAYOUT_CHANGE = "layout_change"
    LOGIN_WALL = "login_wall"
    SLOW_HYDRATION = "slow_hydration"


HTTP_SCENARIOS = {
    ZaiScenario.HTTP_401: 401,
    ZaiScenario.HTTP_403: 403,
    ZaiScenario.HTTP_429: 429,
    ZaiScenario.HTTP_500: 500,
    ZaiScenario.HTTP_502: 502,
    ZaiScenario.HTTP_503: 503,
}

#: ``malformed_stream`` variants (§5.5): what each does to the stream
STREAM_VARIANTS = {
    "invalid_json": "a frame whose JSON does not parse, among the answer frames",
    "crlf": "CRLF line endings",
    "split_utf8": "frames cut inside multi-byte characters",
    "unknown_events": "chat:title, chat:tags, notification, conn:heartbeat, status and an "
    "unknown type between the frames",
    "html_content_type": "the SSE body served as text/html",
    "missing_terminator": "EOF without the done frame",
    "duplicate_done": "data: [DONE] twice after the done frame",
    "usage_before_last": "the usage frame before the last answer frame (as always)",
    "user_echo": 'a role:"user" answer-phase echo of the prompt',
}


class Step(StrEnum):
    """The completion's validation steps (§5.2), in order; each is strict|warn|off."""

    SCENARIO = "scenario"  # http_* scenarios
    WAF = "waf"
    AUTH = "auth"
    QUERY = "query"
    SIGNATURE = "signature"
    CHAT = "chat"
    HISTORY = "history"  # parent ids chain to the chat's last assistant message
    MODEL = "model"
    CAPTCHA = "captcha"
    RATE = "rate"


#: the history check's verdict is recorded, the request is not refused (real behaviour unknown)
DEFAULT_MODES = {Step.HISTORY.value: StepMode.WARN}


@dataclass(frozen=True, kw_only=True)
class ZaiConfig(SiteConfig):
    """The mock chat.z.ai's knobs (§5.2, §5.4); every one is a keyword of ``running_zai``."""

    title: str = "Z.ai - Free AI Chatbot & Agent powered by GLM-5 & GLM-4.7"
    fe_version: str = "prod-fe-1.1.98"
    models: tuple[ZaiModel, ...] = DEFAULT_MODELS
    default_model: str = "glm-4.7"
    enable_captcha: bool = True
    captcha_ttl_s: float = 60.0
    guest_ttl_s: float | None = None  # None: guest sessions never expire
    jwt_secret: str = "mock-zai-jwt-secret"
    signature_key: str = SIGNING_KEY
    sig_window_s: float = 300.0
    sig_accept_stripped: bool = False  # also accept the signature over the trimmed prompt
    waf_on_stale_fe: bool = True
    stale_fe_mode: str = "405"  # or "426"
    strict_fingerprint: bool = True  # all 34 query parameters required
    require_device_id: bool = True
    max_inflight_per_user: int = 1
    ip_block_after: int | None = None  # completions per window before the whole IP is blocked
    ip_block_window_s: float = 60.0
    ip_block_s: float = 600.0
    ip_block_pages: bool = True
    thinking_style: str = "plain"  # or "legacy_details"
    noise_events: bool = False
    deep_search: bool = False

    def model(self, model_id: str) -> ZaiModel | None:
        return next((m for m in self.models if m.id == model_id), None)
