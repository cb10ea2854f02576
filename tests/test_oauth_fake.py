"""The fake OAuth server keeps the RFCs and the reference (oauth-flows.md, sections 1-3).

Driven with plain HTTP, not the daemon: if the fake let a wrong verifier, a replayed code or
a rotated refresh token through, the daemon's login tests against it would prove nothing.
PKCE pairs come from RFC 7636's own example and from authlib, never from the fake.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import tomllib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]

from daemon.auth.login_config import LoginCatalog
from daemon.auth.oauth_http import jwt_claims
from tests.fakes.oauth import codex, copilot, google, minimax, rfc8628
from tests.fakes.oauth.server import FakeOAuth, Fault, NoRedirect
from tests.support.oauth import running_oauth

# RFC 7636 Appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
OTHER_VERIFIER = "x" * 43
CODEX_REDIRECT = "http://localhost:1455/auth/callback"
KIMI_HEADERS = {"X-Msh-Platform": "kimi_cli", "X-Msh-Device-Id": "0f" * 16}
JSON_ACCEPT = {"Accept": "application/json"}


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOAuth]:
    async with FakeOAuth(device_interval=0) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def send(
    http: aiohttp.ClientSession,
    url: str,
    *,
    form: Mapping[str, str] | None = None,
    body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
) -> Reply:
    """One request with a form or JSON body; the whole answer."""
    sent = {"data": dict(form)} if form is not None else {"json": body} if body else {}
    async with http.request(method, url, headers=dict(headers or {}), **sent) as response:
        return Reply(response.status, response.headers, await response.text())


def query(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query))


def codex_authorize(fake: FakeOAuth, **changes: str) -> str:
    params = {
        "response_type": "code",
        "client_id": codex.CLIENT_ID,
        "redirect_uri": CODEX_REDIRECT,
        "scope": "openid profile email offline_access",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "state": "state-1",
        "id_token_add_organizations": "true",
        "codex_cli_simplified_flow": "true",
        **changes,
    }
    return fake.url(codex.AUTHORIZE) + "?" + urlencode(params)


async def codex_code(fake: FakeOAuth) -> str:
    return query(await fake.browse(codex_authorize(fake)))["code"]


def code_form(
    code: str, verifier: str = VERIFIER, redirect: str = CODEX_REDIRECT
) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect,
        "client_id": codex.CLIENT_ID,
        "code_verifier": verifier,
    }


async def codex_login(fake: FakeOAuth, http: aiohttp.ClientSession) -> dict[str, Any]:
    reply = await send(http, fake.url(codex.TOKEN), form=code_form(await codex_code(fake)))
    assert reply.status == 200, reply.text
    tokens: dict[str, Any] = reply.json()
    return tokens


def codex_refresh(token: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": token, "client_id": codex.CLIENT_ID}


def refusal_code(reply: Reply) -> str:
    """codex's refresh refusal code, flat (``code``) or nested (``error.code``)."""
    body = reply.json()
    error = body["error"]
    return str(error["code"] if isinstance(error, dict) else body["code"])


# -- authorization code + PKCE (RFC 6749 4.1, RFC 7636) ----------------------------------------


async def test_a_code_redeems_only_with_the_verifier_of_its_s256_challenge(
    fake: FakeOAuth, http: aiohttp.ClientSession
) -> None:
    location = await fake.browse(codex_authorize(fake))
    assert location.startswith(CODEX_REDIRECT + "?")
    assert query(location)["state"] == "state-1"
    code = query(location)["code"]

    wrong = await send(http, fake.url(codex.TOKEN), form=code_form(code, OTHER_VERIFIER))
    assert (wrong.status, wrong.json()["error"]) == (400, "invalid_grant")

    right = await send(http, fake.url(codex.TOKEN), form=code_form(code))
    assert right.status == 200, right.text
    assert right.headers["Cache-Control"] == "no-store"
    tokens = right.json()
    assert {"id_token", "access_token", "refresh_token", "expires_in"} <= set(tokens)
    auth = jwt_claims(tokens["id_token"])["https://api.openai.com/auth"]
    assert auth["chatgpt_account_id"] == fake.user.account_id


