"""The bytes of one chat.z.ai completion stream (reference §2.7, §5.2 step 9).

:func:`completion_frames` turns the echo model's answer into whole SSE frames: thinking frames
(plain deltas, or the 2025 ``<details>`` encoding with its ``edit_content``/``edit_index`` switch),
optional tool-call fragments, answer frames with the usage frame *before the last one*, the done
frame and, if asked, ``data: [DONE]``; a ``malformed_stream`` variant then bends the result.
Pacing and cutting across writes is :func:`tests.fakes.sites.common.send_frames`' job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.fakes.sites.common import chunk_text, count_tokens, echo_answer, thinking_text
from tests.fakes.sites.zai.wire import sse

DONE_SENTINEL = b"data: [DONE]\n\n"
LEGACY_OPEN = '<details type="reasoning" done="false">\n<summary>Thinking…</summary>\n'
LEGACY_CLOSE = "\n</details>\n"
SEARCH_RESULT = "[ref_id=turn0search0†Mock search result†https://example.com/result]"


@dataclass(frozen=True, slots=True)
class AnswerSpec:
    """What one stream carries."""

    prompt: str
    thinking: bool = True
    chunk_chars: int = 40
    thinking_style: str = "plain"  # or "legacy_details"
    noise: bool = False  # heartbeat, title and a user echo between the frames
    tool_calls: bool = False  # a search tool call and its response before the answer
    done_sentinel: bool = False
    variant: str | None = None  # a malformed_stream variant


def _completion(phase: str, **data: Any) -> bytes:
    return sse({"type": "chat:completion", "data": {**data, "phase": phase}})


def _deltas(phase: str, text: str, size: int) -> list[bytes]:
    return [_completion(phase, delta_content=piece) for piece in chunk_text(text, size)]


def _legacy(thinking: str, answer: list[str], size: int) -> list[bytes]:
    """Thinking inside ``<details>`` with ``> `` lines, closed by an answer frame that rewrites
    the last few characters from ``edit_index`` on and carries the first answer text."""
    text = LEGACY_OPEN + "\n".join(f"> {line}" for line in thinking.splitlines())
    tail = text[-8:]
    switch = _completion(
        "answer", edit_index=len(text) - len(tail), edit_content=tail + LEGACY_CLOSE + answer[0]
    )
    return [*_deltas("thinking", text, size), switch]


def _tool_frames(prompt: str) -> list[bytes]:
    call_id = "call_mock_search_0"
    return [
        _completion(
            "tool_call",
            delta_name="search",
            delta_arguments='{"queries":[',
            metadata={"tool_call_id": call_id},
        ),
        _completion(
            "tool_call", delta_name="", delta_arguments=json.dumps(prompt[:20]) + "]}", metadata={}
        ),
        _completion(
            "tool_response",
            tool_name="search",
            status="completed",
            delta_content=SEARCH_RESULT,
            metadata={"tool_call_id": call_id},
        ),
    ]


def usage(prompt: str, answer: str, thinking: str) -> dict[str, Any]:
    """The echo model's accounting."""
    completion = count_tokens(answer) + (count_tokens(thinking) if thinking else 0)
    prompt_tokens = count_tokens(prompt)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def noise_frames(prompt: str, every_kind: bool) -> list[bytes]:
    """Frames a parser must skip: a heartbeat, a title, a user echo (and, for every kind, tags,
    a notification, agent status and a type nobody knows)."""
    frames = [
        sse({"type": "conn:heartbeat", "data": {}}),
        sse({"type": "chat:title", "data": prompt[:30] or "New Chat"}),
        sse({"type": "chat:completion", "data": {"role": "user", "delta_content": prompt}}),
    ]
    if every_kind:
        frames += [
            sse({"type": "chat:tags", "data": []}),
            sse({"type": "notification", "data": {"type": "info", "content": "Mock notice"}}),
            sse({"type": "status", "data": {"action": "thinking", "done": False}}),
            sse({"type": "mock:unknown", "data": {"x": 1}}),
        ]
    return frames


def completion_frames(spec: AnswerSpec) -> list[bytes]:
    """Every frame of the stream, in order, each a whole ``data: ...\\n\\n`` event."""
    answer = echo_answer(spec.prompt)
    thinking = thinking_text(spec.prompt) if spec.thinking else ""
    pieces = chunk_text(answer, spec.chunk_chars)
    frames: list[bytes] = []
    if spec.thinking and spec.thinking_style == "legacy_details":
        frames += _legacy(thinking, pieces, spec.chunk_chars)
        pieces = pieces[1:]
    elif spec.thinking:
        frames += _deltas("thinking", thinking, spec.chunk_chars)
    if spec.tool_calls:
        frames += _tool_frames(spec.prompt)
    body = [_completion("answer", delta_content=piece) for piece in pieces]
    accounting = _completion("other", usage=usage(spec.prompt, answer, thinking))
    frames += [*body[:-1], accounting, *body[-1:], _completion("done", done=True)]
    if spec.done_sentinel:
        frames.append(DONE_SENTINEL)
    if spec.noise:
        frames[1:1] = noise_frames(spec.prompt, every_kind=False)
    return malformed(frames, spec)


def malformed(frames: list[bytes], spec: AnswerSpec) -> list[bytes]:
    """``frames`` bent the way ``spec.variant`` says (see config.STREAM_VARIANTS)."""
    variant = spec.variant
    if variant == "invalid_json":
        return [*frames[:1], b'data: {"type":"chat:completion","data":{"delta_con\n\n', *frames[1:]]
    if variant == "crlf":
        return [frame.replace(b"\n", b"\r\n") for frame in frames]
    if variant == "unknown_events":
        return [*frames[:1], *noise_frames(spec.prompt, every_kind=True), *frames[1:]]
    if variant == "user_echo":
        echo = sse(
            {
                "type": "chat:completion",
                "data": {"role": "user", "delta_content": spec.prompt, "phase": "answer"},
            }
        )
        return [*frames[:1], echo, *frames[1:]]
    if variant == "missing_terminator":
        return [f for f in frames if f != DONE_SENTINEL and b'"phase":"done"' not in f]
    if variant == "duplicate_done":
        return [*(f for f in frames if f != DONE_SENTINEL), DONE_SENTINEL, DONE_SENTINEL]
    return frames
