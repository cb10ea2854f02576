"""The benchmark runs end to end (its figures are for people; only that it ran is asserted)."""

from __future__ import annotations

from tests.fakes.families.server import load_wires
from tests.support.daemon import run_python


def test_the_benchmarks_run_and_report_every_figure() -> None:
    result = run_python("-m", "bench", "--quick")
    assert result.returncode == 0, result.stdout + result.stderr
    for figure in (
        "HTTP POST /rpc, 32 clients",
        "WebSocket, 1 connection, pipelined",
        "Cold start",
        "Idle RSS",
        "Per-family chat benchmark",
        "stream added p50 (ms)",
        "Interleaved one-client latency",
        "Credential benchmark",
        "refresh grants sent",
        "auth.oauth.start to URL p50 (ms)",
        "Bridge benchmark",
        "warm added p50 (ms)",
        "cold first call (ms)",
        "browser RSS, pages once (MB)",
        "browser PSS (MB)",
    ):
        assert figure in result.stdout
    for wire in load_wires():
        if wire.uses_api_key:  # the Vertex fakes take only tokens they issued (see the bench)
            assert f"\n{wire.family}\n" in result.stdout, f"no figures for {wire.family}"
    assert "Problems: none" in result.stdout
