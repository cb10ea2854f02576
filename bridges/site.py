"""The contract between the bridge engine and a site module (``bridges/zai.py``, ``qwen.py``).

A site module is data plus one parser: it fills in a :class:`SiteSpec` (URLs, selectors, the
completion request's URL pattern, scripts that run in the page) and writes a
:class:`SiteParser` for the site's stream. The engine (:mod:`bridges.runner`) does everything
else, the same way for every site:

1. opens the site's page in its own persistent Chromium profile, with the tap
   (:mod:`bridges.tap`) installed before any of the site's scripts run;
2. goes to ``start_path`` (a new chat; ``model_path`` when a model was asked for) or to
   ``conversation_path`` (a chat to continue), clicks any visible ``popups``, and waits for
   one of ``input`` (``page_load_timeout_s``); a visible ``login_walls``, ``challenges`` or
   ``signs`` element ends the wait with its error instead, and when nothing shows the call fails
   :class:`~daemon.errors.BridgeBroken` naming the input selectors;
3. waits until ``ready_script`` is truthy (a string it returns is a reason the site cannot be
   used: :class:`~daemon.errors.BridgeUnavailable` with that text);
4. picks the model with ``model_picker`` when one was asked for and the path did not;
5. focuses the input, inserts the prompt, presses Enter; if the input still holds the prompt
   afterwards, clicks the first visible ``send`` element;
6. reads the completion response the page's own ``window.fetch`` received (the first request
   whose URL matches ``completion_url`` after the prompt went in): ``classify(status,
   content_type, first_chunk)`` first, then every chunk through a fresh ``parser()``, emitting
   its events as they come, until ``parser.done`` or the end of the body (then
   ``parser.close()``); the first-chunk and between-chunk timeouts apply; a visible challenge,
   login wall or sign during the wait ends it too; a rate limit's ``Retry-After`` header, when
   the response has one, is its back-off;
7. reads the conversation id from the page's URL with ``conversation_id``.

A :class:`Problem` (from ``classify``, or raised by the parser as :class:`SiteProblem`)
becomes the typed error of its :class:`ProblemKind`; when ``reload_helps`` is set and nothing
reached the caller yet, the engine reloads the page and sends the turn again, once per call.

Selectors are CSS (``document.querySelector``), or a :class:`Find` when the element is known
by its text (localized buttons, say). "Visible" means laid out with a non-empty box and not
``visibility: hidden``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from daemon.adapters.types import Event
from daemon.config import SiteSettings
from daemon.errors import (
    BridgeBroken,
    BridgeChallenge,
    BridgeUnavailable,
    ConfigInvalid,
    DaemonError,
    RateLimited,
    Unsupported,
    UpstreamRejected,
    UpstreamUnavailable,
)


@dataclass(frozen=True, slots=True)
class Find:
    """An element found by CSS and, when ``text`` is set, by its text: a regular expression
    (JavaScript syntax, matched case-insensitively) the element's ``innerText`` must match."""

    css: str
    text: str | None = None

    def describe(self) -> str:
        return self.css if self.text is None else f"{self.css} with text /{self.text}/i"


Selector = str | Find


def as_find(selector: Selector) -> Find:
    """Every selector as a :class:`Find`."""
    return selector if isinstance(selector, Find) else Find(selector)


class ProblemKind(StrEnum):
    """What went wrong, which decides the caller's error (:func:`problem_error`)."""

    CHALLENGE = "challenge"  # a person must act (captcha, slider, WAF check): BridgeChallenge
    LOGIN_WALL = "login-wall"  # guest use is gone; the site wants a login: BridgeUnavailable
    SESSION = "session"  # the guest session or the page's build is stale: UpstreamAuthFailed
    RATE_LIMITED = "rate-limited"  # slow down: RateLimited with retry_after_ms
    MODEL_REFUSED = "model-refused"  # this model is not for guests: Unsupported
    REFUSED = "refused"  # the site refused this request (too long, moderation): UpstreamRejected
    UNAVAILABLE = "unavailable"  # site down or blocking us (WAF block, 5xx): BridgeUnavailable
    CHANGED = "changed"  # the site's protocol changed (signature, shapes): BridgeBroken
    TRUNCATED = "truncated"  # the stream ended before its terminator: UpstreamUnavailable


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the site said instead of (or in the middle of) an answer.

    ``detail`` is for the caller: the site's own words or a short description, never the
    prompt or the answer. ``reload_helps``: a page reload is known to fix it (an expired guest
    token, a stale front-end build, a captcha token that a fresh page re-mints); the engine
    then reloads and retries the turn once. ``action`` says what a person must do
    (challenges); ``retry_after_ms`` how long to back off (rate limits).
    """

    kind: ProblemKind
    detail: str
    reload_helps: bool = False
    action: str | None = None
    retry_after_ms: int | None = None


class SiteProblem(Exception):  # noqa: N818 - it carries a Problem; the engine makes the error
    """Raised by a :class:`SiteParser` when the stream itself reports a problem (an error
    frame inside an HTTP 200 stream, a missing terminator at ``close``)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