@pytest.mark.parametrize(
    "changes",
    [
        {"code_challenge_method": "plain"},
        {"code_challenge": "", "code_challenge_method": ""},
        {"codex_cli_simplified_flow": ""},
        {"scope": "openid everything"},
        {"state": ""},
    ],
    ids=["plain-pkce", "no-pkce", "no-codex-flag", "unknown-scope", "no-state"],
)
async def test_a_bad_authorization_request_redirects_with_an_error(
    fake: FakeOAuth, changes: dict[str, str]
) -> None:
    answer = query(await fake.browse(codex_authorize(fake, **changes)))
    assert "code" not in answer
    assert answer["error"] in ("invalid_request", "invalid_scope")


async def test_a_bad_client_or_redirect_gets_a_page_never_a_redirect() -> None:
    async with FakeOAuth(codex_redirect_ports=(1455, 1457)) as fake:
        for changes in (
            {"client_id": "app_unknown"},
            {"redirect_uri": "http://localhost:1456/auth/callback"},  # not on the allow-list
            {"redirect_uri": "https://attacker.example/auth/callback"},
        ):
            with pytest.raises(NoRedirect) as refused:
                await fake.browse(codex_authorize(fake, **changes))
            assert refused.value.status == 400
        fallback = codex_authorize(fake, redirect_uri="http://localhost:1457/auth/callback")
        assert "code" in query(await fake.browse(fallback))


async def test_a_denied_authorization_redirects_with_access_denied(fake: FakeOAuth) -> None:
    answer = query(await fake.browse(codex_authorize(fake), deny=True))
    assert (answer["error"], answer["state"]) == ("access_denied", "state-1")
    assert "code" in query(await fake.browse(codex_authorize(fake)))  # the next one is approved


async def test_a_code_used_twice_is_refused_and_its_tokens_revoked(
    fake: FakeOAuth, http: aiohttp.ClientSession
) -> None:
    redirect = "http://127.0.0.1:50123/oauth2callback"
    params = {
        "response_type": "code",
        "client_id": google.CLIENT_ID,
        "redirect_uri": redirect,
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "state": "s",
        "access_type": "offline",
    }
    location = await fake.browse(fake.url(google.AUTHORIZE) + "?" + urlencode(params))
    form = {
        "grant_type": "authorization_code",
        "code": query(location)["code"],
        "redirect_uri": redirect,
        "client_id": google.CLIENT_ID,
        "client_secret": google.CLIENT_SECRET,
    }
    first = await send(http, fake.url(google.TOKEN), form=form)
    assert first.status == 200, first.text
    bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
    assist = fake.url(google.CODE_ASSIST)
    assert (await send(http, assist, body={"metadata": {}}, headers=bearer)).status == 200

    again = await send(http, fake.url(google.TOKEN), form=form)
    assert (again.status, again.json()["error"]) == (400, "invalid_grant")
    assert (await send(http, assist, body={"metadata": {}}, headers=bearer)).status == 401
    refresh = {
        **form,
        "grant_type": "refresh_token",
        "refresh_token": first.json()["refresh_token"],
    }
    assert (await send(http, fake.url(google.TOKEN), form=refresh)).json()[
        "error"
    ] == "invalid_grant"


async def test_google_wants_its_client_secret_in_the_body_or_basic(
    fake: FakeOAuth, http: aiohttp.ClientSession
) -> None:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": "1//unknown",
        "client_id": google.CLIENT_ID,
    }
    missing = await send(http, fake.url(google.TOKEN), form=form)
    assert (missing.status, missing.json()["error"]) == (401, "invalid_client")
    pair = f"{google.CLIENT_ID}:{google.CLIENT_SECRET}".encode()
    basic = "Basic " + base64.b64encode(pair).decode()  # RFC 6749 2.3.1
    through_basic = await send(
        http, fake.url(google.TOKEN), form=form, headers={"Authorization": basic}
    )
    assert (through_basic.status, through_basic.json()["error"]) == (400, "invalid_grant")


# -- refresh (RFC 6749 6) and revocation (RFC 7009) ---------------------------------------------


@pytest.mark.parametrize("style", ["flat", "nested"])
async def test_codex_rotates_refresh_tokens_and_a_reused_one_revokes_the_family(
    fake: FakeOAuth, http: aiohttp.ClientSession, style: str
) -> None:
    fake.codex_error_style = style
    first = (await codex_login(fake, http))["refresh_token"]
    # codex-rs refreshes with a JSON body
    rotated = await send(http, fake.url(codex.TOKEN), body=codex_refresh(first))
    assert rotated.status == 200, rotated.text
    second = rotated.json()["refresh_token"]
    assert second != first
    assert fake.refresh_counts["openai-codex"] == 1

    reused = await send(http, fake.url(codex.TOKEN), form=codex_refresh(first))
    assert (reused.status, refusal_code(reused)) == (401, "refresh_token_reused")
    family = await send(http, fake.url(codex.TOKEN), form=codex_refresh(second))
    assert (family.status, refusal_code(family)) == (401, "refresh_token_invalidated")


