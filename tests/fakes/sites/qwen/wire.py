"""The bytes chat.qwen.ai answers with (reference §3.7, §3.8): SSE frames, the ``success``
envelope and its failures, the Baxia punish body, the Aliyun WAF challenge and gateway pages."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

JSON = dict[str, Any]
SSE_TYPE = "text/event-stream; charset=utf-8"
JSON_TYPE = "application/json"
HTML_TYPE = "text/html"
PUNISH_RET = ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::哎哟喂,被挤爆啦,请稍后重试"]
PUNISH_MARK = "/_____tmd_____/punish"
IN_PROGRESS = "The chat is in progress!"
INTERNAL = "Internal error, please try again later."
THINKING_TITLE = "Thinking…"


def dumps(value: Any) -> str:
    """Compact JSON that keeps non-ASCII text as it is (as the site sends it)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def sse(payload: JSON, *, trailing: str = "", eol: str = "\n") -> bytes:
    """One ``data:`` frame; ``response.created`` carries a trailing space after its JSON."""
    return f"data: {dumps(payload)}{trailing}{eol}{eol}".encode()


def request_id() -> str:
    """A fresh ``request_id``/``x-request-id`` value."""
    return str(uuid.uuid4())


def success(data: Any) -> JSON:
    """``{"success":true,"request_id":…,"data":…}``."""
    return {"success": True, "request_id": request_id(), "data": data}


def failure(code: str, details: str) -> JSON:
    """``{"success":false,"request_id":…,"data":{"code","details"}}`` (HTTP 200)."""
    return {
        "success": False,
        "request_id": request_id(),
        "data": {"code": code, "details": details},
    }


def api_json(
    body: Any, *, actual: int = 200, status: int = 200, rid: str | None = None
) -> web.Response:
    """A JSON answer with the headers every Qwen API call carries."""
    response = web.Response(
        status=status, text=dumps(body), content_type=JSON_TYPE, charset="utf-8"
    )
    api_headers(response, actual=actual, rid=rid)
    return response


def api_headers(response: web.StreamResponse, *, actual: int, rid: str | None) -> None:
    """``x-actual-status-code`` (the effective status), ``x-request-id`` echo, region POP."""
    response.headers["x-actual-status-code"] = str(actual)
    response.headers["x-request-id"] = rid or request_id()
    response.headers["GA-AP"] = "mock-region"
    response.headers["x-frame-options"] = "SAMEORIGIN"
    response.headers["X-Robots-Tag"] = "noindex"


def punish_body(origin: str, base_path: str, x5secdata: str) -> JSON:
    """The Baxia punish answer; its URL is the slider page (double slash as on the site)."""
    url = (
        f"{origin}//{base_path.lstrip('/')}{PUNISH_MARK}?x5secdata={x5secdata}"
        "&x5step=2&action=captcha&pureCaptcha="
    )
    return {"ret": PUNISH_RET, "data": {"url": url}, "rgv587_flag": "sm"}


# -- stream frames ---------------------------------------------------------------------------


def created(chat_id: str, parent_id: str | None, response_id: str) -> JSON:
    """The first frame of every stream."""
    return {
        "response.created": {
            "chat_id": chat_id,
            "parent_id": parent_id,
            "response_id": response_id,
            "response_index": "0",
        }
    }


def keep_alive(chat_id: str, response_id: str, timestamp: int) -> JSON:
    """A ``response.info`` keep-alive (long tasks)."""
    info = {"action": "keep_alive", "chat_id": chat_id, "response_id": response_id}
    return {"response.info": {**info, "timestamp": timestamp}}


def usage(input_tokens: int, output_tokens: int, reasoning_tokens: int) -> JSON:
    """The ``usage`` object answer frames carry (it grows frame by frame)."""
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "characters": 0,
        "total_tokens": input_tokens + output_tokens,
        "input_tokens_details": {"text_tokens": input_tokens},
        "output_tokens_details": {
            "reasoning_tokens": reasoning_tokens,
            "text_tokens": output_tokens - reasoning_tokens,
        },
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def delta(
    response_id: str, body: JSON, *, use: JSON | None = None, timestamp: int | None = None
) -> JSON:
    """A ``choices[0].delta`` frame."""
    frame: JSON = {
        "choices": [{"delta": {"role": "assistant", **body}}],
        "response_id": response_id,
    }
    if use is not None:
        frame["usage"] = use
    if timestamp is not None:
        frame["timestamp"] = timestamp
    return frame


def summary(thoughts: list[str], status: str) -> JSON:
    """A ``thinking_summary`` delta body: empty content, the summary lines in ``extra``."""
    extra = {
        "summary_title": {"content": [THINKING_TITLE]},
        "summary_thought": {"content": thoughts},
    }
    return {"content": "", "phase": "thinking_summary", "extra": extra, "status": status}


def finished(response_id: str) -> JSON:
    """The terminator: ``status:"finished"`` on phase ``answer``."""
    body = {"content": "", "role": "assistant", "status": "finished", "phase": "answer"}
    return {"choices": [{"delta": body}], "response_id": response_id}


def stream_error(code: str, details: str) -> JSON:
    """An in-stream error frame (``Too_Many_Requests``, ...)."""
    return {"error": {"code": code, "details": details}}


# -- HTML ------------------------------------------------------------------------------------

_WAF_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<meta name="aliyun_waf_aa" content="{aa}"><meta name="aliyun_waf_bb" content="{bb}">
<title>{title}</title></head>
<body onload="check()">
<div id="WAF_NC_WRAPPER" style="display:none"><div class="nc-container" id="nocaptcha">
<p>Please slide to verify</p></div></div>
<script>
var arg1 = '{arg1}';
var alicfw_gfver = 'v1.200309.1';
function acwAnswer(hex) {{
  var pairs = hex.match(/../g).reverse();
  return pairs.map(function (p) {{
    return ('0' + (parseInt(p, 16) ^ 0x5a).toString(16)).slice(-2);
  }}).join('');
}}
function check() {{
  var tries = Number(sessionStorage.getItem('acw_tries') || '0');
  if (tries >= 3) {{
    document.title = 'Verification';
    document.getElementById('WAF_NC_WRAPPER').style.display = 'block';
    return;
  }}
  sessionStorage.setItem('acw_tries', String(tries + 1));
  document.cookie = 'acw_sc__v2=' + acwAnswer(arg1) + '; path=/; max-age=3600; SameSite=Lax';
  location.reload();
}}
</script></body></html>
"""


def waf_page(arg1: str) -> web.Response:
    """The Aliyun WAF JS challenge (HTTP 200 HTML): sets ``acw_sc__v2`` and reloads; after
    three reloads in a row it shows the visible "Verification" slider instead."""
    html = _WAF_PAGE.format(aa=request_id(), bb=request_id(), title="", arg1=arg1)
    return web.Response(text=html, content_type=HTML_TYPE, charset="utf-8")


_GATEWAY = """<!DOCTYPE html><html><head><title>{status} {reason}</title></head>
<body><center><h1>{status} {reason}</h1></center><hr><center>Tengine</center></body></html>
"""


def gateway_page(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    """A plain edge error page (``504 Gateway Time-out`` for the retired v1 path, ...)."""
    html = _GATEWAY.format(status=status, reason=reason)
    return web.Response(
        status=status, text=html, content_type=HTML_TYPE, charset="utf-8", headers=headers
    )
