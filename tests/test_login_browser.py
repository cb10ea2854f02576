"""Browser and paste logins through the real daemon, against the fake authorization server.

The test plays the person: ``browse`` opens the authorization URL at the fake (which approves
and answers with a redirect), ``follow`` is the browser landing on the daemon's loopback
server, and a paste is ``auth.oauth.complete``. Around that: the pinned redirect ports and
their fallback, answers the daemon must refuse while keeping the flow open, denial, expiry,
cancel, several waiters, WebSocket notifications, and token endpoint faults that must not cost
a stored login. The module ends by checking that no token, code or verifier reached a log, an
answer or a file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from daemon.auth.login_config import LoginCatalog
from daemon.auth.logins import LOGINS_BY_PROVIDER
from daemon.client import Client
from daemon.errors import (
    DaemonError,
    DaemonUnreachable,
    FlowNotFound,
    FlowRejected,
    LoginFailed,
    LoginNotAllowed,
)
from tests.conftest import result_validator
from tests.fakes.oauth import codex, google
from tests.fakes.oauth.server import Fault
from tests.fakes.oauth.wire import s256
from tests.support.daemon import DaemonProcess
from tests.support.leaks import assert_daemon_leaked_nothing
from tests.support.logins import (
    WAIT_MS,
    Answers,
    Call,
    follow,
    held_port,
    login_daemon,
    occupied,
    port_of,
    query,
    redirect_port,
    with_redirect_port,
)
from tests.support.oauth import ThreadedOAuth, running_oauth

CODEX = "openai-codex"
GEMINI = "google-gemini-cli"
CODEX_SCOPES = ["openid", "profile", "email", "offline_access"]
TTL_S = 0.5  # the short-lived daemon's flow lifetime


@pytest.fixture(scope="module")
def daemon(oauth: ThreadedOAuth, answers: Answers) -> Iterator[DaemonProcess]:
    """Codex and the (enabled) Gemini CLI login pointed at the fake; tests use own accounts."""
    with login_daemon(oauth, answers, oauth.config(CODEX, GEMINI)) as started:
        yield started


@pytest.fixture(scope="module")
def pinned(oauth: ThreadedOAuth, answers: Answers) -> Iterator[DaemonProcess]:
    """Codex pinned to one port nobody answers on: every flow's redirect URI is the same."""
    with held_port() as nobody:
        config = with_redirect_port(oauth.config(CODEX), str(port_of(nobody)))
        with login_daemon(oauth, answers, config) as started:
            yield started


@pytest.fixture(scope="module")
def short(oauth: ThreadedOAuth, answers: Answers) -> Iterator[DaemonProcess]:
    """Flows that expire after TTL_S, and the Gemini CLI login left opt-in (not enabled)."""
    config = f"[oauth]\nflow_ttl_s = {TTL_S}\n\n" + oauth.config(CODEX)
    with login_daemon(oauth, answers, config) as started:
        yield started


@pytest.fixture
async def call(daemon: DaemonProcess, answers: Answers) -> AsyncIterator[Call]:
    async with answers.connected(daemon) as connected:
        yield connected


# -- helpers -----------------------------------------------------------------------------------


async def browse(oauth: ThreadedOAuth, flow: Mapping[str, Any], *, deny: bool = False) -> str:
    """The person approves (or denies) at the fake; the redirect's Location."""
    return await oauth.wait(oauth.fake.browse(flow["url"], deny=deny))


async def start(call: Call, provider: str, account: str, method: str | None = None) -> Any:
    params = {"provider": provider, "account": account}
    flow = await call("auth.oauth.start", params | ({"method": method} if method else {}))
    result_validator("auth.oauth.start")(flow)
    return flow


async def wait(call: Call, flow: Mapping[str, Any], timeout_ms: int = WAIT_MS) -> Any:
    outcome = await call("auth.oauth.wait", {"flowId": flow["flowId"], "timeoutMs": timeout_ms})
    result_validator("auth.oauth.wait")(outcome)
    return outcome


