"""What the machine itself costs: a round trip between two processes, across CPUs or on one.

A gateway pinned to the other CPU turns every request's client <-> upstream round trip into
two that cross CPUs, so the wake-up cost of a cross-CPU round trip is a floor under the
latency any gateway adds on this rig (on a VM, or with other processes on the CPUs, its p99
alone can reach milliseconds). Measured with one byte over a Unix socket pair, after a pause
like the one a single client's gateway sits through while the upstream works, so that the
woken CPU may have gone idle (waking an idle virtual CPU is what costs).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from bench._model import percentile
from bench._spawn import inherited_affinity


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """Microseconds for one byte there and back."""

    p50_us: float
    p99_us: float


def round_trip(
    here: int | None, there: int | None, count: int, budget_s: float, pause_s: float = 0.0003
) -> RoundTrip:
    """``count`` (or ``budget_s`` worth of) round trips, ``pause_s`` apart, between a process
    pinned to ``here`` and a child pinned to ``there``."""
    ours, theirs = socket.socketpair()
    with inherited_affinity(there):
        child = os.fork()
    if child == 0:  # the echo: until EOF
        ours.close()
        while data := theirs.recv(16):
            theirs.sendall(data)
        os._exit(0)
    theirs.close()
    samples: list[int] = []
    try:
        with inherited_affinity(here):
            deadline = time.perf_counter() + budget_s
            while len(samples) < count and time.perf_counter() < deadline:
                start = time.perf_counter_ns()
                ours.sendall(b"x")
                ours.recv(16)
                samples.append(time.perf_counter_ns() - start)
                time.sleep(pause_s)
    finally:
        ours.close()
        os.waitpid(child, 0)
    samples.sort()
    return RoundTrip(percentile(samples, 50) / 1e3, percentile(samples, 99) / 1e3)
