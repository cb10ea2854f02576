"""The ``azure-openai`` family: Chat Completions on an Azure OpenAI deployment.

The wire is OpenAI's Chat Completions, so the body, the chunk parser and the body parser are
:mod:`daemon.adapters.openai_completions`' own. What Azure changes:

* the address: the model is a *deployment* name, and every call names an ``api-version``:
  ``POST {base}/deployments/{deployment}/chat/completions?api-version={version}``, where
  ``{base}`` is ``https://{resource}.openai.azure.com/openai`` (the row's template);
* the key goes in an ``api-key`` header (the row's ``AuthStyle.API_KEY``);
* content filtering: a prompt the filter blocks is a 400 with ``error.code ==
  "content_filter"`` and the verdicts in ``error.innererror.content_filter_result``; that
  becomes an UpstreamRejected naming the filtered categories. Filtered *output* is a choice
  whose ``finish_reason`` is ``content_filter`` (the shared parser maps it). Streams may open
  with a ``choices: []`` chunk carrying ``prompt_filter_results``, and chunks carry
  ``content_filter_results``; the shared parser skips both;
* a 429 carries ``retry-after-ms`` beside the whole-second ``Retry-After``;
* the data plane's ``GET /models`` lists base models, not deployments, so there is no model
  listing: ``models`` are the deployment names under ``[providers.azure-openai]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from daemon.adapters import common
from daemon.adapters import openai_completions as completions
from daemon.adapters.types import ChatCall, Event, HttpRequest, Target
from daemon.errors import Unsupported, UpstreamError, UpstreamRejected
from daemon.log import scrub

# The latest GA api-version of the data-plane inference API ("Latest GA release" in Microsoft's
# Azure OpenAI REST reference): it has stream usage (stream_options) and max_completion_tokens.
# [providers.azure-openai] api_version picks another, e.g. a preview for newer parameters.
DEFAULT_API_VERSION = "2024-10-21"
CONTENT_FILTER = "content_filter"
_SEVERITY_LIMIT = 20  # severities are words like "medium"; anything longer is not one


def api_version(target: Target) -> str:
    """The configured ``api_version``, else :data:`DEFAULT_API_VERSION`."""
    return target.options.get("api_version") or DEFAULT_API_VERSION


def api_root(base_url: str) -> str:
    """``base_url``, with ``/openai`` added when it is a bare host.

    The Azure portal shows the endpoint as ``https://{resource}.openai.azure.com/``; the API
    lives under ``/openai``. A base URL with a path (a gateway, a custom route) is kept as is.
    """
    return f"{base_url}/openai" if urlsplit(base_url).path in ("", "/") else base_url


def chat_url(target: Target) -> str:
    """Where a chat call to ``target``'s deployment goes, api-version included."""
    deployment = quote(target.model, safe="")
    version = quote(api_version(target), safe="")
    root = api_root(target.base_url)
    return f"{root}/deployments/{deployment}/chat/completions?api-version={version}"


def build_request(target: Target, call: ChatCall) -> HttpRequest:
    """The HTTP request for ``call`` to ``target``: the Chat Completions body at Azure's URL."""
    return completions.request_to(chat_url(target), target, call)


def filtered_categories(verdicts: Any) -> list[str]:
    """``["violence (medium)", "jailbreak (detected)"]``: each category the filter blocked."""
    if not isinstance(verdicts, dict):
        return []
    return [_described(str(name), v) for name, v in verdicts.items() if _blocked(v)]


def _blocked(verdict: Any) -> bool:
    # custom_blocklists is a list of {id, filtered} in older api-versions, an object in newer.
    if isinstance(verdict, list):
        return any(isinstance(item, dict) and item.get("filtered") is True for item in verdict)
    return isinstance(verdict, dict) and verdict.get("filtered") is True


def _described(name: str, verdict: Any) -> str:
    severity = verdict.get("severity") if isinstance(verdict, dict) else None
    if isinstance(severity, str) and severity:
        return f"{name} ({severity[:_SEVERITY_LIMIT]})"
    if isinstance(verdict, dict) and verdict.get("detected") is True:
        return f"{name} (detected)"  # jailbreak, profanity, protected material: no severity
    return name


def _verdicts(body: Any) -> Any:
    """``error.innererror.content_filter_result`` of an error body, if it has one."""
    error = body.get("error") if isinstance(body, dict) else None
    inner = error.get("innererror") if isinstance(error, dict) else None
    if not isinstance(inner, dict):
        return None
    # The documented key is singular; tolerate the plural that the success shapes use.
    return inner.get("content_filter_result") or inner.get("content_filter_results")


def content_filter_error(body: Any, data: Mapping[str, Any]) -> UpstreamRejected:
    """The refusal of a filtered request, naming what was filtered; ``data`` as already typed.

    Never a retry or a fallback: the same prompt is refused again, and sending it to another
    provider would route around the deployment owner's content policy.
    """
    categories = filtered_categories(_verdicts(body)) or ["no category named"]
    detail = f"Azure OpenAI's content filter blocked the request: {', '.join(categories)}"
    return UpstreamRejected(scrub(detail)[: common.DETAIL_LIMIT], **data)


def _retry_after_ms(headers: Mapping[str, str]) -> int | None:
    # Azure sends retry-after-ms beside Retry-After; it is the more precise of the two.
    value = (headers.get("retry-after-ms") or headers.get("Retry-After-Ms") or "").strip()
    return int(value) if value.isdigit() else None


def map_error(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """The typed error for an Azure error answer; a content-filter block names its categories."""
    error = common.error_from_status(status, headers, body)
    precise = _retry_after_ms(headers)
    if precise is not None:
        error.data["retryAfterMs"] = precise
    if error.data.get("upstreamCode") != CONTENT_FILTER:
        return error
    return content_filter_error(common.json_object(body), error.data)


def parse_body(payload: bytes) -> list[Event]:
    """Events of a whole completion; an error object in it is typed as :func:`map_error` does."""
    try:
        return completions.parse_body(payload)
    except UpstreamRejected:
        raise map_error(200, {}, payload) from None


class StreamParser(completions.StreamParser):
    """Chat Completions chunks into events; an error chunk is typed as :func:`map_error` does."""

    def feed(self, payload: bytes) -> list[Event]:
        try:
            return super().feed(payload)
        except UpstreamRejected:
            raise map_error(200, {}, payload) from None


# Send a call and yield its events as they arrive, one list per network read.
stream = common.streamer(build_request, parse_body, StreamParser, map_error)


async def models(
    session: aiohttp.ClientSession, target: Target, connect_timeout: float
) -> list[str]:
    """Always Unsupported: Azure lists deployments only on its control plane.

    The data plane's ``GET {base}/models`` answers the base models the resource could deploy,
    which are not names a chat call can use. Routing falls back to the ``models`` and
    ``default_model`` of ``[providers.azure-openai]``.
    """
    raise Unsupported(
        "Azure OpenAI cannot list deployments with an API key; name them in "
        "models = [...] under [providers.azure-openai]"
    )
