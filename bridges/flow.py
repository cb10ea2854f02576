"""One turn on a site's page: open the chat, send the prompt, read the answer from the tap.

The steps are the ones :mod:`bridges.site` describes. A problem the site reports comes out
as :class:`~bridges.site.SiteProblem` (the runner decides whether a reload may fix it); what
the engine itself finds wrong comes out as the daemon's typed errors. Nothing here logs the
prompt or the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bridges.browser import BrowserGone, PageFault, PageTimeout, Tab
from bridges.site import Find, Problem, ProblemKind, SiteParser, SiteProblem, SiteSpec, as_find
from bridges.tap import Kind, TapMessage, find_entries
from daemon.adapters.http import retry_after_ms
from daemon.adapters.types import Assembly, ChatCall, Event
from daemon.errors import (
    BridgeBroken,
    BridgeUnavailable,
    DaemonError,
    RequestInvalid,
    UnknownModel,
    Unsupported,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from daemon.routes import Emit

SUBMIT_GRACE_S = 1.5  # how long Enter has to clear the input before the send button is tried
STOP_GRACE_S = 5.0
MAX_POPUPS = 5
_LATER: set[asyncio.Task[None]] = set()  # disarms under way (a task must be referenced)


@dataclass(frozen=True, slots=True)
class Timeouts:
    page_load_s: float
    first_chunk_s: float
    chunk_s: float


@dataclass(frozen=True, slots=True)
class Site:
    """A site as configured: its spec and where it lives."""

    spec: SiteSpec
    url: str  # scheme://host[:port], no trailing slash

    def address(self, conversation_id: str | None, model: str | None) -> str:
        """Where a turn starts: the conversation's page, or a new chat (with the model)."""
        spec = self.spec
        if conversation_id is not None:
            return self.url + spec.conversation_path.format(id=quote(conversation_id, safe=""))
        if model and spec.model_path:
            return self.url + spec.model_path.format(model=quote(model, safe=""))
        return self.url + spec.start_path


def _picker(spec: SiteSpec, model: str) -> tuple[Find, Find]:
    assert spec.model_picker is not None
    opener, option = (as_find(s) for s in spec.model_picker)
    text = option.text.replace("{model}", model) if option.text else None
    return opener, Find(option.css.replace("{model}", model), text)


def dom_problem(spec: SiteSpec, key: str, index: int) -> Problem:
    """The problem a watched element stands for."""
    if key == "sign":
        return spec.signs[index].problem
    if key == "challenge":
        challenge = spec.challenges[index]
        detail = f"the site shows a check ({as_find(challenge.find).describe()})"
        return Problem(ProblemKind.CHALLENGE, detail, action=challenge.action)
    return Problem(ProblemKind.LOGIN_WALL, "the site asks for a login: guest use is not offered")


def watched(spec: SiteSpec) -> dict[str, tuple[Find, ...]]:
    return {
        "challenge": tuple(as_find(c.find) for c in spec.challenges),
        "login": tuple(as_find(s) for s in spec.login_walls),
        "sign": tuple(as_find(s.find) for s in spec.signs),
    }


def watched_problem(spec: SiteSpec, position: int) -> Problem:
    """The problem of the element the tap reported: ``position`` counts through every watched
    element in :func:`watched`'s order, not within its group."""
    flat, _ = find_entries(watched(spec))
    return dom_problem(spec, *flat[position])


def with_retry_after(problem: Problem, header: str) -> Problem:
    """A rate limit backs off as long as the response's ``Retry-After`` header says, when it
    says (the site module only sees the status, the content type and the body)."""
    if problem.kind is not ProblemKind.RATE_LIMITED:
        return problem
    wait_ms = retry_after_ms({"Retry-After": header})
    return problem if wait_ms is None else dataclasses.replace(problem, retry_after_ms=wait_ms)