class SiteParser(Protocol):
    """Turns the bytes of one completion response into normalized events.

    A fresh parser is made for every response. ``feed`` gets the body's chunks as the page
    received them (split anywhere: mid-line, mid-UTF-8) and returns the events they complete
    (:class:`~daemon.adapters.types.TextDelta`, ``ReasoningDelta``, ``UsageEvent``,
    ``Finish``, ...); ``done`` turns True once the site's terminator was seen (the engine then
    stops reading, even if the connection stays open); ``close`` is called when the body ended
    before that and returns any last events or raises :class:`SiteProblem` (usually
    ``TRUNCATED``). Either method raises :class:`SiteProblem` for an in-band error.
    """

    @property
    def done(self) -> bool: ...

    def feed(self, chunk: bytes) -> list[Event]: ...

    def close(self) -> list[Event]: ...


@dataclass(frozen=True, slots=True)
class Challenge:
    """An element whose visibility means a person must act, and what they must do."""

    find: Selector
    action: str  # e.g. "tick the security check box"


@dataclass(frozen=True, slots=True)
class Sign:
    """An element whose visibility means ``problem``: what the page shows when the site
    refused something the tap does not see (a block page instead of the app, an error the
    page's own requests met before the completion was sent)."""

    find: Selector
    problem: Problem


@dataclass(frozen=True, slots=True)
class Stop:
    """How ``chat.cancel`` stops a generation on the page.

    The first visible of ``buttons`` is clicked (the site's own stop control); then, when
    ``abort_fetch`` is set, the tap aborts the completion request (the page sees an
    ``AbortError``, as after a user's stop, and the site sees the connection close).
    """

    buttons: tuple[Selector, ...] = ()
    abort_fetch: bool = True


@dataclass(frozen=True, slots=True)
class SiteSpec:
    """Everything the engine needs to know about one site; see the module's docstring."""

    name: str  # the BridgeHint.site of its catalog rows, and the [bridges.<name>] table
    default_url: str  # "https://chat.z.ai"; [bridges.<name>] url overrides it
    start_path: str  # where a new conversation starts: "/" or "/c/guest"
    conversation_path: str  # "/c/{id}": how a conversationId reopens its chat
    completion_url: str  # JavaScript regex source matched against the URL given to fetch()
    input: tuple[Selector, ...]  # the prompt box, first visible wins
    parser: Callable[[], SiteParser]
    classify: Callable[[int, str, bytes], Problem | None]  # status, content type, first chunk
    conversation_id: Callable[[str], str | None]  # the page's URL after a turn -> its id
    models_script: str  # JS expression -> (a promise of) the model ids a guest may use
    send: tuple[Selector, ...] = ()  # send buttons, when Enter did not submit
    ready_script: str | None = None  # JS expression: truthy = ready, a string = why not
    challenges: tuple[Challenge, ...] = ()
    login_walls: tuple[Selector, ...] = ()
    signs: tuple[Sign, ...] = ()  # other elements that stand for a Problem
    popups: tuple[Selector, ...] = ()  # dismiss buttons clicked whenever visible before typing
    stop: Stop = Stop()
    model_path: str | None = None  # "/?model={model}": a start path that preselects a model
    # (opener, option) clicked in turn to pick a model; "{model}" in the option's CSS or text
    # is replaced by the model id.
    model_picker: tuple[Selector, Selector] | None = None


# --- what the engine makes of a Problem, and where it finds a SiteSpec -------------------------


def _challenge(p: Problem, site: str) -> DaemonError:
    return BridgeChallenge(p.detail, site=site, action=p.action or "pass the site's check")


def _rate_limited(p: Problem, site: str) -> DaemonError:
    return RateLimited(p.detail, site=site, retryAfterMs=p.retry_after_ms or 60_000)


_ERRORS: Mapping[ProblemKind, Callable[[Problem, str], DaemonError]] = {
    ProblemKind.CHALLENGE: _challenge,
    ProblemKind.LOGIN_WALL: lambda p, s: BridgeUnavailable(p.detail, site=s, reason="login"),
    ProblemKind.SESSION: lambda p, s: BridgeUnavailable(p.detail, site=s, reason="session"),
    ProblemKind.RATE_LIMITED: _rate_limited,
    ProblemKind.MODEL_REFUSED: lambda p, s: Unsupported(p.detail, site=s, field="model"),
    ProblemKind.REFUSED: lambda p, s: UpstreamRejected(p.detail, site=s),
    ProblemKind.UNAVAILABLE: lambda p, s: BridgeUnavailable(p.detail, site=s, reason="site"),
    ProblemKind.CHANGED: lambda p, s: BridgeBroken(p.detail, site=s),
    ProblemKind.TRUNCATED: lambda p, s: UpstreamUnavailable(p.detail, site=s, phase="stream"),
}


def problem_error(problem: Problem, site: str) -> DaemonError:
    """The caller's typed error for ``problem`` on ``site``."""
    return _ERRORS[problem.kind](problem, site)


def load_spec(name: str, settings: SiteSettings) -> SiteSpec | str:
    """The site's spec, or why there is none (a built-in site whose module is missing).
    A ``spec`` named in the config must load: ConfigInvalid otherwise."""
    where = settings.spec or f"bridges.{name}:SPEC"
    module_name, _, attribute = where.partition(":")
    try:
        spec = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        if settings.spec is not None:
            raise ConfigInvalid("config", f"bridges.{name}.spec", f"cannot load: {exc}") from None
        return f"this version has no {name} bridge ({where})"
    if not isinstance(spec, SiteSpec):
        raise ConfigInvalid("config", f"bridges.{name}.spec", f"{where} is not a SiteSpec")
    return spec
