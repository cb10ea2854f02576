"""The daemon's own estimate of a call's input tokens, for providers that cannot count them.

Tokenizers differ by model family and by language, and the daemon ships none, so the estimate
is a rule of thumb, the one README documents: a quarter of the characters the model reads
(system prompt, message texts, earlier tool calls' names and arguments, tool results, and each
tool definition as JSON), rounded up, plus :data:`MESSAGE_TOKENS` per message for the role and
framing every chat format adds, plus :data:`IMAGE_TOKENS` per image. It is meant for "will this
fit", not for billing; answers built on it say ``"estimated": true``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from daemon.adapters.types import ChatCall, Target
from daemon.errors import UpstreamRejected, UpstreamTimeout

if TYPE_CHECKING:
    from daemon.adapters import Counter

CHARS_PER_TOKEN = 4  # English prose runs about four characters a token in the common tokenizers
MESSAGE_TOKENS = 4
# What Anthropic charges at most for one image (a ~1.15 megapixel one; larger ones are scaled
# down): the image's size is not known without decoding it, so the estimate takes the ceiling.
IMAGE_TOKENS = 1600
_NOT_FOUND = 404


async def provider_count(
    counter: Counter,
    session: aiohttp.ClientSession,
    target: Target,
    call: ChatCall,
    connect_timeout: float,
    total_s: float,
) -> int | None:
    """The provider's own count of ``call``'s input tokens, within ``total_s`` seconds; None
    when the provider answers 404 (a gateway of the family without the counting endpoint)."""
    try:
        async with asyncio.timeout(total_s):
            return await counter.count_tokens(session, target, call, connect_timeout)
    except TimeoutError:
        raise UpstreamTimeout(f"the count took longer than {total_s:g}s", phase="total") from None
    except UpstreamRejected as exc:
        if exc.data.get("status") == _NOT_FOUND:
            return None
        raise


def estimate_input_tokens(call: ChatCall) -> int:
    """The estimated input tokens of ``call`` (see the module docstring for the rule)."""
    characters = sum(_json_size(tool) for tool in call.tools)
    images = 0
    for message in call.messages:
        text, pictures = _content_size(message.get("content"))
        characters += text
        images += pictures
        for tool_call in message.get("toolCalls") or ():
            characters += len(tool_call.get("name") or "")
            characters += _json_size(tool_call.get("arguments") or {})
    text_tokens = -(-characters // CHARS_PER_TOKEN)  # rounded up
    return text_tokens + MESSAGE_TOKENS * len(call.messages) + IMAGE_TOKENS * images


def _content_size(content: Any) -> tuple[int, int]:
    """(characters of text, images) of one message's content: a string or a list of parts."""
    if isinstance(content, str):
        return len(content), 0
    parts: list[Mapping[str, Any]] = content if isinstance(content, list) else []
    images = sum(1 for part in parts if part.get("type") == "image")
    characters = sum(len(part.get("text") or "") for part in parts if part.get("type") == "text")
    return characters, images


def _json_size(value: Any) -> int:
    return len(orjson.dumps(value).decode())
