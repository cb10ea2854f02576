"""Gemini (``models/{model}:generateContent`` / ``:streamGenerateContent?alt=sse``).

Follows ``wire/gemini``: ``GenerateContentResponse`` chunks with ``\\r\\n\\r\\n`` between SSE
events, cumulative ``usageMetadata`` on each, ``thought: true`` parts for reasoning, and a
``thoughtSignature`` on each ``functionCall`` part. Like Gemini 3, the fake refuses a follow-up
whose ``functionCall`` parts come back without their signature, and matches a
``functionResponse`` to the call by name (Gemini's own rule). Gemini has no in-stream error
event: a failing stream is a broken connection.

``models/{model}:countTokens`` counts as an answer's ``promptTokenCount`` would. No recording
shows it, so it follows the API reference: ``contents`` alone, or a ``generateContentRequest``
naming its ``model`` (never both); the answer ``{"totalTokens", "promptTokensDetails"}``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from daemon.providers.model import ApiFamily
from tests.fakes.families.script import RequestRejected, Script, ToolResult, Turn, input_tokens
from tests.fakes.families.wire import JSON, Request, Wire, dumps

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED"}
MISSING_SIGNATURE = (
    "Function call is missing a thought_signature in functionCall parts. This is required "
    "for tools to work correctly, and missing thought_signature may lead to degraded model "
    "performance."
)


def signature_for(name: str) -> str:
    """The opaque signature the fake puts on (and expects back with) a call of ``name``."""
    return "Ep" + hashlib.sha256(name.encode()).hexdigest()[:30]


def _authorized(headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
    return headers.get("x-goog-api-key") == key


def _text(parts: list[JSON]) -> str:
    return "".join(p.get("text", "") for p in parts if not p.get("thought"))


def _is_image(part: JSON) -> bool:
    """``inlineData`` (mime type and base64 data) or ``fileData`` (a file URI)."""
    inline, file = part.get("inlineData") or {}, part.get("fileData") or {}
    return bool(inline.get("mimeType") and inline.get("data")) or bool(file.get("fileUri"))


def _read(request: Request) -> Turn:
    model, _, method = request.path_params["call"].rpartition(":")
    if method not in ("generateContent", "streamGenerateContent"):
        raise RequestRejected(f"unknown method {method!r}")
    stream = method == "streamGenerateContent" and request.query.get("alt") == "sse"
    return _turn(request.body, model, stream)


def _count_tokens(request: Request) -> bytes:
    body = request.body
    whole = body.get("generateContentRequest")
    if whole is not None and "contents" in body:
        raise RequestRejected("contents and generateContentRequest are mutually exclusive")
    if whole is not None and whole.get("model") != f"models/{request.path_params['model']}":
        raise RequestRejected("generateContentRequest.model must name the model counting it")
    turn = _turn(whole if whole is not None else body, request.path_params["model"], False)
    count = input_tokens(turn)
    return dumps({"totalTokens": count, "promptTokensDetails": [_text_count(count)]})


def _text_count(count: int) -> JSON:
    return {"modality": "TEXT", "tokenCount": count}


def _turn(body: JSON, model: str, stream: bool) -> Turn:
    """The turn a ``GenerateContentRequest`` asks about; RequestRejected for what Gemini
    refuses."""
    contents: list[JSON] = body["contents"]
    last = contents[-1]["parts"]
    results = [
        ToolResult(p["functionResponse"]["name"], str(p["functionResponse"]["response"]["content"]))
        for p in last
        if "functionResponse" in p
    ]
    previous = contents[-2]["parts"] if len(contents) > 1 else []
    calls = [p for p in previous if "functionCall" in p]
    if results and any(
        p.get("thoughtSignature") != signature_for(p["functionCall"]["name"]) for p in calls
    ):
        raise RequestRejected(MISSING_SIGNATURE)
    declarations = [d for tool in body.get("tools") or () for d in tool["functionDeclarations"]]
    system = body.get("systemInstruction") or {"parts": []}
    return Turn(
        model=model,
        stream=stream,
        user_text=_text(last),
        images=sum(1 for p in last if _is_image(p)),
        stop=(body.get("generationConfig") or {}).get("stopSequences") or [],
        tool_names=[d["name"] for d in declarations],
        tool_results=results,
        earlier_call_ids=[p["functionCall"]["name"] for p in calls],
        system=_text(system["parts"]),
    )


def _usage(script: Script) -> JSON:
    visible = script.output_tokens - len(script.reasoning)
    usage: JSON = {
        "promptTokenCount": script.input_tokens,
        "candidatesTokenCount": visible,
        "totalTokenCount": script.input_tokens + script.output_tokens,
        "promptTokensDetails": [_text_count(script.input_tokens)],
    }
    if script.reasoning:
        usage["thoughtsTokenCount"] = len(script.reasoning)
    return usage


def _parts(script: Script) -> list[JSON]:
    parts: list[JSON] = [{"text": piece, "thought": True} for piece in script.reasoning]
    parts += [{"text": piece} for piece in script.text]
    for call in script.calls:
        function_call = {"name": call.name, "args": call.arguments}
        parts.append({"functionCall": function_call, "thoughtSignature": signature_for(call.name)})
    return parts


def _chunk(turn: Turn, parts: list[JSON], usage: JSON, finish: bool) -> JSON:
    candidate: JSON = {"content": {"parts": parts, "role": "model"}}
    if finish:
        candidate["finishReason"] = "STOP"
    candidate["index"] = 0
    response_id = hashlib.sha256(turn.model.encode()).hexdigest()[:23]
    model = turn.options.base
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": response_id,
    }


def _json_body(script: Script, turn: Turn) -> bytes:
    return dumps(_chunk(turn, _parts(script), _usage(script), finish=True))


def _stream_frames(script: Script, turn: Turn) -> list[bytes]:
    parts = _parts(script)
    usage = _usage(script)
    chunks = [_chunk(turn, [part], usage, finish=False) for part in parts]
    chunks.append(_chunk(turn, [{"text": ""}], usage, finish=True))
    return [b"data: " + dumps(chunk) + b"\r\n\r\n" for chunk in chunks]


def _error_body(status: int, message: str) -> bytes:
    code = _STATUS.get(status, "INTERNAL")
    return dumps({"error": {"code": status, "message": message, "status": code}})


def _models_body(models: list[str], query: Mapping[str, str]) -> bytes:
    """One model a page; ``pageToken`` is the opaque token the page before handed out."""
    start = int(query.get("pageToken", "0"))
    listed = [
        {"name": f"models/{m}", "displayName": m, "supportedGenerationMethods": ["generateContent"]}
        for m in models[start : start + 1]
    ]
    page: JSON = {"models": listed}
    if start + 1 < len(models):
        page["nextPageToken"] = str(start + 1)
    return dumps(page)


WIRE = Wire(
    family=ApiFamily.GOOGLE_GENERATIVE_AI,
    provider="google",
    mount="/gemini",
    base_path="/v1beta",
    routes=(("POST", "/v1beta/models/{call}"),),
    authorized=_authorized,
    read=_read,
    json_body=_json_body,
    stream_frames=_stream_frames,
    error_body=_error_body,
    recordings="gemini",
    models_body=_models_body,
    models_route="/v1beta/models",
    count_route="/v1beta/models/{model}:countTokens",
    count_tokens=_count_tokens,
    free_form=("candidates[].content.parts[].functionCall.args",),
    # The recordings show thought parts and signatures only in streams; a whole response
    # carries the same parts (Gemini's GenerateContentResponse is one type for both).
    unrecorded=frozenset(
        {
            "candidates[].content.parts[].thought",
            "candidates[].content.parts[].thoughtSignature",
        }
    ),
)
