"""Sending a client's request on whole to a provider of the same wire, and relaying its answer.

A family whose wire the daemon serves on ``/v1`` (chat completions, messages, responses) has one
:class:`Forwarding`: where such a request goes, which headers go with it, what a whole answer
must hold, and how its event stream reads (:class:`StreamForm`). Nothing is translated: the
provider gets the client's body with its own name for the model, and the client gets the
provider's answer with the model named as it asked: whole, or event by event (:class:`Relay`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from daemon.adapters.common import error_from_body, headers, json_object, with_query_key
from daemon.adapters.http import ErrorMapper
from daemon.adapters.types import HttpRequest, Target
from daemon.errors import UpstreamError, UpstreamProtocol

_DONE = b"[DONE]"


@dataclass(frozen=True, slots=True)
class StreamForm:
    """How a wire's event stream reads, for relaying it unchanged but for the model's name."""

    named: bool  # each event has an ``event: <type>`` line (the type is also in its data)
    holder: str | None  # the object in an event that names the model; None: the event itself
    ends: frozenset[str] = frozenset()  # the types of the event that ends the stream
    # Chat Completions: the stream ends at ``data: [DONE]``; a connection closed after a
    # finish reason is an answer complete without it, as the translating parser takes it.
    finish_in_choices: bool = False
    # Whether a tool call's fragments come together. Chat Completions lets fragments of
    # several calls interleave; the daemon's own chat output never does, so such a stream
    # with tools is translated, not relayed.
    calls_kept_together: bool = True


CHAT_STREAM = StreamForm(
    named=False, holder=None, finish_in_choices=True, calls_kept_together=False
)
MESSAGES_STREAM = StreamForm(named=True, holder="message", ends=frozenset({"message_stop"}))
RESPONSES_STREAM = StreamForm(
    named=True,
    holder="response",
    ends=frozenset({"response.completed", "response.incomplete", "response.failed"}),
)


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


class Relay:
    """One relayed stream: each provider event as the client's SSE frame, the model named as
    the client asked. An in-band error is raised as the provider's error (the endpoint says it
    in its own shape, or with an HTTP status while nothing was sent)."""

    __slots__ = ("done", "failure", "finished", "form", "named_as")

    def __init__(self, form: StreamForm, named_as: str) -> None:
        self.form = form
        self.named_as = named_as
        self.done = False  # the end event came: what follows it is not read
        self.finished = False  # the answer is complete even if the end event never comes
        self.failure: UpstreamError | None = None  # raise once the frames before it are sent

    def frames(self, payloads: list[bytes]) -> list[bytes]:
        """The client's frames for one read's event payloads. A failure after some of them
        waits in :attr:`failure`, so that what came before it still reaches the client."""
        frames = []
        for payload in payloads:
            if self.done:
                break
            try:
                frames.append(self._frame(payload))
            except UpstreamError as exc:
                if not frames:
                    raise
                self.failure = exc
                break
        return frames

    @property
    def complete(self) -> bool:
        """Whether the stream may end here (its end event, or a finished answer)."""
        return self.done or self.finished

    def _frame(self, payload: bytes) -> bytes:
        form = self.form
        if not form.named and payload.strip() == _DONE:
            self.done = True
            return b"data: [DONE]\n\n"
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise UpstreamProtocol("the provider sent an event that is not JSON") from None
        if not isinstance(data, dict):
            raise UpstreamProtocol("the provider sent an event that is not an object")
        kind = data.get("type")
        if kind == "error" or (not form.named and data.get("error")):
            raise error_from_body(data, status=200)
        holder = data if form.holder is None else data.get(form.holder)
        if isinstance(holder, dict) and "model" in holder:
            holder["model"] = self.named_as
            payload = orjson.dumps(data)
        elif b"\n" in payload:  # one line per event on the client's side
            payload = orjson.dumps(data)
        if form.finish_in_choices and not self.finished:
            self.finished = any(
                isinstance(c, dict) and c.get("finish_reason") for c in data.get("choices") or ()
            )
        if not form.named:
            return b"data: " + payload + b"\n\n"
        if not isinstance(kind, str):
            raise UpstreamProtocol("the provider sent an event without a type")
        self.done = kind in form.ends
        return b"event: " + kind.encode() + b"\ndata: " + payload + b"\n\n"