async def paste(call: Call, flow: Mapping[str, Any], **answer: str) -> Any:
    outcome = await call("auth.oauth.complete", {"flowId": flow["flowId"], **answer})
    result_validator("auth.oauth.complete")(outcome)
    return outcome


def done(flow: Mapping[str, Any]) -> dict[str, Any]:
    """The outcome of a flow that completed."""
    return {
        "flowId": flow["flowId"],
        "provider": flow["provider"],
        "status": "complete",
        "account": flow["account"],
    }


async def credential(call: Call, provider: str, account: str) -> dict[str, Any]:
    """``auth.status``'s row for one stored login."""
    status = await call("auth.status")
    result_validator("auth.status")(status)
    rows = [
        row
        for row in status["credentials"]
        if (row["provider"], row.get("account")) == (provider, account)
    ]
    assert len(rows) == 1, status
    row: dict[str, Any] = rows[0]
    return row


async def logged_in(oauth: ThreadedOAuth, call: Call, provider: str, account: str) -> Any:
    """A finished paste login; ``auth.status``'s row for it."""
    flow = await start(call, provider, account, "paste")
    assert await paste(call, flow, redirectUrl=await browse(oauth, flow)) == done(flow)
    return await credential(call, provider, account)


def fail_with(error: dict[str, Any], cls: type[DaemonError]) -> None:
    """``error`` (an outcome's) is ``cls``'s, with a next step."""
    assert error["code"] == cls.code
    assert error["data"]["nextStep"]


def near_ms(value: int, expected_ms: float, slack_ms: float = 60_000) -> bool:
    return abs(value - expected_ms) <= slack_ms


# -- end to end --------------------------------------------------------------------------------


async def test_a_codex_browser_login_lands_on_the_loopback_and_stores_an_oauth_login(
    oauth: ThreadedOAuth, call: Call
) -> None:
    flow = await start(call, CODEX, "browser")
    assert (flow["method"], flow["loopback"]) == ("browser", True)
    asked = query(flow["url"])
    assert asked["redirect_uri"] == f"http://localhost:{redirect_port(flow)}/auth/callback"
    assert asked["code_challenge_method"] == "S256"
    location = await browse(oauth, flow)
    status, page = await follow(location)
    assert (status, "Signed in" in page) == (200, True)
    assert await wait(call, flow) == done(flow)
    row = await credential(call, CODEX, "browser")
    assert (row["kind"], row["origin"], row["source"]) == ("oauth", "login", "vault")
    assert row["scopes"] == CODEX_SCOPES
    assert row["refreshable"] is True
    assert near_ms(row["expiresAt"], time.time() * 1000 + 3600_000)
    # PKCE S256 with a state of its own: the verifier the daemon presented hashes to the
    # challenge it asked with, and is not the state the browser carried.
    (exchange,) = [
        r
        for r in oauth.fake.requests_to(codex.TOKEN)
        if r.body.get("code") == query(location)["code"]
    ]
    assert s256(exchange.body["code_verifier"]) == asked["code_challenge"]
    assert asked["state"] != exchange.body["code_verifier"]


async def test_a_gemini_cli_browser_login_discovers_its_code_assist_project(
    oauth: ThreadedOAuth, call: Call
) -> None:
    before = len(oauth.fake.requests_to(google.CODE_ASSIST))
    flow = await start(call, GEMINI, "gemini")
    asked = query(flow["url"])
    assert asked["redirect_uri"] == f"http://127.0.0.1:{redirect_port(flow)}/oauth2callback"
    assert (asked["access_type"], asked["prompt"]) == ("offline", "consent")
    assert (await follow(await browse(oauth, flow)))[0] == 200
    assert await wait(call, flow) == done(flow)
    # The project was looked up once, with the token the login just received.
    (lookup,) = oauth.fake.requests_to(google.CODE_ASSIST)[before:]
    token = lookup.headers["authorization"].removeprefix("Bearer ")
    assert token in oauth.fake.live_tokens(GEMINI)
    row = await credential(call, GEMINI, "gemini")
    assert (row["kind"], row["refreshable"]) == ("oauth", True)
    assert set(row["scopes"]) == set(LOGINS_BY_PROVIDER[GEMINI].endpoints.scopes)


