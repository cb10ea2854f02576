"""The mock chat.qwen.ai's scenarios (reference §5.5, the Qwen and "both" rows).

``POST /__mock__/scenario {"name", "params", "times"}`` switches one on; ``times`` counts the
requests it applied to (None: all until reset); a scenario that does not fire (the page
already solved the WAF challenge, the browser already solved the slider) spends nothing.
Params are checked: an unknown name, param or value is a 400 naming what is wrong.

=======================  ======================================================================
``waf_js_challenge``     completions (and page loads unless ``params.pages`` is false) without
                         a solved ``acw_sc__v2`` cookie: 200 HTML ``aliyun_waf_aa`` challenge
                         whose script sets the cookie and reloads; ``params.persistent``: even
                         with the cookie (after three reloads the page shows the visible
                         "Verification" slider)
``punish``               completions: the ``FAIL_SYS_USER_VALIDATE`` punish body until the
                         browser solves the slider (its ``x5sec`` cookie then passes)
``bad_request_headers``  completions: ``Bad_Request`` envelope, ``x-actual-status-code: 400``
``chat_in_progress``     completions: ``Bad_Request`` "The chat is in progress!"
``rate_limited``         completions: ``RateLimited`` envelope (``x-actual-status-code: 429``);
                         ``params.sse``: a stream with an in-stream ``Too_Many_Requests`` error
``model_forbidden``      completions: the empty completion (``response.created``, ``finished``)
``model_refused``        completions: ``{"success":false,"data":{"code":"Forbidden"}}``
``http_401`` … ``_503``  completions (every path outside /__mock__/ with ``params.on`` "all"):
                         that status; ``params.body`` "json" (the envelope) or "html" (gateway
                         page); 429/503 carry ``Retry-After: params.retry_after`` (30)
``malformed_stream``     completions: ``params.variant``, one of :class:`Malformed`
``stall``                completions: no bytes after ``params.after_frames`` (1) frames for
                         ``params.ms`` (an hour), then the rest
``abort``                completions: TCP reset after ``params.after_frames`` (2) frames
``cumulative_stream``    completions: each answer frame carries all the text so far
``layout_change``        page loads: hashed class names, no send button (Enter only), another
                         textarea placeholder
``login_wall``           page loads: only a login modal, no input
``keep_session_popup``   page loads: a modal whose "Keep session ended" button must be clicked
                         before the input takes text
``slow_hydration``       page loads: the input appears ``params.ms`` (3000) later
=======================  ======================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class QwenScenario(StrEnum):
    """Every scenario name the Qwen mock knows."""

    WAF_JS_CHALLENGE = "waf_js_challenge"
    PUNISH = "punish"
    BAD_REQUEST_HEADERS = "bad_request_headers"
    CHAT_IN_PROGRESS = "chat_in_progress"
    RATE_LIMITED = "rate_limited"
    MODEL_FORBIDDEN = "model_forbidden"
    MODEL_REFUSED = "model_refused"
    HTTP_401 = "http_401"
    HTTP_403 = "http_403"
    HTTP_429 = "http_429"
    HTTP_500 = "http_500"
    HTTP_502 = "http_502"
    HTTP_503 = "http_503"
    MALFORMED_STREAM = "malformed_stream"
    STALL = "stall"
    ABORT = "abort"
    CUMULATIVE_STREAM = "cumulative_stream"
    LAYOUT_CHANGE = "layout_change"
    LOGIN_WALL = "login_wall"
    KEEP_SESSION_POPUP = "keep_session_popup"
    SLOW_HYDRATION = "slow_hydration"


class Malformed(StrEnum):
    """The ``variant`` param of ``malformed_stream``."""

    INVALID_JSON = "invalid_json"  # a frame whose JSON is cut short, before the last delta
    CRLF = "crlf"  # every line ends in \r\n
    SPLIT_UTF8 = "split_utf8"  # writes cut inside multi-byte characters
    UNKNOWN_EVENT = "unknown_event"  # a comment, a heartbeat type, Baxia's "from bx" line
    HTML_CONTENT_TYPE = "html_content_type"  # the SSE body labelled text/html
    MISSING_TERMINATOR = "missing_terminator"  # EOF without the finished frame
    DUPLICATE_DONE = "duplicate_done"  # two data: [DONE] after the finished frame
    USAGE_BEFORE_LAST = "usage_before_last"  # a usage-only frame before the last delta
    USER_ECHO = "user_echo"  # a role:"user" frame echoing the prompt


HTTP_CODES = {
    QwenScenario.HTTP_401: 401,
    QwenScenario.HTTP_403: 403,
    QwenScenario.HTTP_429: 429,
    QwenScenario.HTTP_500: 500,
    QwenScenario.HTTP_502: 502,
    QwenScenario.HTTP_503: 503,
}
PAGE_SCENARIOS = (
    QwenScenario.LAYOUT_CHANGE,
    QwenScenario.LOGIN_WALL,
    QwenScenario.KEEP_SESSION_POPUP,
    QwenScenario.SLOW_HYDRATION,
)

#: scenario -> {param: default}; a param's type is its default's
PARAMS: Mapping[str, Mapping[str, Any]] = {
    QwenScenario.WAF_JS_CHALLENGE: {"persistent": False, "pages": True},
    QwenScenario.RATE_LIMITED: {"sse": False},
    QwenScenario.MALFORMED_STREAM: {"variant": Malformed.INVALID_JSON.value},
    QwenScenario.STALL: {"after_frames": 1, "ms": 3_600_000},
    QwenScenario.ABORT: {"after_frames": 2},
    QwenScenario.SLOW_HYDRATION: {"ms": 3000},
    **{s: {"body": "json", "on": "completion", "retry_after": 30} for s in HTTP_CODES},
}
_CHOICES: Mapping[str, frozenset[str]] = {
    "variant": frozenset(Malformed),
    "body": frozenset({"json", "html"}),
    "on": frozenset({"completion", "all"}),
}


def with_defaults(name: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` checked against scenario ``name`` and completed with its defaults;
    ``ValueError`` names an unknown scenario, param or value."""
    scenario = QwenScenario(name)
    known = PARAMS.get(scenario, {})
    given = dict(params or {})
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"scenario {name!r} takes no param(s) {unknown}; it knows {sorted(known)}")
    return {key: _checked(key, default, given.get(key, default)) for key, default in known.items()}


def _checked(key: str, default: Any, value: Any) -> Any:
    if type(value) is not type(default):
        raise ValueError(f"param {key!r} wants {type(default).__name__}, got {value!r}")
    choices = _CHOICES.get(key)
    if choices is not None and value not in choices:
        raise ValueError(f"param {key!r} must be one of {sorted(choices)}, got {value!r}")
    return value
