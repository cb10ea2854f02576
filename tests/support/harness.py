"""``python -m tests.support.harness serve [flags]``: the real daemon plus the test methods."""

from __future__ import annotations

import sys

from daemon import cli, log
from daemon.config import load_settings
from daemon.errors import ConfigInvalid, ListenerUnavailable
from daemon.serve import serve
from rpc_schema import load_openrpc
from tests.support.methods import Probes, extended


async def _main(settings_args: list[str]) -> int:
    args = cli.build_parser().parse_args(["serve", *settings_args])
    flags = {"socket": args.socket, "tcp": args.tcp, "log_level": args.log_level}
    settings = load_settings(args.config, flags=flags)
    log.configure(settings.log_level)
    handlers, document = extended(load_openrpc(), Probes())
    return await serve(settings, handlers=handlers, openrpc=document)


if __name__ == "__main__":
    try:
        raise SystemExit(cli.run(_main(sys.argv[2:])))
    except (ConfigInvalid, ListenerUnavailable) as exc:
        print(f"harness: {exc.detail}", file=sys.stderr)
        raise SystemExit(1) from None
