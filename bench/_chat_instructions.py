"""Instructions per request on the /v1 path, the daemon beside the bare proxy: a figure that
does not move with the machine.

``python -m bench._chat_instructions [--wire chat|messages|responses ...] [--mode json|stream
...] [--requests 200]`` starts the fake upstream, then for each gateway (the daemon, the bare
pass-through proxy of :mod:`bench._passthrough`) starts it under ``valgrind --tool=callgrind``
with counting off, sends warm-up requests, turns counting on (``callgrind_control -i on``) for
``--requests`` sequential requests of each wire and mode, and prints the user-space
instructions per request of each, and the daemon's over the proxy's.

Timings on a shared machine swing 15-25% from run to run; instruction counts repeat to about
0.5%, so a change to the hot path is judged here first and confirmed by
:mod:`bench.chat_gateway`. Kernel work (the socket calls, the same for both) is not counted.
Not part of ``python -m bench``: it needs valgrind, and a run takes a minute or two.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import aiohttp
import orjson

from bench._chatmodel import MODEL, WireName
from bench._gateways import Stack, daemon_config, daemon_model, start_fake
from bench._spawn import Server, start_server
from bench._wires import WIRES

WARMUP = 60
READY_TIMEOUT_S = 300.0  # the interpreter's start-up, instrumented, takes a while
CHUNKS = 20


def callgrind(out: Path) -> list[str]:
    """The command prefix running a server under callgrind with counting off."""
    valgrind = shutil.which("valgrind")
    if valgrind is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    return [valgrind, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]


async def send(socket_path: Path, wire: WireName, model: str, stream: bool, count: int) -> None:
    """``count`` requests of ``wire``, one after another, each answer read to its end."""
    spec = WIRES[wire]
    body = orjson.dumps(spec.body(model + (f"+chunks={CHUNKS}" if stream else ""), stream))
    headers = {"Content-Type": "application/json", **spec.headers}
    connector = aiohttp.UnixConnector(path=str(socket_path))
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(count):
            async with session.post(f"http://gateway{spec.path}", data=body, headers=headers) as r:
                answer = await r.read()
                if r.status != 200:
                    raise RuntimeError(f"{spec.path}: HTTP {r.status}: {answer[:200]!r}")


def counted(server: Server, out: Path) -> int:
    """The instructions counted so far (dumps the running server's counters)."""
    subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True)  # noqa: S607
    total = 0
    for path in out.parent.glob(f"{out.name}*"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
        path.unlink()
    return total


def measure(
    server: Server, out: Path, model_of: Callable[[WireName], str], args: argparse.Namespace
) -> dict[str, float]:
    """Instructions per request for each wire and mode, on one started server."""
    figures: dict[str, float] = {}
    for wire, mode in itertools.product(args.wire, args.mode):
        stream = mode == "stream"
        asyncio.run(send(server.socket_path, wire, model_of(wire), stream, WARMUP))
        counted(server, out)  # the warm-up's counts (none: counting is off) are thrown away
        subprocess.run(
            ["callgrind_control", "-i", "on", str(server.pid)], check=True, capture_output=True
        )  # noqa: S607
        asyncio.run(send(server.socket_path, wire, model_of(wire), stream, args.requests))
        subprocess.run(
            ["callgrind_control", "-i", "off", str(server.pid)], check=True, capture_output=True
        )  # noqa: S607
        figures[f"{wire} {mode}"] = counted(server, out) / args.requests
    return figures


def main() -> None:
    """Start, count, report."""
    parser = argparse.ArgumentParser(prog="python -m bench._chat_instructions", description=__doc__)
    parser.add_argument("--wire", nargs="+", choices=tuple(WIRES), default=list(WIRES))
    parser.add_argument("--mode", nargs="+", choices=("json", "stream"), default=["json", "stream"])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sb-instr-", dir="/tmp"))  # noqa: S108 - short paths
    fake, base_url = start_fake(work, None)
    stack = Stack(fake, base_url, work)
    results: dict[str, dict[str, float]] = {}
    try:
        gateways = {
            "daemon": (
                "daemon",
                ["--config", str(daemon_config(work, base_url))],
                daemon_model,
            ),
            "proxy": ("bench._passthrough", ["--upstream", base_url], lambda wire: MODEL),
        }
        for name, (module, extra, model_of) in gateways.items():
            out = work / f"{name}.callgrind"
            server = start_server(name, module, None, extra, runner=callgrind(out))
            try:
                server.wait_ready(READY_TIMEOUT_S)
                results[name] = measure(server, out, model_of, args)
            finally:
                server.close()
    finally:
        stack.close()
    print(f"instructions per request (user space, {args.requests} sequential requests each)")
    print(f"{'':24}{'daemon':>12}{'proxy':>12}{'ratio':>8}")
    for key, daemon in results["daemon"].items():
        proxy = results["proxy"][key]
        print(f"{key:24}{daemon / 1000:>11,.0f}k{proxy / 1000:>11,.0f}k{daemon / proxy:>7.2f}x")


if __name__ == "__main__":
    main()
