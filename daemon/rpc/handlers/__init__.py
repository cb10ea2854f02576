"""The methods table: RPC method name -> handler. One module per namespace.

``rpc_schema/openrpc.json`` describes exactly these methods (a test checks both ways).
"""

from __future__ import annotations

from collections.abc import Mapping

from daemon.rpc.dispatch import Handler
from daemon.rpc.handlers import chat, providers, system

METHODS: Mapping[str, Handler] = {
    "rpc.discover": system.discover,
    "daemon.info": system.info,
    "daemon.health": system.health,
    "providers.list": providers.list_providers,
    "providers.resolve": providers.resolve_provider,
    "models.list": providers.list_models,
    "chat.send": chat.send,
    "chat.cancel": chat.cancel,
}
