"""The mock chat.qwen.ai's knobs (:class:`QwenConfig`), models and validation steps.

The knobs every mock site has (chunking, timing, ``checks``) come from
:class:`~tests.fakes.sites.common.SiteConfig`; the scenarios are in
:mod:`tests.fakes.sites.qwen.scenarios`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tests.fakes.sites.common import SiteConfig, StepMode

JSON = dict[str, Any]


class Step(StrEnum):
    """The completion's validation steps (§5.3), in order; each is strict|warn|off through
    ``checks`` (``chats/new`` runs ``baxia``, ``headers`` and ``mode``)."""

    SCENARIO = "scenario"  # http_* scenarios
    WAF = "waf"
    BAXIA = "baxia"
    HEADERS = "headers"
    CHAT = "chat"
    MODEL = "model"
    RATE = "rate"
    MODE = "mode"  # chats/new: chat_mode guest/normal and the model


DEFAULT_MODES: dict[str, StepMode] = {}


@dataclass(frozen=True, slots=True)
class QwenModel:
    """One entry of ``/api/models``; ``visitor`` is ``info.is_visitor_active``."""

    id: str
    name: str
    visitor: bool
    thinking: bool
    description: str = ""

    def wire(self) -> JSON:
        """The model in the shape of §3.4."""
        capabilities = {"vision": True, "document": True, "video": False, "audio": False}
        meta = {
            "description": self.description or f"{self.name} (mock)",
            "capabilities": {**capabilities, "thinking": self.thinking, "search": True},
            "max_context_length": 262144,
            "max_summary_generation_length": 32768,
            "abilities": {"thinking": 1 if self.thinking else 0},
            "chat_type": ["t2t", "search"],
            "mcp": [],
            "modality": ["text"],
            "thinking_format": "summary",
            "auto_thinking": self.thinking,
            "auto_search": False,
        }
        info = {
            "id": self.id,
            "name": self.name,
            "meta": meta,
            "is_active": True,
            "is_visitor_active": self.visitor,
        }
        base = {"id": self.id, "name": self.name, "object": "model", "owned_by": "qwen"}
        return {**base, "info": info, "preset": True}


DEFAULT_MODELS = (
    QwenModel("qwen3.7-plus", "Qwen3.7-Plus", visitor=True, thinking=True),
    QwenModel("qwen3.6-plus", "Qwen3.6-Plus", visitor=True, thinking=False),
    QwenModel("qwen3.8-max", "Qwen3.8-Max", visitor=False, thinking=True),
)


@dataclass(frozen=True, kw_only=True)
class QwenConfig(SiteConfig):
    """The mock chat.qwen.ai's knobs (§5.3, §5.4); every one is a keyword of ``running_qwen``.

    ``incremental`` False sends cumulative text whatever the body asks (the reported quirk);
    ``legacy_think_phase`` sends reasoning as ``phase:"think"`` content instead of
    ``thinking_summary`` frames; ``content_type_html`` labels the SSE body ``text/html``;
    ``keep_alive_frames`` ``response.info`` frames follow ``response.created``;
    ``punish_concurrent`` punishes a second stream from one address while one is in flight.
    """

    spa_version: str = "0.3.11"
    bx_v: str = "2.5.37"
    bx_ttl_s: float = 600.0
    models: tuple[QwenModel, ...] = DEFAULT_MODELS
    incremental: bool = True
    legacy_think_phase: bool = False
    content_type_html: bool = False
    keep_alive_frames: int = 0
    punish_concurrent: bool = True

    def model(self, model_id: str) -> QwenModel | None:
        """The catalogue entry of ``model_id``."""
        return next((m for m in self.models if m.id == model_id), None)
