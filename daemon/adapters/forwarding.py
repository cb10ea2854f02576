"""Sending a client's request on whole to a provider of the same wire, and relaying its answer.

A family whose wire the daemon serves on ``/v1`` (chat completions, messages, responses) has one
:class:`Forwarding`: where such a request goes, which headers go with it, what a whole answer
must hold, and how its event stream reads (:class:`StreamForm`). Nothing is translated: the
provider gets the client's body with its own name for the model, and the client gets the
provider's answer with the model named as it asked: whole, or event by event
(:class:`daemon.adapters.relay.Relay`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from daemon.adapters.common import error_from_body, headers, json_object, with_query_key
from daemon.adapters.http import ErrorMapper
from daemon.adapters.relay import StreamForm
from daemon.adapters.types import HttpRequest, Target
from daemon.errors import UpstreamProtocol


@dataclass(frozen=True, slots=True)
class Forwarding:
    """What a family needs to take a request of its own wire whole.

    A request is the client's own body, sent to ``base_url + path`` with the provider's name
    for the model and the credential where the provider wants it; its headers are the
    family's ``defaults``, then the client's headers of that wire (Anthropic's
    ``anthropic-beta``), then the provider's own. A whole answer must be a JSON object whose
    ``items`` list has at least ``least`` entries; an error object in it is the provider's
    error."""

    path: str
    items: str
    stream: StreamForm
    map_error: ErrorMapper
    least: int = 0
    defaults: Mapping[str, str] = field(default_factory=dict)

    def request(
        self, target: Target, body: Mapping[str, Any], wire_headers: Mapping[str, str]
    ) -> HttpRequest:
        """The provider's request: the client's ``body``, with the provider's model name.
        (Encoded anew: orjson writes a body faster than its bytes can be searched and
        replaced, at any size.)"""
        url = with_query_key(f"{target.base_url}{self.path}", target)
        accept = "text/event-stream" if body.get("stream") else "application/json"
        sent = {**self.defaults, **wire_headers, **headers(target, accept=accept)}
        return HttpRequest("POST", url, sent, orjson.dumps({**body, "model": target.model}))

    def answer(self, payload: bytes, named_as: str) -> bytes:
        """A whole answer, checked, with its model ``named_as`` the client asked;
        UpstreamError when it is an error or not an answer."""
        answer = json_object(payload)
        if answer.get("error"):
            raise error_from_body(answer, status=200)
        listed = answer.get(self.items)
        if not isinstance(listed, list) or len(listed) < self.least:
            raise UpstreamProtocol(f"the answer has no {self.items}")
        answer["model"] = named_as
        return orjson.dumps(answer)

    def relays(self, body: Mapping[str, Any]) -> bool:
        """Whether a streamed request can be relayed, not translated (see StreamForm)."""
        return self.stream.calls_kept_together or not body.get("tools")