async def test_a_gemini_cli_account_without_a_project_fails_the_login_saying_why(
    oauth: ThreadedOAuth, call: Call
) -> None:
    oauth.fake.google_project = None  # signed in, but not onboarded to Code Assist
    try:
        flow = await start(call, GEMINI, "no-project")
        status, page = await follow(await browse(oauth, flow))
    finally:
        oauth.fake.google_project = "fake-project-1"
    assert (status, "The login failed" in page) == (502, True)
    outcome = await wait(call, flow)
    assert outcome["status"] == "failed"
    fail_with(outcome["error"], LoginFailed)
    assert "Code Assist project" in outcome["error"]["data"]["detail"]
    status_rows = (await call("auth.status"))["credentials"]
    assert not [r for r in status_rows if r.get("account") == "no-project"]


async def test_a_refused_project_lookup_fails_the_login_instead_of_waiting_for_another_code(
    oauth: ThreadedOAuth, call: Call
) -> None:
    oauth.fake.access_lifetime = 0  # the code is spent, but its token is refused at once
    try:
        flow = await start(call, GEMINI, "refused-lookup")
        status, page = await follow(await browse(oauth, flow))
    finally:
        oauth.fake.access_lifetime = 3600.0
    assert (status, "The login failed" in page) == (502, True)
    outcome = await wait(call, flow)
    assert outcome["status"] == "failed"
    fail_with(outcome["error"], LoginFailed)
    assert "refused the next step" in outcome["error"]["data"]["detail"]


@pytest.mark.parametrize("form", ["redirectUrl", "code#state", "code"])
async def test_the_paste_method_takes_the_redirect_url_code_and_state_or_a_bare_code(
    oauth: ThreadedOAuth, call: Call, form: str
) -> None:
    account = "paste-" + form.lower().replace("#", "-")
    flow = await start(call, CODEX, account, "paste")
    assert (flow["method"], flow["loopback"]) == ("paste", False)
    location = await browse(oauth, flow)
    with pytest.raises(
        aiohttp.ClientConnectorError
    ):  # nothing listens: the browser shows a page that did not load
        await follow(location)
    given = query(location)
    pasted = {
        "redirectUrl": {"redirectUrl": location},
        "code#state": {"code": f"{given['code']}#{given['state']}"},
        "code": {"code": given["code"]},
    }[form]
    assert await paste(call, flow, **pasted) == done(flow)
    assert await wait(call, flow) == done(flow)
    assert (await credential(call, CODEX, account))["origin"] == "login"


# -- the redirect port -------------------------------------------------------------------------


async def test_a_busy_first_port_moves_the_redirect_to_the_registered_fallback(
    answers: Answers,
) -> None:
    with held_port() as first, held_port() as second:
        ports = (port_of(first), port_of(second))
        with running_oauth(codex_redirect_ports=ports) as oauth:
            config = with_redirect_port(oauth.config(CODEX), f"[{ports[0]}, {ports[1]}]")
            with login_daemon(oauth, answers, config) as daemon:
                second.close()  # the fallback is free; the first stays busy
                async with answers.connected(daemon) as call:
                    flow = await start(call, CODEX, "fallback")
                    assert (flow["loopback"], redirect_port(flow)) == (True, ports[1])
                    async with aiohttp.ClientSession() as tab:  # keeps its connection alive
                        assert (await follow(await browse(oauth, flow), tab))[0] == 200
                        assert await wait(call, flow) == done(flow)
                        # The next login gets the same port at once: the last one's
                        # connection (open, or closed and in TIME_WAIT) does not make it busy.
                        again = await start(call, CODEX, "fallback")
                    assert (again["loopback"], redirect_port(again)) == (True, ports[1])
                    assert (await follow(await browse(oauth, again)))[0] == 200
                    assert await wait(call, again) == done(again)


