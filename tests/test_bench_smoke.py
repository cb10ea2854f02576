"""The benchmark runs end to end (its figures are for people; only that it ran is asserted)."""

from __future__ import annotations

from tests.support.daemon import run_python


def test_the_rpc_benchmark_runs_and_reports_every_figure() -> None:
    result = run_python("-m", "bench", "--quick")
    assert result.returncode == 0, result.stdout + result.stderr
    for figure in (
        "HTTP POST /rpc, 32 clients",
        "WebSocket, 1 connection, pipelined",
        "Cold start",
        "Idle RSS",
        "Per-family chat benchmark",
        "stream added p50 (ms)",
    ):
        assert figure in result.stdout
    assert "Problems: none" in result.stdout
