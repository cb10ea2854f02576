"""A guest that speaks to the mock chat.qwen.ai over plain HTTP the way its SPA does: it
loads ``/c/guest`` (device cookies), writes the websdk cookies, registers Baxia tokens and
sends ``chats/new`` and completions with the §3.3 headers. For tests of the server pipeline
and for capturing stream bytes without a browser::

    async with visiting(site.base_url) as guest:
        chat_id = (await guest.new_chat()).json()["data"]["id"]
        reply = await guest.complete(chat_id, "Reply with exactly: ok")
        events(reply.body)   # the data: payloads
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

DEFAULT_MODEL = "qwen3.7-plus"
SPA_VERSION = "0.3.11"
BX_V = "2.5.37"
COMPLETIONS = "/api/v2/chat/completions"


@dataclass(frozen=True)
class Reply:
    """One answer: status, headers and the whole body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def events(body: bytes) -> list[str]:
    """The ``data:`` payloads of an SSE body (CRLF or LF; comments skipped)."""
    found = []
    for block in re.split(rb"\r?\n\r?\n", body):
        lines = [line for line in re.split(rb"\r?\n", block) if line.startswith(b"data:")]
        if lines:
            found.append(b"\n".join(line[5:].removeprefix(b" ") for line in lines).decode())
    return found


def frames(body: bytes) -> list[Any]:
    """The JSON of every ``data:`` payload that parses (``[DONE]`` and broken ones skipped)."""
    parsed = []
    for payload in events(body):
        with contextlib.suppress(ValueError):
            parsed.append(json.loads(payload))
    return parsed


def answer_text(body: bytes) -> str:
    """The answer phase's content, concatenated (incremental streams)."""
    deltas = [f["choices"][0]["delta"] for f in frames(body) if f.get("choices")]
    return "".join(
        d.get("content", "")
        for d in deltas
        if d.get("phase") == "answer" and d.get("role") != "user"
    )


class Guest:
    """A guest's cookie jar and Baxia tokens on one mock site."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url
        self.umid = "T2gA" + secrets.token_urlsafe(45)
        self.ua = "234!" + secrets.token_urlsafe(147)

    async def arrive(self, *, register: bool = True) -> None:
        """Load ``/c/guest`` and write the websdk cookies; register the tokens if asked."""
        async with self.session.get(self.base_url + "/c/guest") as response:
            response.raise_for_status()
        device = {"ssxmod_itna": secrets.token_hex(20), "ssxmod_itna2": secrets.token_hex(28)}
        self.session.cookie_jar.update_cookies(device, URL(self.base_url))
        if register:
            body = {"umid": self.umid, "ua": [self.ua]}
            async with self.session.post(self.base_url + "/__mock__/baxia/issue", json=body) as r:
                r.raise_for_status()

    def headers(self, *, streaming: bool = False, drop: tuple[str, ...] = ()) -> dict[str, str]:
        """The headers the SPA sends (``drop`` leaves some out)."""
        sent = {
            "Accept": "application/json" if streaming else "application/json, text/plain, */*",
            "Content-Type": "application/json",
            "bx-ua": self.ua,
            "bx-umidtoken": self.umid,
            "bx-v": BX_V,
            "source": "web",
            "version": SPA_VERSION,
            "x-request-id": str(uuid.uuid4()),
            "Timezone": time.strftime("%a %b %d %Y %H:%M:%S GMT+0000"),
            "Referer": self.base_url + "/c/guest",
            "Origin": self.base_url,
        }
        if streaming:
            sent["X-Accel-Buffering"] = "no"
        return {k: v for k, v in sent.items() if k not in drop}

    async def post(self, path: str, body: Any, headers: Mapping[str, str]) -> Reply:
        """POST ``body`` as JSON; the whole answer."""
        url = self.base_url + path
        async with self.session.post(url, data=json.dumps(body), headers=headers) as response:
            return Reply(response.status, response.headers, await response.read())

    async def new_chat(self, model: str = DEFAULT_MODEL, mode: str = "guest", **kw: Any) -> Reply:
        """``POST /api/v2/chats/new`` with the guest body."""
        body = {
            "title": "New Chat",
            "models": [model],
            "chat_mode": mode,
            "chat_type": "t2t",
            "timestamp": int(time.time() * 1000),
            "project_id": "",
        }
        return await self.post("/api/v2/chats/new", body, kw.get("headers") or self.headers())

    async def chat_id(self, model: str = DEFAULT_MODEL) -> str:
        """A new guest chat's id."""
        reply = await self.new_chat(model)
        return str(reply.json()["data"]["id"])

    async def complete(
        self,
        chat_id: str,
        prompt: str,
        *,
        parent_id: str | None = None,
        model: str = DEFAULT_MODEL,
        thinking: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """``POST /api/v2/chat/completions?chat_id=`` with the §3.6 body; the whole stream."""
        body = completion_body(chat_id, prompt, parent_id=parent_id, model=model, thinking=thinking)
        sent = headers if headers is not None else self.headers(streaming=True)
        return await self.post(f"{COMPLETIONS}?chat_id={chat_id}", body, sent)

    @contextlib.asynccontextmanager
    async def streaming(
        self, chat_id: str, prompt: str, *, thinking: bool = False
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A completion whose stream the block reads as it comes (it is open meanwhile)."""
        body = completion_body(
            chat_id, prompt, parent_id=None, model=DEFAULT_MODEL, thinking=thinking
        )
        url = f"{self.base_url}{COMPLETIONS}?chat_id={chat_id}"
        headers = self.headers(streaming=True)
        async with self.session.post(url, data=json.dumps(body), headers=headers) as response:
            yield response


def completion_body(
    chat_id: str, prompt: str, *, parent_id: str | None, model: str, thinking: bool
) -> dict[str, Any]:
    """The body the SPA sends for one guest turn."""
    now = int(time.time())
    features = {
        "thinking_enabled": thinking,
        "output_schema": "phase",
        "research_mode": "normal",
        "auto_thinking": thinking,
        "thinking_mode": "Auto" if thinking else "Fast",
        "thinking_format": "summary",
        "auto_search": False,
    }
    message = {
        "id": None,
        "fid": str(uuid.uuid4()),
        "parentId": parent_id,
        "parent_id": parent_id,
        "childrenIds": [str(uuid.uuid4())],
        "role": "user",
        "content": prompt,
        "user_action": "chat",
        "files": [],
        "timestamp": now,
        "models": [model],
        "model": "",
        "chat_type": "t2t",
        "feature_config": features,
        "extra": {"meta": {"subChatType": "t2t"}},
        "sub_chat_type": "t2t",
    }
    return {
        "stream": True,
        "version": "2.1",
        "incremental_output": True,
        "chat_id": chat_id,
        "chat_mode": "guest",
        "model": model,
        "parent_id": parent_id,
        "messages": [message],
        "timestamp": now,
    }


@contextlib.asynccontextmanager
async def visiting(base_url: str, *, register: bool = True) -> AsyncIterator[Guest]:
    """A guest that has loaded the site (its own cookie jar) for the block."""
    jar = aiohttp.CookieJar(unsafe=True)  # the mock is on 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        guest = Guest(session, base_url)
        await guest.arrive(register=register)
        yield guest