async def test_codex_pins_1455_then_1457_and_with_both_busy_the_paste_finishes_the_login(
    answers: Answers,
) -> None:
    # Both ports busy whoever holds them: this test's own listeners, or another program.
    held = [occupied(1455), occupied(1457)]
    try:
        with running_oauth(codex_redirect_ports=(1455, 1457)) as oauth:
            with login_daemon(oauth, answers, oauth.config(CODEX)) as daemon:
                async with answers.connected(daemon) as call:
                    flow = await start(call, CODEX, "pinned")
                    assert (flow["method"], flow["loopback"]) == ("browser", False)
                    redirect = query(flow["url"])["redirect_uri"]
                    assert redirect == "http://localhost:1455/auth/callback"
                    location = await browse(oauth, flow)  # the fake accepts only 1455, 1457
                    assert await paste(call, flow, redirectUrl=location) == done(flow)
    finally:
        for sock in held:
            if sock is not None:
                sock.close()


async def test_cancel_ends_the_flow_and_frees_its_loopback_port(
    oauth: ThreadedOAuth, call: Call
) -> None:
    flow = await start(call, CODEX, "cancelled")
    port = redirect_port(flow)
    cancelled = await call("auth.oauth.cancel", {"flowId": flow["flowId"]})
    result_validator("auth.oauth.cancel")(cancelled)
    assert cancelled == {"flowId": flow["flowId"], "provider": CODEX, "status": "cancelled"}
    held_port(port).close()  # the daemon no longer listens there
    assert await wait(call, flow) == cancelled
    with pytest.raises(FlowNotFound) as ended:
        await paste(call, flow, redirectUrl=await browse(oauth, flow))
    assert ended.value.data["status"] == "cancelled"


# -- answers refused, flow kept ----------------------------------------------------------------


async def test_a_redirect_with_another_flows_state_is_refused_and_both_flows_still_finish(
    oauth: ThreadedOAuth, call: Call
) -> None:
    mine = await start(call, CODEX, "state-mine")
    other = await start(call, CODEX, "state-other")
    stale = await browse(oauth, other)
    sent = len(oauth.fake.requests_to(codex.TOKEN))
    # At the loopback (a stale tab) and pasted: refused before any token request.
    for wrong in (stale, await browse(oauth, other, deny=True)):  # a denial cannot end it
        at_mine = f"http://localhost:{redirect_port(mine)}/auth/callback?{urlsplit(wrong).query}"
        status, page = await follow(at_mine)
        assert (status, "still open" in page) == (400, True)
    with pytest.raises(FlowRejected) as refused:
        await paste(call, mine, redirectUrl=stale)
    assert refused.value.code == -32045
    assert "state" in (refused.value.detail or "")
    assert len(oauth.fake.requests_to(codex.TOKEN)) == sent
    assert (await wait(call, mine, timeout_ms=1))["status"] == "pending"
    assert (await follow(await browse(oauth, mine)))[0] == 200
    assert await wait(call, mine) == done(mine)
    assert await paste(call, other, redirectUrl=stale) == done(other)


async def test_another_flows_code_is_a_pkce_mismatch_refused_and_both_flows_still_finish(
    oauth: ThreadedOAuth, pinned: DaemonProcess, answers: Answers
) -> None:
    async with answers.connected(pinned) as call:
        mine = await start(call, CODEX, "pkce-mine", "paste")
        other = await start(call, CODEX, "pkce-other", "paste")
        assert query(mine["url"])["redirect_uri"] == query(other["url"])["redirect_uri"]
        theirs = await browse(oauth, other)
        sent = len(oauth.fake.requests_to(codex.TOKEN))
        with pytest.raises(FlowRejected) as refused:
            await paste(call, mine, code=query(theirs)["code"])  # no state to give it away
        assert refused.value.data["oauthError"] == "invalid_grant"
        (tried,) = oauth.fake.requests_to(codex.TOKEN)[sent:]  # the server said no, not us
        assert tried.body["code"] == query(theirs)["code"]
        assert await paste(call, mine, redirectUrl=await browse(oauth, mine)) == done(mine)
        assert await paste(call, other, redirectUrl=theirs) == done(other)


