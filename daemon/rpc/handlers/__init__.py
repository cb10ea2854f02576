"""The methods table: RPC method name -> handler. One module per namespace.

``rpc_schema/openrpc.json`` describes exactly these methods (a test checks both ways).
"""

from __future__ import annotations

from collections.abc import Mapping

from daemon.rpc.dispatch import Handler
from daemon.rpc.handlers import system

METHODS: Mapping[str, Handler] = {
    "rpc.discover": system.discover,
    "daemon.info": system.info,
    "daemon.health": system.health,
}
