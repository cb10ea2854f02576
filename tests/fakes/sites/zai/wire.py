"""chat.z.ai's wire facts the mock checks and answers with (reference §2.4–§2.8): the request
signature, the guest JWT, the captcha parameter, the 34 fingerprint query keys, error bodies and
the Aliyun WAF block page."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from pathlib import Path
from string import Template
from typing import Any

STATIC = Path(__file__).with_name("static")

#: the completion's query keys in the order the SPA sends them (34, as in the Sept 2026 HAR)
FINGERPRINT_KEYS = (
    "timestamp", "requestId", "user_id", "version", "platform", "token", "user_agent",
    "language", "languages", "timezone", "cookie_enabled", "screen_width", "screen_height",
    "screen_resolution", "viewport_height", "viewport_width", "viewport_size", "color_depth",
    "pixel_ratio", "current_url", "pathname", "host", "hostname", "protocol", "title",
    "timezone_offset", "local_time", "utc_time", "is_mobile", "is_touch", "max_touch_points",
    "browser_name", "os_name", "signature_timestamp",
)  # fmt: skip
#: the keys every completion needs even when the fingerprint is not checked strictly
REQUIRED_KEYS = ("timestamp", "requestId", "user_id", "version", "platform", "token")
SIGNATURE_BUCKET_MS = 300_000

SIGNATURE_FAILED = "403: Signature validation failed: 签名验证失败"
STALE_CLIENT = "您的客户端版本过旧 / New version detected"
SESSION_EXPIRED = "Your session has expired or the token is invalid. Please sign in again."
USER_LEVEL = "The model is not available for your current user level"
CAPTCHA_MISSING = "Please refresh the page to update the app, then try again."
CAPTCHA_FAILED = "Captcha verification failed. Please verify again and retry."
GUEST_REFUSED = "Guest access is not available right now. Please sign in to continue."


def _hmac_hex(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def signature(request_id: str, timestamp: str, user_id: str, prompt: str, key: str) -> str:
    """``X-Signature`` (§2.6): HMAC-SHA256 keyed by the hex HMAC of the 5-minute bucket, over
    the sorted id pairs, the Base64 prompt and the timestamp."""
    pairs = sorted({"requestId": request_id, "timestamp": timestamp, "user_id": user_id}.items())
    prompt64 = base64.b64encode(prompt.encode()).decode()
    message = "|".join((",".join(f"{k},{v}" for k, v in pairs), prompt64, timestamp))
    bucket = str(int(timestamp) // SIGNATURE_BUCKET_MS)
    return _hmac_hex(_hmac_hex(key, bucket), message)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_encode(claims: dict[str, Any], secret: str) -> str:
    """An HS256 JWT of ``claims`` (the mock signs guests with a secret of its own)."""
    head = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    body = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64url(mac)}"


def jwt_valid(token: str, secret: str) -> bool:
    """Whether ``token`` carries this mock's signature."""
    head, _, rest = token.partition(".")
    body, _, mac = rest.partition(".")
    expected = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return hmac.compare_digest(_b64url(expected), mac)


def captcha_param(certify_id: str, scene_id: str, security_token: str) -> str:
    """``captcha_verify_param``: Base64 of the Aliyun widget's JSON (§2.5)."""
    data = {
        "certifyId": certify_id,
        "sceneId": scene_id,
        "isSign": True,
        "securityToken": security_token,
    }
    return base64.b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def captcha_fields(param: str) -> dict[str, Any] | None:
    """The JSON inside a ``captcha_verify_param``, or None when it is not one."""
    try:
        data = json.loads(base64.b64decode(param, validate=True))
    except (binascii.Error, ValueError):
        return None
    return data if isinstance(data, dict) else None


def sse(payload: dict[str, Any]) -> bytes:
    """One ``data: <json>\\n\\n`` frame (compact JSON, raw UTF-8)."""
    return (
        b"data: "
        + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        + b"\n\n"
    )


def error_frame(error: dict[str, Any], *, nested: bool) -> bytes:
    """The in-stream error of §2.7; ``nested`` repeats it under ``data.data`` as the captcha
    errors do."""
    data: dict[str, Any] = {"error": error, "done": True}
    if nested:
        data = {"data": {"done": True, "error": error}, **data}
    return sse({"type": "chat:completion", "data": data})


def captcha_error(kind: str) -> dict[str, Any]:
    """``FRONTEND_CAPTCHA_REQUIRED`` with ``missing_param`` or ``verify_failed``."""
    if kind == "missing_param":
        return {
            "code": "FRONTEND_CAPTCHA_REQUIRED",
            "captcha_error_type": "missing_param",
            "detail": CAPTCHA_MISSING,
        }
    return {
        "code": "FRONTEND_CAPTCHA_REQUIRED",
        "captcha_error_type": "verify_failed",
        "verify_code": "F003",
        "detail": CAPTCHA_FAILED,
    }


def waf_page(trace_id: str) -> str:
    """The Aliyun WAF 405 block page (§2.8), its images only named, never loaded."""
    return Template((STATIC / "waf405.html").read_text()).substitute(trace_id=trace_id)
