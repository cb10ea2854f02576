"""Start what the chat benchmark measures: the fake upstream and the gateways in front of it.

- the fake (:mod:`bench._fake`, every /v1 wire) on TCP loopback, which prints its base URL
  when it listens;
- the bare pass-through proxy (:mod:`bench._passthrough`) and the daemon, both on a Unix
  socket through :func:`bench._spawn.start_server` (readiness by ``READY=1``), the daemon with
  a config file whose only providers are the fake, one per wire (:data:`DAEMON_PROVIDERS`);
- the LiteLLM proxy on TCP loopback, only when ``litellm`` and its proxy extra import, in
  offline mode (it would otherwise fetch its model cost map from the internet at start-up).

Each gateway comes with the :class:`Endpoint` rows the load generator drives, one per wire.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench._chatmodel import API_KEY, MODEL, Endpoint, WireName
from bench._spawn import REPO, inherited_affinity, log_problems, sandbox_env, start_server
from bench._wires import WIRES

CHAT_PATH = WIRES["chat"].path
# The daemon's provider for each wire: a catalog row of that wire's family, sent to the fake.
DAEMON_PROVIDERS: dict[WireName, str] = {
    "chat": "openai",
    "messages": "anthropic",
    "responses": "bedrock-mantle",  # the catalog's one plain openai-responses row
}
START_TIMEOUT_S = 30.0
LITELLM_START_TIMEOUT_S = 120.0  # its imports alone take many seconds


class Process(Protocol):
    """What the benchmark needs of a started server (``bench._spawn.Server`` is one)."""

    name: str

    @property
    def pid(self) -> int: ...

    def stop(self, timeout: float = ...) -> int: ...

    def close(self) -> None: ...

    def log(self) -> str: ...


@dataclass
class Child:
    """A server child started here (the fake, LiteLLM): its process, log file and sandbox."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    root: Path | None = None

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.proc.pid

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; a child that does not exit in time is killed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def close(self) -> None:
        """Stop the child if needed and remove its sandbox."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        """What the child wrote to stderr (and stdout, but for the fake's first line)."""
        return self.log_path.read_text(errors="replace")


@dataclass
class Gateway:
    """A started gateway, the endpoints through which it is driven, how to judge its log."""

    process: Process
    endpoints: list[Endpoint]
    json_log: bool = True  # its log is JSON lines (each non-JSON line is then a problem)

    def problems(self, exit_code: int) -> list[str]:
        """Warning/error log lines and a non-zero exit, after it was stopped."""
        text = self.process.log()
        lines = log_problems(text) if self.json_log else []
        return lines + ([f"exited {exit_code} on SIGTERM"] if exit_code else [])


@dataclass
class Stack:
    """The fake and every gateway started for one run; :meth:`close` ends them all."""

    fake: Child
    base_url: str
    work: Path
    gateways: list[Gateway] = field(default_factory=list)

    def close(self) -> None:
        """Kill whatever still runs and remove the files."""
        for gateway in self.gateways:
            gateway.process.close()
        self.fake.close()
        shutil.rmtree(self.work, ignore_errors=True)


def _read_line(child: Child, timeout: float) -> str:
    """The first line the child prints on stdout (raise if it exits or takes too long)."""
    assert child.proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if child.proc.poll() is not None or remaining <= 0:
            raise RuntimeError(f"{child.name} did not start:\n{child.log()}")
        ready, _, _ = select.select([child.proc.stdout], [], [], min(remaining, 0.5))
        if ready:
            line += os.read(child.proc.stdout.fileno(), 4096)
    return line.decode().strip()


def start_fake(
    work: Path, cpu: int | None, module: str = "bench._fake", name: str = "fake"
) -> tuple[Child, str]:
    """A fake upstream (``python -m module``) on a free loopback port, pinned to ``cpu``;
    (child, the base URL it printed)."""
    log_path = work / f"{name}.log"
    command = [sys.executable, "-m", module, "--port", "0"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log_path.open("wb") as log, inherited_affinity(cpu):
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log
        )
    child = Child(name, proc, log_path)
    try:
        return child, _read_line(child, START_TIMEOUT_S)
    except BaseException:
        child.close()
        raise


def _tcp(base_url: str) -> tuple[str, int]:
    host, _, port = base_url.split("//", 1)[1].split("/", 1)[0].rpartition(":")
    return host, int(port)


def wire_endpoints(
    name: str,
    address: tuple[str, str] | tuple[str, str, int],
    host: str,
    pid: int,
    wires: Sequence[WireName],
    model: Callable[[WireName], str] = lambda wire: MODEL,
) -> list[Endpoint]:
    """One HTTP endpoint per wire of a gateway (or of the fake itself) at ``address``."""
    return [
        Endpoint(
            name=name,
            kind="http",
            address=address,
            path=WIRES[wire].path,
            host=host,
            model=model(wire),
            pid=pid,
            wire=wire,
        )
        for wire in wires
    ]


def daemon_model(wire: WireName) -> str:
    """What a client of the daemon names on ``wire``: the fake's model at that wire's provider."""
    return f"{DAEMON_PROVIDERS[wire]}/{MODEL}"


def direct_endpoints(fake: Child, base_url: str, wires: Sequence[WireName]) -> list[Endpoint]:
    """The baselines: the load generator talks to the fake itself, on each wire."""
    host, port = _tcp(base_url)
    return wire_endpoints("direct", ("tcp", host, port), f"{host}:{port}", fake.pid, wires)


def start_passthrough(base_url: str, cpu: int | None, wires: Sequence[WireName]) -> Gateway:
    """The bare aiohttp pass-through proxy, ready, on a Unix socket."""
    server = start_server("proxy", "bench._passthrough", cpu, ["--upstream", base_url])
    try:
        server.wait_ready()
    except BaseException:
        server.close()
        raise
    address = ("unix", str(server.socket_path))
    endpoints = wire_endpoints("proxy", address, "proxy", server.pid, wires)
    return Gateway(server, endpoints)


def daemon_config(work: Path, base_url: str) -> Path:
    """A config whose providers are the fake, one per wire; the breaker never opens."""
    path = work / "daemon.toml"
    tables = [
        f'[providers.{provider}]\nbase_url = "{base_url}"\napi_key = "{API_KEY}"\n'
        for provider in DAEMON_PROVIDERS.values()
    ]
    path.write_text("\n".join([*tables, "[reliability]\nbreaker_threshold = 1000\n"]))
    return path


def start_daemon(
    work: Path, base_url: str, cpu: int | None, wires: Sequence[WireName] = ("chat",)
) -> Gateway:
    """The daemon, ready, with its /v1 endpoint of each wire and (for chat) its WebSocket
    JSON-RPC as endpoints."""
    config = daemon_config(work, base_url)
    server = start_server("daemon", "daemon", cpu, ["--config", str(config)])
    try:
        server.wait_ready()
    except BaseException:
        server.close()
        raise
    address = ("unix", str(server.socket_path))
    endpoints = wire_endpoints(
        "daemon-http", address, "switchboard", server.pid, wires, daemon_model
    )
    if "chat" not in wires:
        return Gateway(server, endpoints)
    ws = Endpoint(
        name="daemon-ws",
        kind="ws",
        address=address,
        path="/rpc",
        host="switchboard",
        model=MODEL,
        pid=server.pid,
        provider=DAEMON_PROVIDERS["chat"],
    )
    return Gateway(server, [*endpoints, ws])


def litellm_missing() -> str | None:
    """Why the LiteLLM proxy cannot run here, or None when ``litellm[proxy]`` imports."""
    if importlib.util.find_spec("litellm") is None:
        return "litellm is not installed"
    for module in ("fastapi", "uvicorn"):
        if importlib.util.find_spec(module) is None:
            return f"litellm is installed without its proxy extra ({module} is missing)"
    probe = subprocess.run(  # noqa: S603 - our own interpreter; its import takes seconds
        [sys.executable, "-c", "import litellm.proxy.proxy_server"],
        env=_litellm_env(),
        capture_output=True,
        timeout=LITELLM_START_TIMEOUT_S,
        check=False,
    )
    if probe.returncode != 0:
        last = (probe.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
        return f"litellm's proxy does not import: {last[:200]}"
    return None


def _litellm_env() -> dict[str, str]:
    """No network beyond loopback: offline mode, the bundled cost map, no proxies."""
    drop = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        LITELLM_OFFLINE_MODE="true",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LITELLM_LOG="ERROR",
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


def _litellm_config(work: Path, base_url: str, models: list[str]) -> Path:
    """One ``model_list`` entry per model string the benchmark sends (they pick the fake's
    behaviour, so each is its own deployment)."""
    lines = ["model_list:"]
    for model in models:
        lines += [
            f'  - model_name: "{model}"',
            "    litellm_params:",
            f'      model: "openai/{model}"',
            f'      api_base: "{base_url}"',
            f'      api_key: "{API_KEY}"',
        ]
    lines += ["litellm_settings:", "  telemetry: false", "  drop_params: true"]
    path = work / "litellm.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_liveness(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1.0) as sock:
        sock.sendall(b"GET /health/liveliness HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return sock.recv(64).startswith(b"HTTP/1.1 200")
    return False


def start_litellm(work: Path, base_url: str, models: list[str], cpu: int | None) -> Gateway:
    """The LiteLLM proxy (one worker) on a free loopback port, ready."""
    port = _free_port()
    config = _litellm_config(work, base_url, models)
    script = Path(sys.executable).with_name("litellm")
    module = [sys.executable, "-m", "litellm.proxy.proxy_cli"]
    launcher = [str(script)] if script.exists() else module
    command = [*launcher, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--num_workers", "1"]
    root = work / "litellm"
    root.mkdir()
    env = {**sandbox_env(root), **_litellm_env()}
    with (root / "litellm.log").open("wb") as log, inherited_affinity(cpu):
        proc = subprocess.Popen(  # noqa: S603 - the installed litellm entry point
            command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    child = Child("litellm", proc, root / "litellm.log", root)
    deadline = time.monotonic() + LITELLM_START_TIMEOUT_S
    while not _answers_liveness(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            child.close()
            raise RuntimeError(f"the LiteLLM proxy did not start:\n{child.log()[-2000:]}")
        time.sleep(0.2)
    endpoint = Endpoint(
        name="litellm",
        kind="http",
        address=("tcp", "127.0.0.1", port),
        path=CHAT_PATH,
        host=f"127.0.0.1:{port}",
        model=MODEL,
        pid=proc.pid,
    )
    return Gateway(child, [endpoint], json_log=False)
