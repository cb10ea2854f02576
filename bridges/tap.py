"""The tap: the site's own completion response, copied to Python chunk by chunk.

:func:`init_script` is JavaScript installed in every document of a site's page before the
site's scripts run. It wraps ``window.fetch``; while a generation is armed, a request whose URL
matches the site's completion pattern has its response ``clone()``d (a tee: the page reads its
copy as usual) and the copy's head and chunks (base64) go to Python through the exposed
binding :data:`BINDING`, each message tagged with the generation. The wrapper also gives each
tapped request an ``AbortController`` of its own, so the engine can stop a generation by
aborting the request (see ``Stop.abort_fetch``), and while armed it watches the page for the
elements the engine names (challenges, login walls), reporting the first one that shows.

On the Python side, :class:`Tap` receives the messages into an asyncio queue; the engine reads
one generation's messages with :meth:`Tap.next`, and a closed page or browser puts a
:class:`TapMessage` of kind ``gone`` there so that a waiting reader wakes up.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bridges.site import Find

BINDING = "__switchboardTap"
CONTROL = "__switchboardTapControl"

# Finds the first visible element among [key, css, textRegex|null] entries -> [key, index].
FIND_JS = r"""
(entries) => {
  const shown = (el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== "hidden";
  };
  for (let i = 0; i < entries.length; i++) {
    const [key, css, text] = entries[i];
    let nodes;
    try { nodes = document.querySelectorAll(css); } catch (e) { continue; }
    for (const el of nodes) {
      if (!shown(el)) continue;
      if (text !== null && !new RegExp(text, "i").test(el.innerText || "")) continue;
      return [key, i];
    }
  }
  return null;
}
"""

_SCRIPT = r"""
(() => {
  if (window.%(control)s) return;
  const pattern = new RegExp(%(pattern)s);
  const find = %(find)s;
  const post = (message) => {
    try { const binding = window.%(binding)s; if (binding) binding(message); } catch (e) {}
  };
  const b64 = (bytes) => {
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text);
  };
  let armed = 0, seq = 0, watcher = null;
  const controllers = new Map();
  const pump = async (reader, g, r) => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        post({ k: "chunk", g, r, data: b64(value) });
      }
      post({ k: "end", g, r });
    } catch (e) {
      post({ k: "error", g, r, detail: String((e && e.name) || e) });
    }
  };
  const original = window.fetch;
  window.fetch = function (input, init) {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!armed || !pattern.test(url)) return original.apply(this, arguments);
    const g = armed, r = ++seq, own = new AbortController();
    const theirs = (init && init.signal) || (input instanceof Request ? input.signal : null);
    const signal = theirs ? AbortSignal.any([theirs, own.signal]) : own.signal;
    if (!controllers.has(g)) controllers.set(g, []);
    controllers.get(g).push(own);
    return original.call(this, input, Object.assign({}, init || {}, { signal })).then(
      (response) => {
        const type = response.headers.get("content-type") || "";
        post({ k: "head", g, r, status: response.status, type });
        if (response.body) pump(response.clone().body.getReader(), g, r);
        else post({ k: "end", g, r });
        return response;
      },
      (e) => {
        post({ k: "error", g, r, detail: String((e && e.name) || e) });
        throw e;
      });
  };
  const stopWatching = () => { if (watcher !== null) clearInterval(watcher); watcher = null; };
  Object.defineProperty(window, %(control_name)s, { value: {
    arm(g, watch) {
      armed = g;
      stopWatching();
      if (!watch.length) return;
      watcher = setInterval(() => {
        const hit = find(watch);
        if (hit) { stopWatching(); post({ k: "dom", g, key: hit[0], index: hit[1] }); }
      }, 100);
    },
    disarm() { armed = 0; stopWatching(); },
    abort(g) {
      for (const own of controllers.get(g) || []) own.abort();
      controllers.delete(g);
    },
  } });
})();
"""


def init_script(completion_url: str) -> str:
    """The tap for a site whose completion request URLs match ``completion_url`` (JS regex)."""
    return _SCRIPT % {
        "control": CONTROL,
        "control_name": json.dumps(CONTROL),
        "binding": BINDING,
        "pattern": json.dumps(completion_url),
        "find": FIND_JS.strip(),
    }


def find_entries(groups: dict[str, tuple[Find, ...]]) -> list[list[Any]]:
    """``groups`` (key -> selectors) as FIND_JS entries, in order."""
    return [[key, find.css, find.text] for key, finds in groups.items() for find in finds]


class Kind(StrEnum):
    HEAD = "head"  # status and content type of a tapped response
    CHUNK = "chunk"  # one chunk of its body
    END = "end"  # the body ended
    ERROR = "error"  # the request or the body's stream failed (detail: the JS error's name)
    DOM = "dom"  # a watched element showed (key, index into the watched entries)
    GONE = "gone"  # the page or the browser closed (detail: why)


@dataclass(frozen=True, slots=True)
class TapMessage:
    kind: Kind
    generation: int = 0
    request: int = 0
    status: int = 0
    content_type: str = ""
    data: bytes = b""
    detail: str = ""
    key: str = ""
    index: int = 0


class Tap:
    """One page's messages from the init script, by generation."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[TapMessage] = asyncio.Queue()
        self._generation = 0
        self.gone: str | None = None

    def begin(self) -> int:
        """A new generation's number; messages of older ones are dropped from now on."""
        self._generation += 1
        while not self._queue.empty():
            message = self._queue.get_nowait()
            if message.kind is Kind.GONE:
                self._queue.put_nowait(message)
                break
        return self._generation

    def receive(self, _source: Any, message: dict[str, Any]) -> None:
        """The binding: called by Playwright, in order, for each message the page posts."""
        kind = Kind(message["k"])
        self._queue.put_nowait(
            TapMessage(
                kind,
                generation=int(message.get("g", 0)),
                request=int(message.get("r", 0)),
                status=int(message.get("status", 0)),
                content_type=str(message.get("type", "")),
                data=base64.b64decode(message["data"]) if kind is Kind.CHUNK else b"",
                detail=str(message.get("detail", "")),
                key=str(message.get("key", "")),
                index=int(message.get("index", 0)),
            )
        )

    def close(self, why: str) -> None:
        """The page is gone: wake whoever waits, now and later."""
        if self.gone is None:
            self.gone = why
            self._queue.put_nowait(TapMessage(Kind.GONE, detail=why))

    async def next(self) -> TapMessage:
        """The current generation's next message (or ``gone``)."""
        while True:
            message = await self._queue.get()
            if message.kind is Kind.GONE:
                self._queue.put_nowait(message)  # stays: every later read sees it too
                return message
            if message.generation == self._generation:
                return message