async def test_a_code_already_redeemed_is_refused_and_the_flow_still_finishes(
    oauth: ThreadedOAuth, pinned: DaemonProcess, answers: Answers
) -> None:
    async with answers.connected(pinned) as call:
        first = await start(call, CODEX, "reused-first", "paste")
        spent = query(await browse(oauth, first))["code"]
        assert await paste(call, first, code=spent) == done(first)
        second = await start(call, CODEX, "reused-second", "paste")
        state = query(second["url"])["state"]
        with pytest.raises(FlowRejected) as refused:
            await paste(call, second, code=f"{spent}#{state}")
        assert refused.value.data["oauthError"] == "invalid_grant"
        assert await wait(call, second, timeout_ms=1) == {
            "flowId": second["flowId"],
            "provider": CODEX,
            "status": "pending",
        }
        assert await paste(call, second, redirectUrl=await browse(oauth, second)) == done(second)


async def test_an_expired_code_is_refused_and_a_new_approval_finishes_the_flow(
    oauth: ThreadedOAuth, call: Call
) -> None:
    flow = await start(call, CODEX, "code-expired", "paste")
    oauth.fake.code_lifetime = 0.0  # the person took too long between approving and pasting
    try:
        stale = await browse(oauth, flow)
    finally:
        oauth.fake.code_lifetime = 60.0
    with pytest.raises(FlowRejected) as refused:
        await paste(call, flow, redirectUrl=stale)
    assert refused.value.data["oauthError"] == "invalid_grant"
    assert await paste(call, flow, redirectUrl=await browse(oauth, flow)) == done(flow)


async def test_a_loopback_redirect_racing_a_paste_never_redeems_the_code_twice(
    oauth: ThreadedOAuth, daemon: DaemonProcess, answers: Answers
) -> None:
    # A second redemption of a code makes the server revoke what the first one got.
    async with Client(daemon.socket) as first, Client(daemon.socket) as second:
        call, other = answers.recording(first), answers.recording(second)
        flow = await start(call, CODEX, "race")
        location = await browse(oauth, flow)
        sent = len(oauth.fake.requests_to(codex.TOKEN))
        oauth.fake.fail(Fault.HANG, CODEX)  # the first exchange is still on its way ...
        try:
            pasted = asyncio.create_task(paste(call, flow, redirectUrl=location))
            await oauth.wait(oauth.fake.wait_for(codex.TOKEN, sent + 1))
            again = asyncio.create_task(paste(other, flow, redirectUrl=location))
            await other("daemon.info")  # ... when the second one is waiting behind it
        finally:
            oauth.fake.clear_faults()
        assert await pasted == done(flow)
        with pytest.raises(FlowNotFound):
            await again
    assert len(oauth.fake.requests_to(codex.TOKEN)) == sent + 1
    async with answers.connected(daemon) as call:
        assert (await credential(call, CODEX, "race"))["refreshable"] is True


async def test_a_paste_whose_caller_hangs_up_during_the_exchange_still_stores_the_login(
    oauth: ThreadedOAuth, daemon: DaemonProcess, call: Call
) -> None:
    flow = await start(call, CODEX, "hung-up", "paste")
    location = await browse(oauth, flow)
    sent = len(oauth.fake.requests_to(codex.TOKEN))
    oauth.fake.fail(Fault.HANG, CODEX)
    try:
        async with Client(daemon.socket) as leaving:
            params = {"flowId": flow["flowId"], "redirectUrl": location}
            pasting = asyncio.create_task(leaving.call("auth.oauth.complete", params))
            await oauth.wait(oauth.fake.wait_for(codex.TOKEN, sent + 1))
        # Its connection is closed now, and the daemon stops what that connection was running.
        await call("daemon.info")
    finally:
        oauth.fake.clear_faults()
    with pytest.raises(DaemonUnreachable):
        await pasting
    assert await wait(call, flow) == done(flow)  # the code it spent bought a stored login
    assert (await credential(call, CODEX, "hung-up"))["origin"] == "login"


