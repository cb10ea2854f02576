"""The methods table: RPC method name -> handler. One module per namespace.

``rpc_schema/openrpc.json`` describes exactly these methods (a test checks both ways).
"""

from __future__ import annotations

from collections.abc import Mapping

from daemon.rpc.dispatch import Handler
from daemon.rpc.handlers import auth, bridges, chat, providers, system

METHODS: Mapping[str, Handler] = {
    "rpc.discover": system.discover,
    "daemon.info": system.info,
    "daemon.health": system.health,
    "providers.list": providers.list_providers,
    "providers.resolve": providers.resolve_provider,
    "models.list": providers.list_models,
    "auth.status": auth.status,
    "auth.apikey.set": auth.apikey_set,
    "auth.apikey.delete": auth.apikey_delete,
    "auth.oauth.providers": auth.oauth_providers,
    "auth.oauth.start": auth.oauth_start,
    "auth.oauth.wait": auth.oauth_wait,
    "auth.oauth.complete": auth.oauth_complete,
    "auth.oauth.cancel": auth.oauth_cancel,
    "auth.oauth.logout": auth.oauth_logout,
    "auth.oauth.import": auth.oauth_import,
    "chat.send": chat.send,
    "chat.cancel": chat.cancel,
    "bridges.status": bridges.status,
    "bridges.open": bridges.open_site,
}
