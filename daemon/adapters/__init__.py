"""One adapter module per wire family, loaded on first use (start-up imports none).

An adapter module provides pure ``build_request`` / ``parse_*`` functions and the two I/O
functions of :class:`Adapter`; a family with a token-counting call of its own also has a
``count_tokens`` function (:class:`Counter`, found by :func:`counter_for`). ``ADAPTERS`` maps
each family to its module;
``PLANNED_FAMILIES`` are families the catalog names whose adapters are not written yet:
calls to them fail with a clear Unsupported error. A family whose wire is one the daemon
serves on ``/v1`` (:data:`NATIVE_WIRES`) can also send such a request on whole
(its ``forwarding``, a :class:`~daemon.adapters.forwarding.Forwarding`, found by
:func:`forwarder_for`).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Protocol, cast

import aiohttp

from daemon.adapters.types import ChatCall, Event, Target, Wire
from daemon.errors import Unsupported
from daemon.providers.model import ApiFamily

if TYPE_CHECKING:
    from daemon.adapters.forwarding import Forwarding


class Adapter(Protocol):
    """What routing needs from a family's module."""

    def stream(
        self, session: aiohttp.ClientSession, target: Target, call: ChatCall, connect_timeout: float
    ) -> AsyncGenerator[list[Event], None]: ...

    async def models(
        self, session: aiohttp.ClientSession, target: Target, connect_timeout: float
    ) -> list[str]: ...


class Counter(Protocol):
    """A family module that can ask the provider how many input tokens a call has."""

    async def count_tokens(
        self, session: aiohttp.ClientSession, target: Target, call: ChatCall, connect_timeout: float
    ) -> int: ...


class Forwards(Protocol):
    """A family module that can send a request of its own wire on whole."""

    forwarding: Forwarding


ADAPTERS: Mapping[ApiFamily, str] = {
    ApiFamily.OPENAI_COMPLETIONS: "daemon.adapters.openai_completions",
    ApiFamily.ANTHROPIC_MESSAGES: "daemon.adapters.anthropic_messages",
    ApiFamily.OPENAI_RESPONSES: "daemon.adapters.openai_responses",
    ApiFamily.GOOGLE_GENERATIVE_AI: "daemon.adapters.google_generative_ai",
    ApiFamily.COHERE_CHAT: "daemon.adapters.cohere_chat",
    ApiFamily.GOOGLE_VERTEX: "daemon.adapters.google_vertex",
    ApiFamily.AZURE_OPENAI: "daemon.adapters.azure_openai",
    ApiFamily.BEDROCK_CONVERSE: "daemon.adapters.bedrock_converse",
    ApiFamily.OPENAI_CODEX_RESPONSES: "daemon.adapters.openai_codex",
    # Copilot speaks Chat Completions; its editor headers are the catalog row's.
    ApiFamily.GITHUB_COPILOT: "daemon.adapters.github_copilot",
    ApiFamily.GOOGLE_GEMINI_CLI: "daemon.adapters.google_gemini_cli",
}
# Families the catalog may name before their adapters exist (none today).
PLANNED_FAMILIES: frozenset[ApiFamily] = frozenset()


# The /v1 wire each family speaks to its providers: a request of that wire needs no
# translation to reach them (Azure's and the login-bound variants differ in URL or body).
NATIVE_WIRES: Mapping[ApiFamily, Wire] = {
    ApiFamily.OPENAI_COMPLETIONS: Wire.CHAT_COMPLETIONS,
    ApiFamily.ANTHROPIC_MESSAGES: Wire.MESSAGES,
    ApiFamily.OPENAI_RESPONSES: Wire.RESPONSES,
}

_LOADED: dict[ApiFamily, Adapter] = {}


def adapter_for(family: ApiFamily) -> Adapter:
    """The adapter module of ``family``; Unsupported for a family without one yet."""
    adapter = _LOADED.get(family)
    if adapter is not None:
        return adapter
    try:
        path = ADAPTERS[family]
    except KeyError:
        raise Unsupported(f"the {family} API family is not supported by this version") from None
    adapter = _LOADED[family] = cast(Adapter, importlib.import_module(path))
    return adapter


def counter_for(family: ApiFamily) -> Counter | None:
    """The adapter of ``family`` when it can count tokens with the provider; None otherwise."""
    try:
        adapter = adapter_for(family)
    except Unsupported:
        return None
    return cast(Counter, adapter) if hasattr(adapter, "count_tokens") else None


def forwarder_for(family: ApiFamily, wire: Wire) -> Forwarding | None:
    """How ``family`` takes a request of ``wire`` whole, when that is the wire it speaks."""
    if NATIVE_WIRES.get(family) is not wire:
        return None
    return cast(Forwards, adapter_for(family)).forwarding
