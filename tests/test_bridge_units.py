"""The bridge engine's parts that need no browser: its config, the prompt it types, the tap's
queue, the process bookkeeping, and that loading it does not load Playwright."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
from pathlib import Path

import pytest

from bridges import procs
from bridges.flow import prompt_of, watched_problem, with_retry_after
from bridges.runner import Bridges
from bridges.site import Problem, ProblemKind, Sign
from bridges.tap import Kind, Tap
from daemon.adapters.types import ChatCall
from daemon.app import RoutingSetup
from daemon.config import BridgeSettings, SiteSettings, load_settings
from daemon.errors import ConfigInvalid, RequestInvalid, Unsupported
from tests.fakes.sites.echo.site import SPEC as ECHO
from tests.support.daemon import run_python


def setup_of(tmp_path: Path, text: str) -> RoutingSetup:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return RoutingSetup.from_settings(load_settings(path, environ={}))


# --- config ----------------------------------------------------------------------------------


def test_the_bridges_table_is_read_with_its_defaults(tmp_path: Path) -> None:
    setup = setup_of(
        tmp_path, '[bridges]\nheadless = false\n[bridges.zai]\nurl = "http://127.0.0.1:8/"'
    )
    assert setup.bridges.headless is False
    assert setup.bridges.queue_size == 4
    assert setup.bridges.sites["zai"] == SiteSettings(url="http://127.0.0.1:8")
    assert {"zai", "qwen"} <= setup.sites


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("[bridges]\nheadless = 1", "bridges.headless", "true or false"),
        ("[bridges]\nqueue_sise = 2", "bridges.queue_sise", "did you mean bridges.queue_size"),
        ("[bridges]\nidle_s = -1", "bridges.idle_s", "positive"),
        ('[bridges.zai]\nurl = "ftp://x"', "bridges.zai.url", "http(s) URL"),
        ('[bridges.zai]\nspec = "nothing"', "bridges.zai.spec", "module:ATTRIBUTE"),
        ('[bridges.elsewhere]\nurl = "http://127.0.0.1:8"', "bridges.elsewhere", "needs spec"),
        ('[providers.openai]\nbridge = "nowhere"', "providers.openai.bridge", "'nowhere'"),
        ("[providers.openai]\nbridge = 3", "providers.openai.bridge", "site name"),
    ],
)
def test_a_bad_bridges_setting_stops_the_daemon_naming_it(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    with pytest.raises(ConfigInvalid) as raised:
        setup_of(tmp_path, text)
    assert raised.value.data["key"] == key
    assert reason in raised.value.data["reason"]


def test_a_provider_can_lose_its_bridge(tmp_path: Path) -> None:
    setup = setup_of(tmp_path, "[providers.zai]\nbridge = false")
    assert setup.registry.resolve("zai").bridge is None
    assert setup.registry.bridged("zai") is not None  # zhipuai still has one


def test_a_spec_that_does_not_load_is_a_config_error(tmp_path: Path) -> None:
    settings = BridgeSettings(sites={"x": SiteSettings(spec="tests.no_such_module:SPEC")})
    with pytest.raises(ConfigInvalid) as raised:
        Bridges(settings, tmp_path, [])
    assert raised.value.data["key"] == "bridges.x.spec"


def test_a_built_in_site_without_its_module_is_listed_unavailable(tmp_path: Path) -> None:
    bridges = Bridges(BridgeSettings(), tmp_path, ["nosuchsite"])
    assert "nosuchsite" not in bridges.sites()
    [site] = bridges.status()["sites"]
    assert site["state"] == "unavailable"
    assert "no nosuchsite bridge" in site["lastError"]["detail"]


def test_loading_the_engine_does_not_load_playwright() -> None:
    code = "import sys, bridges.runner\nprint('playwright' in sys.modules)"
    result = run_python("-c", code)
    assert result.stdout.strip() == "False", result.stderr


# --- the prompt ------------------------------------------------------------------------------


def call(*messages: tuple[str, str], **extra: object) -> ChatCall:
    return ChatCall("m", [{"role": role, "content": text} for role, text in messages], **extra)  # type: ignore[arg-type]


def test_a_new_chat_types_the_history_as_a_transcript() -> None:
    history = call(("system", "Be brief."), ("user", "hi"), ("assistant", "hello"), ("user", "bye"))
    assert prompt_of(history, continuing=False) == (
        "System: Be brief.\n\nUser: hi\n\nAssistant: hello\n\nUser: bye"
    )
    assert prompt_of(history, continuing=True) == "bye"


def test_text_parts_are_joined() -> None:
    parts = ChatCall(
        "m",
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            }
        ],
    )
    assert prompt_of(parts, continuing=False) == "a\nb"


@pytest.mark.parametrize(
    ("bad", "error", "field"),
    [
        (call(("user", "hi"), tools=[{"name": "t", "parameters": {}}]), Unsupported, "tools"),
        (call(("user", "hi"), stop=("x",)), Unsupported, "stopSequences"),
        (call(("user", "hi"), ("assistant", "hello")), RequestInvalid, "messages"),
    ],
)
def test_what_a_site_cannot_take_is_refused(
    bad: ChatCall, error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as raised:
        prompt_of(bad, continuing=False)
    assert raised.value.data["field"] == field  # type: ignore[attr-defined]


# --- the tap's queue -------------------------------------------------------------------------


async def test_the_tap_drops_earlier_generations_and_wakes_readers_when_the_page_goes() -> None:
    tap = Tap()
    first = tap.begin()
    tap.receive(None, {"k": "chunk", "g": first, "r": 1, "data": "b2xk"})
    second = tap.begin()
    tap.receive(None, {"k": "chunk", "g": first, "r": 1, "data": "b2xk"})  # late, dropped
    tap.receive(None, {"k": "chunk", "g": second, "r": 2, "data": "bmV3"})
    message = await tap.next()
    assert (message.kind, message.data) == (Kind.CHUNK, b"new")
    waiting = asyncio.ensure_future(tap.next())
    tap.close("the page crashed")
    assert (await waiting).kind is Kind.GONE
    assert (await tap.next()).detail == "the page crashed"  # and every later read


# --- what the page shows --------------------------------------------------------------------


def test_a_watched_element_reported_by_the_tap_names_its_own_problem() -> None:
    blocked = Problem(ProblemKind.RATE_LIMITED, "blocked", retry_after_ms=600_000)
    expired = Problem(ProblemKind.SESSION, "expired", reload_helps=True)
    spec = dataclasses.replace(ECHO, signs=(Sign("#block", blocked), Sign(".toast", expired)))
    # the tap counts through challenges, login walls and signs in one list
    assert [watched_problem(spec, i).kind for i in range(2)] == [
        ProblemKind.CHALLENGE,
        ProblemKind.LOGIN_WALL,
    ]
    assert watched_problem(spec, 2) == blocked
    assert watched_problem(spec, 3) == expired


def test_a_rate_limit_backs_off_as_long_as_the_response_says() -> None:
    limited = Problem(ProblemKind.RATE_LIMITED, "slow down", retry_after_ms=30_000)
    assert with_retry_after(limited, "120").retry_after_ms == 120_000
    assert with_retry_after(limited, "") == limited  # no header: the site's own guess
    assert with_retry_after(limited, "soon") == limited
    refused = Problem(ProblemKind.REFUSED, "no")
    assert with_retry_after(refused, "120") == refused


async def test_the_tap_passes_the_retry_after_header_on() -> None:
    tap = Tap()
    generation = tap.begin()
    tap.receive(None, {"k": "head", "g": generation, "r": 1, "status": 429, "retry": "7"})
    message = await tap.next()
    assert (message.status, message.retry_after) == (429, "7")


# --- processes -------------------------------------------------------------------------------


async def test_a_recorded_process_is_killed_once_and_only_while_it_is_the_same(
    tmp_path: Path,
) -> None:
    child = await asyncio.create_subprocess_exec("sleep", "60", start_new_session=True)
    exited = asyncio.Event()
    unwatch = procs.on_exit(child.pid, exited.set)
    start = procs.record(tmp_path / "site.pid", child.pid)
    assert start is not None
    assert procs.alive(child.pid, start)
    assert not procs.kill_tree(child.pid, start + 1)  # another process with that pid: spared
    assert procs.reap(tmp_path) == [child.pid]
    assert await child.wait() == -signal.SIGKILL
    await asyncio.wait_for(exited.wait(), 10)
    unwatch()
    assert not await asyncio.to_thread((tmp_path / "site.pid").exists)
    assert procs.reap(tmp_path) == []
