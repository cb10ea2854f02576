"""The mock chat.z.ai's JSON API besides the completion (reference §2.2–§2.4, §5.2 routes):
guest bootstrap, public config, models, scene config, settings and chats."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.sites.common import RECORD, StepMode
from tests.fakes.sites.zai.config import Step, ZaiModel, ZaiScenario
from tests.fakes.sites.zai.state import Chat, Guest, ZaiState
from tests.fakes.sites.zai.wire import GUEST_REFUSED, SESSION_EXPIRED

CHAT_NOT_FOUND = "Chat not found"


def bearer(request: web.Request) -> str:
    return request.headers.get("Authorization", "").removeprefix("Bearer ").strip()


def detail(status: int, text: str) -> web.Response:
    return web.json_response({"detail": text}, status=status)


def model_row(model: ZaiModel) -> dict[str, Any]:
    """One ``/api/models`` entry (§2.3)."""
    capabilities = {
        "enable_thinking": True,
        "preview_mode": True,
        "image_generation": False,
        "reasoning_effort": model.reasoning_effort,
        "web_search": True,
    }
    meta = {"description": model.description, "capabilities": capabilities}
    return {
        "id": model.id,
        "name": model.name,
        "object": "model",
        "owned_by": "openai",
        "info": {"meta": meta, "params": {}},
    }


class Api:
    """The handlers, over the site's state."""

    def __init__(self, state: ZaiState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v1/auths/", self.auths),
            web.post("/api/v1/auths/guest", self.auths),
            web.get("/api/config", self.config),
            web.get("/api/models", self.models),
            web.get("/api/v1/scene-cfg/", self.scene_config),
            web.get("/api/v1/users/user/settings", self.settings),
            web.post("/api/v1/users/user/settings/update", self.update_settings),
            web.post("/api/v1/chats/new", self.new_chat),
            web.get("/api/v1/chats/{chat_id}", self.get_chat),
            web.delete("/api/v1/chats/", self.delete_chats),
        ]

    def _guest(self, request: web.Request) -> Guest | None:
        """The live guest of the request's bearer; records the auth verdict."""
        guest = self.state.guest(bearer(request))
        request[RECORD].check(Step.AUTH, guest is not None, StepMode.STRICT, "no live bearer")
        return guest

    async def auths(self, request: web.Request) -> web.Response:
        """A valid bearer (or ``token`` cookie) keeps its guest; anything else mints a new one
        silently, stale bearers included (§2.2)."""
        if self.state.scenarios.take(ZaiScenario.GUEST_MINTING_REFUSED) is not None:
            request[RECORD].check(Step.AUTH, False, StepMode.STRICT, "guest_minting_refused")
            return detail(403, GUEST_REFUSED)
        guest = self.state.guest(bearer(request) or request.cookies.get("token"))
        if guest is None:
            guest = self.state.mint_guest()
        response = web.json_response(guest.as_json())
        response.set_cookie("token", guest.token, path="/", httponly=True, samesite="Lax")
        return response

    async def config(self, request: web.Request) -> web.Response:
        config = self.state.config
        features = {
            "auth": True,
            "enable_signup": True,
            "enable_login_form": True,
            "enable_captcha": config.enable_captcha,
            "enable_websocket": False,
            "enable_mcp": True,
            "enable_artifacts_mode": True,
            "enable_upload_image": True,
        }
        return web.json_response(
            {
                "status": True,
                "name": "Z.ai",
                "version": config.fe_version,
                "default_locale": "en-US",
                "oauth": {"providers": {"google": "google", "github": "github", "maas": "maas"}},
                "features": features,
                "default_models": config.default_model,
                "completion_version": "2",
                "mcp_servers": [{"name": "advanced-search", "status": "enabled"}],
            }
        )

    async def models(self, request: web.Request) -> web.Response:
        """The catalogue; answered late under ``slow_page_ms`` / ``slow_hydration``, which
        keeps the SPA's input from appearing (the SPA mounts once models are in)."""
        config = self.state.config
        delay_ms = config.slow_page_ms
        slow = self.state.scenarios.take(ZaiScenario.SLOW_HYDRATION)
        if slow is not None:
            delay_ms = float(slow.param("ms", 3000))
        if config.delay_s(delay_ms) > 0:
            with contextlib.suppress(TimeoutError):  # reset ends the wait early
                async with asyncio.timeout(config.delay_s(delay_ms)):
                    await self.state.interrupt.wait()
        return web.json_response({"data": [model_row(m) for m in config.models]})

    async def scene_config(self, request: web.Request) -> web.Response:
        return web.json_response({"code": 0, "msg": "success", "data": []})

    async def settings(self, request: web.Request) -> web.Response:
        return web.json_response({"ui": {"timezone": self.state.book.timezone}})

    async def update_settings(self, request: web.Request) -> web.Response:
        body = request[RECORD].body
        ui = body.get("ui") if isinstance(body, dict) else None
        if isinstance(ui, dict) and isinstance(ui.get("timezone"), str):
            self.state.book.timezone = ui["timezone"]
        return await self.settings(request)

    async def new_chat(self, request: web.Request) -> web.Response:
        """Store the chat (§2.4) with the first user message and answer its record."""
        guest = self._guest(request)
        if guest is None:
            return detail(401, SESSION_EXPIRED)
        body = request[RECORD].body
        chat = body.get("chat") if isinstance(body, dict) else None
        if not isinstance(chat, dict):
            return detail(400, "chat is required")
        history: dict[str, Any] = chat.get("history") or {}
        messages = copy.deepcopy(history.get("messages") or {})
        for message in messages.values():
            message.setdefault("childrenIds", [])
        stored = Chat(
            id=str(uuid.uuid4()),
            user_id=guest.id,
            chat={k: v for k, v in chat.items() if k != "history"},
            messages=messages,
            current_id=history.get("currentId"),
            created=int(self.state.clock.now()),
        )
        self.state.book.chats[stored.id] = stored
        return web.json_response(stored.record(int(self.state.clock.now())))

    async def get_chat(self, request: web.Request) -> web.Response:
        guest = self._guest(request)
        if guest is None:
            return detail(401, SESSION_EXPIRED)
        chat = self.state.book.chats.get(request.match_info["chat_id"])
        if chat is None or chat.user_id != guest.id:
            return detail(404, CHAT_NOT_FOUND)
        return web.json_response(chat.record(int(self.state.clock.now())))

    async def delete_chats(self, request: web.Request) -> web.Response:
        guest = self._guest(request)
        if guest is None:
            return detail(401, SESSION_EXPIRED)
        chats = self.state.book.chats
        for chat_id in [k for k, c in chats.items() if c.user_id == guest.id]:
            del chats[chat_id]
        return web.json_response(True)