async def test_denying_at_the_provider_fails_the_flow_with_login_failed(
    oauth: ThreadedOAuth, call: Call
) -> None:
    flow = await start(call, CODEX, "denied")
    denied = await browse(oauth, flow, deny=True)
    assert query(denied)["error"] == "access_denied"
    status, page = await follow(denied)
    assert (status, "The login failed" in page) == (502, True)
    outcome = await wait(call, flow)
    assert outcome["status"] == "failed"
    fail_with(outcome["error"], LoginFailed)
    assert "access_denied" in outcome["error"]["data"]["detail"]
    pasted = await start(call, CODEX, "denied", "paste")
    with pytest.raises(LoginFailed):
        await paste(call, pasted, redirectUrl=await browse(oauth, pasted, deny=True))
    assert (await wait(call, pasted))["status"] == "failed"


# -- expiry, opt-in ----------------------------------------------------------------------------


async def test_a_flow_not_finished_in_time_expires_and_frees_its_port(
    oauth: ThreadedOAuth, short: DaemonProcess, answers: Answers
) -> None:
    async with answers.connected(short) as call:
        flow = await start(call, CODEX, "expired")
        assert near_ms(flow["expiresAt"], time.time() * 1000 + TTL_S * 1000, 2_000)
        outcome = await wait(call, flow)  # returns when the flow expires, long before WAIT_MS
        assert outcome["status"] == "expired"
        fail_with(outcome["error"], LoginFailed)
        held_port(redirect_port(flow)).close()
        with pytest.raises(FlowNotFound) as ended:
            await paste(call, flow, redirectUrl=await browse(oauth, flow))
        assert ended.value.data["status"] == "expired"
        assert FlowNotFound.next_step.startswith("Start a new one")


async def test_an_opt_in_login_not_enabled_is_refused_with_its_policy_note(
    short: DaemonProcess, answers: Answers
) -> None:
    async with answers.connected(short) as call:
        with pytest.raises(LoginNotAllowed) as refused:
            await call("auth.oauth.start", {"provider": GEMINI, "method": "browser"})
        providers = await call("auth.oauth.providers")
    assert refused.value.data["note"] == LOGINS_BY_PROVIDER[GEMINI].policy
    assert f"enabled = true in [oauth.{GEMINI}]" in (refused.value.detail or "")
    (row,) = [row for row in providers["providers"] if row["provider"] == GEMINI]
    assert (row["status"], row["enabled"]) == ("opt-in", False)


# -- waiting and notifications ------------------------------------------------------------------


async def test_every_waiter_on_a_flow_gets_its_outcome(
    oauth: ThreadedOAuth, daemon: DaemonProcess, answers: Answers
) -> None:
    async with (
        Client(daemon.socket) as one,
        Client(daemon.socket) as two,
        Client(daemon.socket) as three,
    ):
        clients = [answers.recording(client) for client in (one, two, three)]
        flow = await start(clients[0], CODEX, "waiters")
        waits = [asyncio.create_task(wait(each, flow)) for each in clients]
        for each in clients:  # each wait has reached the daemon once this answer is back
            await each("daemon.info")
        assert not any(task.done() for task in waits)
        assert (await follow(await browse(oauth, flow)))[0] == 200
        assert await asyncio.gather(*waits) == [done(flow)] * 3


async def test_websocket_clients_of_a_flow_are_told_when_it_ends(
    oauth: ThreadedOAuth, daemon: DaemonProcess, answers: Answers
) -> None:
    async with Client(daemon.socket) as starter, Client(daemon.socket) as watcher:
        flow = await start(answers.recording(starter), CODEX, "notified")
        pending = await wait(answers.recording(watcher), flow, timeout_ms=1)
        assert pending["status"] == "pending"  # and the watcher now follows the flow
        assert (await follow(await browse(oauth, flow)))[0] == 200
        for client in (starter, watcher):
            async with asyncio.timeout(10):
                note = await anext(aiter(client.notifications()))
            answers.seen.append(note)
            assert note == {"jsonrpc": "2.0", "method": "auth.oauth.status", "params": done(flow)}


