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

# The first visible element matching CSS (and a case-insensitive text regex, or null), or null.
MATCH_JS = r"""
(css, text) => {
  let nodes;
  try { nodes = document.querySelectorAll(css); } catch (e) { return null; }
  for (const el of nodes) {
    const box = el.getBoundingClientRect();
    if (box.width <= 0 || box.height <= 0 || getComputedStyle(el).visibility === "hidden") continue;
    if (text !== null && !new RegExp(text, "i").test(el.innerText || "")) continue;
    return el;
  }
  return null;
}
""".strip()

# The first visible element among [key, css, textRegex|null] entries -> [key, index], or null.
FIND_JS = (
    "(entries) => { const match = " + MATCH_JS + ";\n"
    "  for (let i = 0; i < entries.length; i++) {\n"
    "    if (match(entries[i][1], entries[i][2])) return [entries[i][0], i];\n"
    "  }\n  return null; }"
)

# Resolves with check()'s first truthy value, or null after timeoutMs. It checks at once, on
# every change to the document (a MutationObserver: no polling delay while a page renders),
# and every 25 ms besides (for what no mutation shows: an input's value, a style).
UNTIL_JS = r"""
(check, timeoutMs) => new Promise((resolve) => {
  let done = false, timer = null, deadline = null, observer = null;
  const finish = (value) => {
    if (done) return;
    done = true;
    if (observer) observer.disconnect();
    clearTimeout(timer);
    clearTimeout(deadline);
    resolve(value);
  };
  const probe = () => {
    let value = null;
    try { value = check(); } catch (e) {}
    if (value) finish(value);
    return !!value;
  };
  if (probe()) return;
  observer = new MutationObserver(probe);
  const all = { subtree: true, childList: true, attributes: true, characterData: true };
  observer.observe(document, all);
  const tick = () => { if (!probe()) timer = setTimeout(tick, 25); };
  timer = setTimeout(tick, 25);
  deadline = setTimeout(() => finish(null), timeoutMs);
})
""".strip()

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
        const retry = response.headers.get("retry-after") || "";
        post({ k: "head", g, r, status: response.status, type, retry });
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
    disarm(g) { if (armed === g) { armed = 0; stopWatching(); } },
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
        "find": FIND_JS,
    }


def find_entries(groups: dict[str, tuple[Find, ...]]) -> tuple[list[tuple[str, int]], list[Any]]:
    """``groups`` (key -> selectors) as FIND_JS entries, and what each entry stands for: its
    key and its index within the group."""
    flat = [(key, i) for key, finds in groups.items() for i in range(len(finds))]
    entries = [[key, f.css, f.text] for key, finds in groups.items() for f in finds]
    return flat, entries


def control_call(method: str) -> str:
    """JS calling the tap's ``method`` with one argument, if the tap is installed."""
    return f"(g) => window.{CONTROL} && window.{CONTROL}.{method}(g)"


# Whether the element at CSS no longer holds the text (a form that sent it clears it).
CLEARED_JS = (
    "([css, text]) => { const el = (" + MATCH_JS + ")(css, null);\n"
    '  return !el || !(("value" in el ? el.value : el.innerText) || "").includes(text); }'
)
# Arms the tap for a generation, watches elements, focuses the input: true when it found it.
ARM_JS = (
    "([g, watch, css, text]) => { window." + CONTROL + ".arm(g, watch);\n"
    "  const el = (" + MATCH_JS + ")(css, text); el?.focus(); return !!el; }"
)


class Kind(StrEnum):
    HEAD = "head"  # status and content type of a tapped response
    CHUNK = "chunk"  # one chunk of its body
    END = "end"  # the body ended
    ERROR = "error"  # the request or the body's stream failed (detail: the JS error's name)
    DOM = "dom"  # a watched element showed (key, index into the watched entries)
    GONE = "gone"  # the page or the browser closed (detail: why)
    FAULT = "fault"  # the engine's own work beside the reader failed (error: how)


@dataclass(frozen=True, slots=True)
class TapMessage:
    kind: Kind
    generation: int = 0
    request: int = 0
    status: int = 0
    content_type: str = ""
    retry_after: str = ""  # the response's Retry-After header
    data: bytes = b""
    detail: str = ""
    key: str = ""
    index: int = 0
    error: BaseException | None = None


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
                retry_after=str(message.get("retry", "")),
                data=base64.b64decode(message["data"]) if kind is Kind.CHUNK else b"",
                detail=str(message.get("detail", "")),
                key=str(message.get("key", "")),
                index=int(message.get("index", 0)),
            )
        )

    def interrupt(self, error: BaseException) -> None:
        """Make the current generation's reader raise ``error``."""
        self._queue.put_nowait(TapMessage(Kind.FAULT, self._generation, error=error))

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