async def test_an_expired_refresh_token_is_refused_as_expired(
    fake: FakeOAuth, http: aiohttp.ClientSession
) -> None:
    fake.refresh_lifetime = 60.0
    token = (await codex_login(fake, http))["refresh_token"]
    fake.advance(61)
    expired = await send(http, fake.url(codex.TOKEN), form=codex_refresh(token))
    assert (expired.status, refusal_code(expired)) == (401, "refresh_token_expired")


async def test_revocation_answers_200_and_a_refresh_token_takes_its_family(
    fake: FakeOAuth, http: aiohttp.ClientSession
) -> None:
    tokens = await codex_login(fake, http)
    revoke = fake.url(codex.REVOKE)
    for token in (tokens["access_token"], "never-issued"):
        reply = await send(http, revoke, form={"token": token, "client_id": codex.CLIENT_ID})
        assert reply.status == 200
    still = await send(http, fake.url(codex.TOKEN), form=codex_refresh(tokens["refresh_token"]))
    assert still.status == 200, "revoking an access token leaves its refresh token"

    fresh = still.json()["refresh_token"]
    form = {"token": fresh, "client_id": codex.CLIENT_ID}
    assert (await send(http, revoke, form=form)).status == 200
    dead = await send(http, fake.url(codex.TOKEN), form=codex_refresh(fresh))
    assert (dead.status, refusal_code(dead)) == (401, "refresh_token_invalidated")
    assert fake.live_tokens("openai-codex") == []


async def test_the_codex_device_login_hands_over_a_code_and_its_verifier(
    fake: FakeOAuth, http: aiohttp.ClientSession
) -> None:
    begun = await send(
        http, fake.url(codex.DEVICE + "/usercode"), body={"client_id": codex.CLIENT_ID}
    )
    grant = begun.json()
    assert isinstance(grant["interval"], str)  # a string on this wire
    poll = {"device_auth_id": grant["device_auth_id"], "user_code": grant["user_code"]}
    pending = await send(http, fake.url(codex.DEVICE + "/token"), body=poll)
    assert pending.status == 403
    fake.approve(grant["user_code"])
    issued = (await send(http, fake.url(codex.DEVICE + "/token"), body=poll)).json()
    assert create_s256_code_challenge(issued["code_verifier"]) == issued["code_challenge"]
    form = code_form(
        issued["authorization_code"], issued["code_verifier"], codex.device_redirect_uri(fake)
    )
    assert (await send(http, fake.url(codex.TOKEN), form=form)).status == 200


# -- device grants (RFC 8628) --------------------------------------------------------------------