class Turn:
    """One prompt and its answer on ``tab``."""

    def __init__(self, site: Site, tab: Tab, timeouts: Timeouts, emit: Emit | None) -> None:
        self.site = site
        self.spec = site.spec
        self.tab = tab
        self.timeouts = timeouts
        self.emit = emit
        self.started = False  # output reached the caller: no retry from here on
        self.assembly = Assembly()
        self.generation = 0
        self.input: Find | None = None  # the prompt box, once open() found it
        self._fallback: asyncio.Task[None] | None = None  # the send button, if Enter failed

    async def open(self, address: str | None, model: str | None) -> None:
        """Go to ``address`` (None: stay), then wait until the page takes a prompt."""
        spec, limit = self.spec, self.timeouts.page_load_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        if address is not None:
            await self.tab.goto(address, limit)
        self.input = await self._wait_for_input(deadline)
        if spec.ready_script is not None:
            try:
                verdict = await self.tab.ready(spec.ready_script, max(deadline - loop.time(), 0.1))
            except PageTimeout:
                raise BridgeUnavailable(
                    f"the {spec.name} page did not become ready in {limit:g}s", site=spec.name
                ) from None
            if isinstance(verdict, str):
                raise BridgeUnavailable(verdict, site=spec.name)
        if model and spec.model_picker is not None and not spec.model_path:
            await self._pick(model)

    async def _wait_for_input(self, deadline: float) -> Find:
        spec = self.spec
        groups = {"popup": tuple(as_find(s) for s in spec.popups), **watched(spec)}
        groups["input"] = tuple(as_find(s) for s in spec.input)
        loop = asyncio.get_running_loop()
        for _ in range(MAX_POPUPS + 1):
            try:
                hit = await self.tab.find(groups, max(deadline - loop.time(), 0.1))
            except PageTimeout:
                names = ", ".join(f.describe() for f in groups["input"])
                raise BridgeBroken(
                    f"the {spec.name} page shows no prompt input ({names}) after "
                    f"{self.timeouts.page_load_s:g}s",
                    site=spec.name,
                    element=names,
                ) from None
            assert hit is not None
            key, index = hit
            if key == "input":
                return groups["input"][index]
            if key != "popup":
                raise SiteProblem(dom_problem(spec, key, index))
            await self.tab.click(groups["popup"][index])
        raise BridgeBroken(f"the {spec.name} page keeps showing pop-ups", site=spec.name)

    async def _pick(self, model: str) -> None:
        opener, option = _picker(self.spec, model)
        try:
            await self.tab.click(opener)
            await self.tab.find({"option": (option,)}, self.timeouts.page_load_s / 10)
            await self.tab.click(option)
        except (PageTimeout, PageFault):
            raise UnknownModel(
                f"{self.spec.name} offers no model {model!r} here", site=self.spec.name
            ) from None

    async def send(self, prompt: str) -> None:
        """Arm the tap, put the prompt in and submit it: Enter, and, should the input still
        hold the prompt after it, the send button (checked while the answer is read)."""
        tab = self.tab
        assert self.input is not None, "open() first"
        self.generation = tab.tap.begin()
        watch = [[k, f.css, f.text] for k, finds in watched(self.spec).items() for f in finds]
        await tab.arm(self.generation, watch, self.input)
        await tab.type(prompt)
        await tab.press("Enter")
        if self.spec.send:
            self._fallback = asyncio.create_task(self._send_button(prompt), name="bridge-send")

    async def _send_button(self, prompt: str) -> None:
        tab, input_ = self.tab, self.input
        assert input_ is not None
        try:
            if await tab.wait_cleared(input_, prompt, SUBMIT_GRACE_S):
                return
            groups = {"send": tuple(as_find(s) for s in self.spec.send)}
            hit = await tab.find(groups)
            if hit is None:
                names = ", ".join(f.describe() for f in groups["send"])
                raise BridgeBroken(
                    f"Enter did not send the prompt and no send button ({names}) shows",
                    site=self.spec.name,
                    element=names,
                )
            await tab.click(groups["send"][hit[1]])
        except (DaemonError, BrowserGone, PageFault, PageTimeout) as exc:
            tab.tap.interrupt(exc)  # the reader raises it

    async def read(self) -> Assembly:
        """The answer, emitted as it comes; ends at the parser's terminator."""
        try:
            return await self._read()
        finally:
            if self._fallback is not None:
                self._fallback.cancel()

    async def _read(self) -> Assembly:
        parser: SiteParser | None = None
        request, head = 0, TapMessage(Kind.HEAD)
        while parser is None or not parser.done:
            message = await self._next(waiting_for_first=parser is None)
            if message.kind is Kind.HEAD:
                if message.request != request:  # the page sent (another) request: follow it
                    request, parser, head = message.request, None, message
                continue
            if message.request != request and message.kind in (Kind.CHUNK, Kind.END):
                continue  # an earlier request of this turn still talking
            if message.kind is Kind.CHUNK:
                if parser is None:
                    parser = self._parser(head, message.data)
                await self._deliver(parser.feed(message.data))
            elif message.kind is Kind.END:
                if parser is None:
                    parser = self._parser(head, b"")
                await self._deliver(parser.close())
                break
            else:
                self._fail(message)
        return self.assembly

    def _parser(self, head: TapMessage, first: bytes) -> SiteParser:
        problem = self.spec.classify(head.status, head.content_type, first)
        if problem is not None:
            raise SiteProblem(with_retry_after(problem, head.retry_after))
        return self.spec.parser()

    async def _next(self, *, waiting_for_first: bool) -> TapMessage:
        limit = self.timeouts.first_chunk_s if waiting_for_first else self.timeouts.chunk_s
        try:
            async with asyncio.timeout(limit):
                return await self.tab.tap.next()
        except TimeoutError:
            phase = "first chunk" if waiting_for_first else "idle"
            raise UpstreamTimeout(
                f"no answer from {self.spec.name} within {limit:g}s ({phase} timeout)",
                phase=phase,
                site=self.spec.name,
            ) from None

    async def _deliver(self, events: list[Event]) -> None:
        if not events:
            return
        for event in events:
            self.assembly.add(event)
        if self.emit is not None:
            self.started = True
            await self.emit(events)

    def _fail(self, message: TapMessage) -> None:
        name = self.spec.name
        if message.error is not None:
            raise message.error
        if message.kind is Kind.DOM:
            raise SiteProblem(watched_problem(self.spec, message.index))
        if message.kind is Kind.GONE:
            raise BridgeUnavailable(f"Chromium went away mid-answer: {message.detail}", site=name)
        raise UpstreamUnavailable(
            f"the {name} stream broke off ({message.detail})", site=name, phase="stream"
        )

    async def stop(self) -> None:
        """Stop the generation on the page (the site's stop button, then the request)."""
        if self.tab.gone:
            return
        with contextlib.suppress(BrowserGone, PageFault, PageTimeout, TimeoutError):
            async with asyncio.timeout(STOP_GRACE_S):
                buttons = {"stop": tuple(as_find(s) for s in self.spec.stop.buttons)}
                if buttons["stop"] and (hit := await self.tab.find(buttons)) is not None:
                    await self.tab.click(buttons["stop"][hit[1]])
                if self.spec.stop.abort_fetch and self.generation:
                    await self.tab.control("abort", self.generation)
        await self._disarm()

    def finish(self) -> None:
        """The answer is complete: disarm the tap without keeping the caller waiting."""
        task = asyncio.create_task(self._disarm(), name="bridge-disarm")
        _LATER.add(task)
        task.add_done_callback(_LATER.discard)

    async def _disarm(self) -> None:
        with contextlib.suppress(BrowserGone, PageFault, PageTimeout, TimeoutError):
            async with asyncio.timeout(STOP_GRACE_S):
                await self.tab.control("disarm", self.generation)


def prompt_of(call: ChatCall, *, continuing: bool) -> str:
    """The text to type for ``call``. A site takes one user message at a time: continuing a
    conversation, that is the last message; otherwise earlier messages (a system prompt, a
    history the client kept) go first as a plain transcript, one ``Role: text`` per message.
    """
    if call.tools:
        raise Unsupported("website bridges take no tools", field="tools")
    if call.has_images():
        raise Unsupported("website bridges take text only", field="messages")
    if call.stop:
        raise Unsupported("website bridges cannot stop at stop sequences", field="stopSequences")
    *earlier, last = call.messages
    if last.get("role") != "user":
        raise RequestInvalid("a website bridge answers a user message last", field="messages")
    text = _text(last)
    if continuing or not earlier:
        return text
    lines = [f"{str(m.get('role', 'user')).capitalize()}: {_text(m)}" for m in earlier]
    return "\n\n".join([*lines, f"User: {text}"])


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return "\n".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")
