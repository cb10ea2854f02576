"""Where the daemon's time goes on the chat path: py-spy on the daemon under a steady load.

``python -m bench._chat_profile [--mode json|stream] [--via http|ws]
[--wire chat|messages|responses] [--clients 16] [--seconds 10] [--top 15] [--raw FILE]``
starts the fake upstream and the daemon as the chat benchmark does (daemon on one CPU, fake,
load generator and py-spy on the other), drives the daemon's endpoint of one wire (or
chat.send) with closed-loop clients and samples it with ``py-spy record --format raw --function``
(one line per distinct stack, with its sample count). It prints the functions with the most
self time (samples whose innermost Python frame is that function; C code called from Python,
orjson or a socket send, counts for its caller) and their inclusive time.

Not part of ``python -m bench``: py-spy needs ptrace rights, and a profile is for a person
looking for the next thing to make faster.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import orjson

from bench._chatload import Plan
from bench._chatmodel import ChatProfile, Mode
from bench._gateways import Stack, start_daemon, start_fake
from bench._spawn import REPO, inherited_affinity
from bench._wires import WIRES
from bench.rpc_roundtrip import Cpus

WARMUP_S = 1.0


def py_spy() -> str:
    """The py-spy next to this interpreter, else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    return found


def frame_name(frame: str) -> str:
    """``send (/full/path/daemon/rpc/ws.py:42)`` -> ``send (daemon/rpc/ws.py:42)``: paths
    relative to the repository, to site-packages, or to the standard library."""
    name, _, where = frame.partition(" (")
    path = where.removesuffix(")")
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif path.startswith(f"{REPO}/"):
        path = path.removeprefix(f"{REPO}/")
    elif "/lib/python3." in path:
        path = path.split("/lib/python3.", 1)[1].partition("/")[2]
    return f"{name} ({path})" if path else name


def self_and_total(raw: str) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    """Self samples (innermost frame) and inclusive samples per function, and the total."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    return own, inclusive, total


def area(name: str) -> str:
    """Where a function lives, coarsely: ``daemon/rpc``, ``aiohttp``, ``asyncio``, ..."""
    path = name.rpartition(" (")[2].rstrip(")").rsplit(":", 1)[0]
    if path == "<string>":
        return "generated code (fastjsonschema validators, dataclass __init__)"
    if path == "asyncio/runners.py":
        return "event loop (uvloop, C: polling, callbacks, socket reads)"
    parts = path.split("/")
    return "/".join(parts[:2]) if parts[0] == "daemon" and len(parts) > 2 else parts[0]


def report(raw: str, top: int) -> str:
    """The top functions by self time, with their inclusive time; then self time by area."""
    own, inclusive, total = self_and_total(raw)
    lines = [f"{total} samples (busy only)", f"{'self %':>7} {'total %':>8}  function (file)"]
    for name, count in own.most_common(top):
        share, whole = 100 * count / total, 100 * inclusive[name] / total
        lines.append(f"{share:7.1f} {whole:8.1f}  {name}")
    areas: collections.Counter[str] = collections.Counter()
    for name, count in own.items():
        areas[area(name)] += count
    lines += ["", f"{'self %':>7}  area"]
    lines += [f"{100 * count / total:7.1f}  {where}" for where, count in areas.most_common(12)]
    return "\n".join(lines)


def main() -> None:
    """Start, load, sample, report."""
    parser = argparse.ArgumentParser(prog="python -m bench._chat_profile", description=__doc__)
    parser.add_argument("--mode", choices=("json", "stream"), default="json")
    parser.add_argument("--via", choices=("http", "ws"), default="http")
    parser.add_argument("--wire", choices=tuple(WIRES), default="chat", help="with --via http")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--raw", type=Path, help="also keep py-spy's raw output here")
    args = parser.parse_args()
    mode: Mode = args.mode
    if args.via == "ws":
        args.wire = "chat"  # chat.send is the one WebSocket call
    cpus = Cpus.pick()
    work = Path(tempfile.mkdtemp(prefix="sb-prof-", dir="/tmp"))  # noqa: S108 - short paths
    with inherited_affinity(cpus.client):
        try:
            fake, base_url = start_fake(work, cpus.client)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        stack = Stack(fake, base_url, work)
        try:
            raw = profile(stack, cpus, args, mode, work)
        finally:
            stack.close()
    if args.raw is not None:
        args.raw.write_text(raw)
    where = WIRES[args.wire].path if args.via == "http" else "chat.send"
    print(f"daemon, {where} {mode}, {args.clients} clients, {args.seconds:g} s:")
    print(report(raw, args.top))


def profile(stack: Stack, cpus: Cpus, args: argparse.Namespace, mode: Mode, work: Path) -> str:
    """Drive the daemon in the background and sample it; py-spy's raw output."""
    gateway = start_daemon(work, stack.base_url, cpus.server, (args.wire,))
    stack.gateways.append(gateway)
    endpoint = next(e for e in gateway.endpoints if e.name == f"daemon-{args.via}")
    load = replace(
        ChatProfile.full(),
        phase_s=args.seconds + 2,
        warmup_s=WARMUP_S,
        max_requests=10_000_000,
        repeats=1,
        concurrency=(args.clients,),
        modes=(mode,),
        wires=(args.wire,),
        wire_clients=(args.clients,),
    )
    plan = Plan(load, (endpoint,), stack.fake.pid, cpus.server, cpus.client)
    command = [sys.executable, "-m", "bench._chatload", orjson.dumps(plan).decode()]
    out = work / "profile.raw"
    loadgen = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        time.sleep(WARMUP_S + 0.5)
        spy = [py_spy(), "record", "--pid", str(gateway.process.pid), "--format", "raw"]
        spy += ["--function", "--full-filenames", "--rate", str(args.rate)]
        spy += ["--duration", f"{args.seconds:g}"]
        subprocess.run(  # noqa: S603 - py-spy, installed beside this interpreter
            [*spy, "--output", str(out)], check=True, capture_output=True, timeout=args.seconds + 60
        )
    finally:
        loadgen.wait(timeout=args.seconds + 60)
    return out.read_text()


if __name__ == "__main__":
    main()
