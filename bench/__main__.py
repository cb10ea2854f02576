"""``python -m bench [--quick]``: run every benchmark module of this package in turn.

The exit code is 0 unless a benchmark crashed or could not measure (a missed target is not
a failure: the figures are informational).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import cast

import bench

Benchmark = Callable[[bool], bool]


def benchmark_modules() -> list[ModuleType]:
    """The public modules of ``bench`` that define ``run``, in name order."""
    modules = []
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if callable(getattr(module, "run", None)):
            modules.append(module)
    return modules


def main(argv: list[str] | None = None) -> int:
    """Run each benchmark; a crash in one is reported and the others still run."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (~30 s)")
    args = parser.parse_args(argv)
    failed = []
    for module in benchmark_modules():
        run = cast(Benchmark, module.run)
        try:
            ok = run(args.quick)
        except Exception:
            traceback.print_exc()
            ok = False
        if not ok:
            failed.append(module.__name__)
    if failed:
        print(f"\nbench: failed or crashed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