async def qwen_device(fake: FakeOAuth, http: aiohttp.ClientSession) -> dict[str, Any]:
    form = {
        "client_id": rfc8628.QWEN_CLIENT_ID,
        "scope": "openid profile email model.completion",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    reply = await send(http, fake.url(rfc8628.QWEN_DEVICE), form=form)
    assert reply.status == 200, reply.text
    device: dict[str, Any] = reply.json()
    return device


def qwen_poll(device: Mapping[str, Any], verifier: str = VERIFIER) -> dict[str, str]:
    return {
        "grant_type": rfc8628.DEVICE_GRANT,
        "client_id": rfc8628.QWEN_CLIENT_ID,
        "device_code": device["device_code"],
        "code_verifier": verifier,
    }


async def test_a_device_code_is_pending_until_approved_then_redeems_once(
    fake: FakeOAuth, http: aiohttp.ClientSession
) -> None:
    device = await qwen_device(fake, http)
    assert device["user_code"] in device["verification_uri_complete"]
    token_url = fake.url(rfc8628.QWEN_TOKEN)
    pending = await send(http, token_url, form=qwen_poll(device))
    assert (pending.status, pending.json()["error"]) == (400, "authorization_pending")

    fake.approve(device["user_code"].lower().replace("-", ""))  # RFC 8628 6.1: loose match
    wrong = await send(http, token_url, form=qwen_poll(device, OTHER_VERIFIER))
    assert wrong.json()["error"] == "invalid_grant"
    done = await send(http, token_url, form=qwen_poll(device))
    assert done.status == 200, done.text
    assert done.json()["resource_url"] == rfc8628.qwen_resource_url(fake)
    again = await send(http, token_url, form=qwen_poll(device))
    assert again.json()["error"] == "invalid_grant"


async def test_polling_faster_than_the_interval_is_told_to_slow_down(
    fake: FakeOAuth, http: aiohttp.ClientSession
) -> None:
    fake.device_interval = 100  # any two polls in a row are too close together
    device = await qwen_device(fake, http)
    token_url = fake.url(rfc8628.QWEN_TOKEN)
    await send(http, token_url, form=qwen_poll(device))
    slow = await send(http, token_url, form=qwen_poll(device))
    assert (slow.status, slow.json()["error"]) == (429, "slow_down")  # chat.qwen.ai's status
    fake.advance(101)  # the old interval is not enough any more: it grew by 5 s
    assert (await send(http, token_url, form=qwen_poll(device))).json()["error"] == "slow_down"
    fake.advance(111)
    later = await send(http, token_url, form=qwen_poll(device))
    assert later.json()["error"] == "authorization_pending"


@pytest.mark.parametrize("outcome", ["denied", "expired"])
async def test_a_denied_or_expired_device_code_ends_the_login(
    fake: FakeOAuth, http: aiohttp.ClientSession, outcome: str
) -> None:
    begun = await send(
        http,
        fake.url(rfc8628.KIMI_DEVICE),
        form={"client_id": rfc8628.KIMI_CLIENT_ID},
        headers=KIMI_HEADERS,
    )
    device = begun.json()
    if outcome == "denied":
        fake.deny(device["user_code"])
    else:
        fake.advance(device["expires_in"] + 1)
    poll = {
        "grant_type": rfc8628.DEVICE_GRANT,
        "client_id": rfc8628.KIMI_CLIENT_ID,
        "device_code": device["device_code"],
    }
    reply = await send(http, fake.url(rfc8628.KIMI_TOKEN), form=poll, headers=KIMI_HEADERS)
    wanted = {"denied": "access_denied", "expired": "expired_token"}[outcome]
    assert (reply.status, reply.json()["error"]) == (400, wanted)


async def test_kimi_wants_its_device_headers(fake: FakeOAuth, http: aiohttp.ClientSession) -> None:
    form = {"client_id": rfc8628.KIMI_CLIENT_ID}
    bare = await send(http, fake.url(rfc8628.KIMI_DEVICE), form=form)
    assert (bare.status, bare.json()["error"]) == (400, "invalid_request")
    assert "X-Msh-Device-Id" in bare.json()["error_description"]


# -- minimax-portal (reference 3.6) --------------------------------------------------------------


async def minimax_code(fake: FakeOAuth, http: aiohttp.ClientSession) -> dict[str, Any]:
    form = {
        "response_type": "code",
        "client_id": minimax.CLIENT_ID,
        "scope": "group_id profile model.completion",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "state": "mm-state",
    }
    reply = await send(http, fake.url(minimax.DEVICE), form=form, headers={"x-request-id": "r1"})
    assert reply.status == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def minimax_poll(user_code: str, verifier: str = VERIFIER) -> dict[str, str]:
    return {
        "grant_type": minimax.USER_CODE_GRANT,
        "client_id": minimax.CLIENT_ID,
        "user_code": user_code,
        "code_verifier": verifier,
    }


async def test_minimax_answers_every_poll_with_200_and_a_status(
    fake: FakeOAuth, http: aiohttp.ClientSession
) -> None:
    fake.device_interval = 2.5
    begun = await minimax_code(fake, http)
    now_ms = fake.now() * 1000
    assert begun["state"] == "mm-state"
    assert now_ms < begun["expired_in"] <= now_ms + fake.device_lifetime * 1000  # absolute ms
    assert begun["interval"] == 2500  # milliseconds
    token_url = fake.url(minimax.TOKEN)
    pending = await send(http, token_url, form=minimax_poll(begun["user_code"]))
    assert (pending.status, pending.json()["status"]) == (200, "pending")

    fake.approve(begun["user_code"])
    wrong = await send(http, token_url, form=minimax_poll(begun["user_code"], OTHER_VERIFIER))
    assert (wrong.status, wrong.json()["status"]) == (200, "error")
    done = await send(http, token_url, form=minimax_poll(begun["user_code"]))
    tokens = done.json()
    assert (done.status, tokens["status"]) == (200, "success")
    assert tokens["expired_in"] > fake.now() * 1000  # an absolute deadline, not seconds
    assert tokens["resource_url"] == minimax.resource_url(fake)

    refresh = {
        "grant_type": "refresh_token",
        "client_id": minimax.CLIENT_ID,
        "refresh_token": tokens["refresh_token"],
    }
    renewed = (await send(http, token_url, form=refresh)).json()
    assert renewed["status"] == "success"
    assert renewed["access_token"] != tokens["access_token"]
    dead = await send(http, token_url, form=refresh)  # the rotated-away one
    assert (dead.status, dead.json()["status"]) == (200, "error")


async def test_minimax_denied_is_a_status_error_and_bad_requests_carry_base_resp(
    fake: FakeOAuth, http: aiohttp.ClientSession
) -> None:
    begun = await minimax_code(fake, http)
    fake.deny(begun["user_code"])
    denied = await send(http, fake.url(minimax.TOKEN), form=minimax_poll(begun["user_code"]))
    assert (denied.status, denied.json()["status"]) == (200, "error")
    no_state = {"response_type": "code", "client_id": minimax.CLIENT_ID, "scope": "profile"}
    bad = await send(http, fake.url(minimax.DEVICE), form=no_state)
    assert bad.status == 400
    assert bad.json()["base_resp"]["status_msg"]


# -- github-copilot (reference 3.10) -------------------------------------------------------------


async def github_login(fake: FakeOAuth, http: aiohttp.ClientSession) -> str:
    form = {"client_id": copilot.CLIENT_ID, "scope": "read:user"}
    device = (await send(http, fake.url(copilot.DEVICE), form=form, headers=JSON_ACCEPT)).json()
    poll = {
        "client_id": copilot.CLIENT_ID,
        "device_code": device["device_code"],
        "grant_type": copilot.DEVICE_GRANT,
    }
    pending = await send(http, fake.url(copilot.TOKEN), form=poll, headers=JSON_ACCEPT)
    assert (pending.status, pending.json()["error"]) == (200, "authorization_pending")
    as_form = await send(http, fake.url(copilot.TOKEN), form=poll)  # no Accept: JSON
    assert as_form.status == 200
    assert as_form.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert dict(parse_qsl(as_form.text))["error"] == "authorization_pending"

    fake.approve(device["user_code"])
    done = await send(http, fake.url(copilot.TOKEN), form=poll, headers=JSON_ACCEPT)
    tokens = done.json()
    assert tokens["access_token"].startswith("ghu_")
    assert "refresh_token" not in tokens  # GitHub's token is long-lived, with no refresh
    assert "expires_in" not in tokens
    return str(tokens["access_token"])


async def test_copilot_exchanges_a_github_token_until_it_is_revoked(
    fake: FakeOAuth, http: aiohttp.ClientSession
) -> None:
    github = await github_login(fake, http)
    auth = {"Authorization": f"token {github}"}
    reply = await send(http, fake.url(copilot.EXCHANGE), headers=auth, method="GET")
    assert reply.status == 200, reply.text
    minted = reply.json()
    fields = dict(part.split("=", 1) for part in minted["token"].split(";"))
    assert {"tid", "exp", "proxy-ep"} <= set(fields)
    assert int(fields["exp"]) == minted["expires_at"]
    assert 0 < minted["expires_at"] - fake.now() <= fake.copilot_lifetime  # epoch seconds
    assert 0 < minted["refresh_in"] < fake.copilot_lifetime
    assert minted["endpoints"]["api"] == copilot.api_url(fake)

    fake.revoke_token(github)
    refused = await send(http, fake.url(copilot.EXCHANGE), headers=auth, method="GET")
    assert (refused.status, refused.json()["message"]) == (401, "Bad credentials")


async def test_github_tells_a_fast_poller_the_new_interval(
    fake: FakeOAuth, http: aiohttp.ClientSession
) -> None:
    fake.device_interval = 100
    form = {"client_id": copilot.CLIENT_ID, "scope": "read:user"}
    device = (await send(http, fake.url(copilot.DEVICE), form=form, headers=JSON_ACCEPT)).json()
    poll = {**form, "device_code": device["device_code"], "grant_type": copilot.DEVICE_GRANT}
    await send(http, fake.url(copilot.TOKEN), form=poll, headers=JSON_ACCEPT)
    slow = (await send(http, fake.url(copilot.TOKEN), form=poll, headers=JSON_ACCEPT)).json()
    assert (slow["error"], slow["interval"]) == ("slow_down", 105)


# -- faults, recording, config ----------------------------------------------------------------


@pytest.mark.parametrize("fault", [Fault.HTML, Fault.SERVER_ERROR, Fault.GARBAGE])
async def test_a_faulted_token_endpoint_answers_badly_as_many_times_as_asked(
    fake: FakeOAuth, http: aiohttp.ClientSession, fault: Fault
) -> None:
    fake.fail(fault, "qwen-portal", times=1)
    device = await qwen_device(fake, http)  # not a token endpoint: unaffected
    broken = await send(http, fake.url(rfc8628.QWEN_TOKEN), form=qwen_poll(device))
    if fault is Fault.HTML:
        assert broken.headers["Content-Type"].startswith("text/html")
    elif fault is Fault.SERVER_ERROR:
        assert broken.status == 500
    else:
        with pytest.raises(ValueError, match="Unterminated string"):
            broken.json()
    healed = await send(http, fake.url(rfc8628.QWEN_TOKEN), form=qwen_poll(device))
    assert healed.json()["error"] == "authorization_pending"


async def test_a_hung_token_endpoint_answers_once_the_fault_is_cleared(
    fake: FakeOAuth, http: aiohttp.ClientSession
) -> None:
    device = await qwen_device(fake, http)
    fake.fail(Fault.HANG, "qwen-portal")
    stuck = asyncio.create_task(send(http, fake.url(rfc8628.QWEN_TOKEN), form=qwen_poll(device)))
    await fake.wait_for(rfc8628.QWEN_TOKEN)
    assert not stuck.done()
    fake.clear_faults()
    async with asyncio.timeout(10):  # a guard: a fake that never lets go fails, not hangs
        released = await stuck
    assert released.json()["error"] == "authorization_pending"


async def test_a_hung_request_is_cut_off_when_the_fake_stops(
    fake: FakeOAuth, http: aiohttp.ClientSession
) -> None:
    fake.fail(Fault.HANG, path=copilot.EXCHANGE)
    stuck = asyncio.create_task(send(http, fake.url(copilot.EXCHANGE), method="GET"))
    await fake.wait_for(copilot.EXCHANGE)
    await fake.stop()
    with pytest.raises(aiohttp.ClientError):
        async with asyncio.timeout(10):  # a guard, as above
            await stuck


async def test_every_request_is_recorded_with_its_headers_and_body(
    fake: FakeOAuth, http: aiohttp.ClientSession
) -> None:
    await minimax_code(fake, http)
    seen = fake.requests_to(minimax.DEVICE)
    assert len(seen) == 1
    assert seen[0].headers["x-request-id"] == "r1"
    assert seen[0].body["state"] == "mm-state"


async def test_the_config_points_each_login_at_the_fake_and_enables_the_opt_in_ones(
    fake: FakeOAuth,
) -> None:
    tables = tomllib.loads(fake.oauth_config())["oauth"]
    assert set(tables) == {
        "openai-codex",
        "google-gemini-cli",
        "qwen-portal",
        "kimi-coding",
        "minimax-portal",
        "github-copilot",
    }
    catalog = LoginCatalog.from_config(tables)  # the daemon's own reading of it
    assert catalog.enabled == {"google-gemini-cli", "github-copilot"}
    for provider in tables:
        endpoints = catalog.spec(provider).endpoints
        assert endpoints.token_url is not None
        assert endpoints.token_url.startswith(fake.url("/"))
    only = tomllib.loads(fake.oauth_config(["kimi-coding"]))["oauth"]
    assert list(only) == ["kimi-coding"]


def test_the_threaded_fake_serves_a_caller_on_another_thread() -> None:
    with running_oauth() as oauth:
        location = oauth.browse(codex_authorize(oauth.fake))
        assert "code" in query(location)
        assert len(oauth.wait_for(codex.AUTHORIZE)) == 1
        tables = tomllib.loads(oauth.config("github-copilot"))["oauth"]
        assert tables["github-copilot"]["enabled"] is True
    port = urlsplit(oauth.base_url).port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port or 0), timeout=5).close()