# -- token endpoint faults ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (Fault.HTML, "an HTML page"),
        (Fault.SERVER_ERROR, "HTTP 500"),
        (Fault.GARBAGE, "not JSON"),
    ],
)
async def test_a_failing_token_endpoint_fails_the_flow_and_keeps_the_stored_login(
    oauth: ThreadedOAuth, call: Call, fault: Fault, said: str
) -> None:
    account = f"fault-{fault.value}"
    kept = await logged_in(oauth, call, CODEX, account)
    flow = await start(call, CODEX, account, "paste")
    location = await browse(oauth, flow)
    oauth.fake.fail(fault, CODEX, times=1)
    try:
        with pytest.raises(LoginFailed) as failed:
            await paste(call, flow, redirectUrl=location)
    finally:
        oauth.fake.clear_faults()
    assert said in (failed.value.detail or "")
    assert failed.value.data["nextStep"] == LoginFailed.next_step
    outcome = await wait(call, flow)
    assert outcome["status"] == "failed"
    fail_with(outcome["error"], LoginFailed)
    assert await credential(call, CODEX, account) == kept


async def test_a_token_endpoint_failing_behind_the_loopback_says_so_on_the_page(
    oauth: ThreadedOAuth, call: Call
) -> None:
    kept = await logged_in(oauth, call, CODEX, "fault-loopback")
    flow = await start(call, CODEX, "fault-loopback")
    location = await browse(oauth, flow)
    oauth.fake.fail(Fault.SERVER_ERROR, CODEX, times=1)
    try:
        status, page = await follow(location)
    finally:
        oauth.fake.clear_faults()
    assert (status, "The login failed" in page, "HTTP 500" in page) == (502, True, True)
    outcome = await wait(call, flow)
    assert outcome["status"] == "failed"
    fail_with(outcome["error"], LoginFailed)
    assert await credential(call, CODEX, "fault-loopback") == kept


async def test_a_token_endpoint_that_hangs_then_recovers_still_finishes_the_flow(
    oauth: ThreadedOAuth, call: Call
) -> None:
    kept = await logged_in(oauth, call, CODEX, "fault-hang")
    flow = await start(call, CODEX, "fault-hang", "paste")
    location = await browse(oauth, flow)
    sent = len(oauth.fake.requests_to(codex.TOKEN))
    oauth.fake.fail(Fault.HANG, CODEX)
    try:
        pasted = asyncio.create_task(paste(call, flow, redirectUrl=location))
        await oauth.wait(oauth.fake.wait_for(codex.TOKEN, sent + 1))
        assert not pasted.done()
        assert await credential(call, CODEX, "fault-hang") == kept  # nothing lost meanwhile
    finally:
        oauth.fake.clear_faults()
    assert await pasted == done(flow)
    assert (await credential(call, CODEX, "fault-hang"))["obtainedAt"] > kept["obtainedAt"]


# -- the config keys these tests lean on --------------------------------------------------------


# A bad value of either is among the bad tables of test_logins.py.
def test_flow_ttl_s_and_a_list_of_redirect_ports_are_read_from_the_oauth_tables() -> None:
    tables = {"flow_ttl_s": 0.25, CODEX: {"redirect_port": [2001, 2002]}}
    catalog = LoginCatalog.from_config(tables, "cfg.toml")
    assert {spec.flow_ttl_ms for spec in catalog.specs.values()} == {250}
    assert catalog.spec(CODEX).endpoints.redirect_ports == (2001, 2002)
    assert LoginCatalog.from_config({}).spec(CODEX).flow_ttl_ms == 600_000


# -- and nothing leaked -------------------------------------------------------------------------


def test_no_token_code_or_verifier_reached_a_log_an_answer_or_the_state_dir(
    oauth: ThreadedOAuth, daemon: DaemonProcess, answers: Answers
) -> None:
    """The running daemon so far; each daemon is checked again once it has stopped."""
    assert_daemon_leaked_nothing(daemon, answers.seen, oauth.fake)
