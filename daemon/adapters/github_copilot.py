"""The ``github-copilot`` family: OpenAI's Chat Completions behind Copilot's gateway.

Bodies, streams and errors are the openai-completions family's; the Copilot token a login
minted goes as a bearer token to the base its exchange named (``endpoints.api``), and the row
carries the editor identity Copilot's IDE auth insists on. What differs per call is here:
the gateway refuses images unless ``Copilot-Vision-Request: true`` comes with them, and
``X-Initiator`` says whether a person (``user``) or the agent loop (``agent``: the turn answers
tool results) started the turn, which is what Copilot bills premium requests by.
"""

from __future__ import annotations

import aiohttp

from daemon.adapters import common, openai_completions
from daemon.adapters.types import ChatCall, HttpRequest, Target

VISION = ("Copilot-Vision-Request", "true")
INITIATOR = "X-Initiator"


def build_request(target: Target, call: ChatCall) -> HttpRequest:
    """The Chat Completions request for ``call``, with the headers this call needs."""
    request = openai_completions.build_request(target, call)
    if call.has_images():
        request.headers[VISION[0]] = VISION[1]
    last = call.messages[-1]["role"] if call.messages else "user"
    request.headers[INITIATOR] = "user" if last == "user" else "agent"
    return request


map_error = openai_completions.map_error
parse_body = openai_completions.parse_body
stream = common.streamer(build_request, parse_body, openai_completions.StreamParser, map_error)


async def models(
    session: aiohttp.ClientSession, target: Target, connect_timeout: float
) -> list[str]:
    """Model ids from ``GET {base}/models`` (OpenAI's listing, with the editor headers)."""
    return await openai_completions.models(session, target, connect_timeout)
