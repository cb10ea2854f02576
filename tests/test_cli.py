"""The ``switchboard`` command as a user runs it: rpc, status, stdio, doctor, exit codes."""

from __future__ import annotations

import subprocess
import sys

import orjson

from tests.support.daemon import DaemonProcess, isolated_env, run_python, short_tempdir


def switchboard(
    daemon: DaemonProcess | None, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    if daemon is None:
        root = short_tempdir()
        env, sock = isolated_env(root), str(root / "nothing.sock")
    else:
        env, sock = daemon.env, str(daemon.socket)
    env = {k: v for k, v in env.items() if k != "NOTIFY_SOCKET"}
    return run_python("-m", "daemon", args[0], "--socket", sock, *args[1:], env=env, stdin=stdin)


def test_rpc_prints_the_result_as_json(shared_daemon: DaemonProcess) -> None:
    result = switchboard(shared_daemon, "rpc", "daemon.info")
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["pid"] == shared_daemon.proc.pid


def test_rpc_passes_params(shared_daemon: DaemonProcess) -> None:
    result = switchboard(shared_daemon, "rpc", "subtract", '{"minuend": 10, "subtrahend": 4}')
    assert (result.returncode, result.stdout.strip()) == (0, "6")


def test_rpc_error_goes_to_stderr_with_a_nonzero_exit(shared_daemon: DaemonProcess) -> None:
    result = switchboard(shared_daemon, "rpc", "no.such.method")
    assert result.returncode == 1
    assert result.stdout == ""
    assert orjson.loads(result.stderr)["code"] == -32601


def test_output_piped_into_a_reader_that_stops_early_ends_quietly(
    shared_daemon: DaemonProcess,
) -> None:
    env = {k: v for k, v in shared_daemon.env.items() if k != "NOTIFY_SOCKET"}
    command = [sys.executable, "-m", "daemon", "rpc", "--socket", str(shared_daemon.socket)]
    with subprocess.Popen(  # noqa: S603 - our own CLI, as `switchboard rpc rpc.discover | head -1`
        [*command, "rpc.discover"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    ) as cli:
        assert cli.stdout is not None
        assert cli.stderr is not None
        cli.stdout.close()  # the reader is gone before the answer comes (as `| head -c0`)
        errors = cli.stderr.read().decode()
    assert cli.returncode == 141
    assert "Traceback" not in errors
    assert errors == ""


def test_rpc_rejects_params_that_are_not_json(shared_daemon: DaemonProcess) -> None:
    result = switchboard(shared_daemon, "rpc", "daemon.info", "{nope")
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr


def test_status_summarises_a_running_daemon(shared_daemon: DaemonProcess) -> None:
    result = switchboard(shared_daemon, "status")
    assert result.returncode == 0, result.stdout
    assert f"pid {shared_daemon.proc.pid}" in result.stdout
    assert "health: ready" in result.stdout


def test_status_and_rpc_say_when_no_daemon_runs() -> None:
    status = switchboard(None, "status")
    assert status.returncode == 3
    assert "not running" in status.stdout
    rpc = switchboard(None, "rpc", "daemon.info")
    assert rpc.returncode == 3
    assert orjson.loads(rpc.stderr)["code"] == -32006


def test_stdio_relays_lines_and_exits_when_input_ends(shared_daemon: DaemonProcess) -> None:
    lines = (
        "\n".join(
            [
                '{"jsonrpc":"2.0","id":1,"method":"subtract","params":[3,1]}',
                '{"jsonrpc":"2.0","method":"update"}',
                "",
                "not json",
                '[{"jsonrpc":"2.0","id":2,"method":"get_data"}]',
            ]
        )
        + "\n"
    )
    result = switchboard(shared_daemon, "stdio", stdin=lines)
    assert result.returncode == 0, result.stderr
    answers = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == 3
    assert {"result": 2, "id": 1, "jsonrpc": "2.0"} in answers
    assert [{"jsonrpc": "2.0", "result": ["hello", 5], "id": 2}] in answers
    assert any(a.get("error", {}).get("code") == -32700 for a in answers if isinstance(a, dict))


def test_stdio_without_a_daemon_says_so() -> None:
    result = switchboard(None, "stdio", stdin='{"jsonrpc":"2.0","id":1,"method":"daemon.info"}\n')
    assert result.returncode == 3
    assert "no daemon answers" in result.stderr


def test_doctor_reports_a_healthy_set_up(shared_daemon: DaemonProcess) -> None:
    result = switchboard(shared_daemon, "doctor")
    assert "FAIL" not in result.stdout, result.stdout
    assert result.returncode == 0
    assert f"answers (pid {shared_daemon.proc.pid})" in result.stdout
    assert "Chromium" in result.stdout


def test_doctor_names_the_vault_key_and_records_set_aside(shared_daemon: DaemonProcess) -> None:
    vault = shared_daemon.state_dir / "vault"
    (vault / "gone.default.rec.corrupt-20260101T000000").write_bytes(b"x")
    try:
        result = switchboard(shared_daemon, "doctor")
    finally:
        (vault / "gone.default.rec.corrupt-20260101T000000").unlink()
    assert f"from {shared_daemon.state_dir / 'vault-key'} (generated)" in result.stdout
    assert "1 vault record(s) set aside" in result.stdout
    assert "fix: log in again" in result.stdout


def test_doctor_explains_what_to_fix_when_nothing_runs() -> None:
    result = switchboard(None, "doctor")
    assert "the daemon is not running" in result.stdout
    assert "fix: start it" in result.stdout


def test_version_flag() -> None:
    result = run_python("-m", "daemon", "--version")
    assert result.stdout.startswith("switchboard 0.")
