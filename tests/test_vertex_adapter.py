"""The google-vertex adapter: both publishers' requests, Vertex's recorded traffic, and the
service-account token exchange against a loopback token endpoint that checks the JWT."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from daemon.adapters import adapter_for
from daemon.adapters import google_generative_ai as gemini
from daemon.adapters import google_vertex as vertex
from daemon.adapters.types import Assembly, ChatCall, Target
from daemon.auth.credentials import EmptyVault, resolve
from daemon.errors import (
    ConfigInvalid,
    CredentialsMissing,
    DaemonError,
    Unsupported,
    UpstreamAuthFailed,
    UpstreamProtocol,
    UpstreamRejected,
    UpstreamUnavailable,
)
from daemon.providers.catalog import PROVIDERS
from daemon.providers.lookup import Registry
from daemon.providers.model import ApiFamily, Quirk
from tests.fakes import cassettes
from tests.support.local_server import serving
from tests.support.replay import Recordings, raw_body

GEMINI_WIRE = Recordings("gemini")
ANTHROPIC_WIRE = Recordings("anthropic_messages")
VERTEX_ROW = next(p for p in PROVIDERS if p.id == "vertex-ai")
CLAUDE_ROW = next(p for p in PROVIDERS if p.id == "google-vertex-anthropic")
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
PEM_LINE = PEM.splitlines()[5]  # a line of key material, to look for in error texts
EMAIL = "switchboard@p.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
HI = [{"role": "user", "content": "hi"}]


def b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass
class FakeGoogle:
    """A token endpoint (``/token``) and Vertex's publisher endpoints on one loopback port.

    ``faults["token"]`` / ``faults["vertex"]`` are (status, body) answers served first."""

    public_key: rsa.RSAPublicKey
    base: str = ""
    expires_in: int = 3600
    faults: dict[str, list[tuple[int, bytes]]] = field(
        default_factory=lambda: {"token": [], "vertex": []}
    )
    answer: tuple[str, bytes] = ("application/json", b"{}")
    assertions: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    seen: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    def fault(self, kind: str) -> web.Response | None:
        if not self.faults[kind]:
            return None
        status, body = self.faults[kind].pop(0)
        return web.Response(status=status, body=body, content_type="application/json")

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if fault := self.fault("token"):
            return fault
        self.assertions.append(str(form.get("assertion")))
        if problem := self.check(form.get("grant_type"), self.assertions[-1]):
            error = {"error": "invalid_grant", "error_description": problem}
            return web.json_response(error, status=400)
        self.tokens.append(f"ya29.fake-token-{len(self.tokens)}-{'x' * 40}")
        answer = {"access_token": self.tokens[-1], "expires_in": self.expires_in}
        return web.json_response({**answer, "token_type": "Bearer"})

    def check(self, grant: Any, assertion: str) -> str | None:
        """What is wrong with the grant, the way Google would judge it; None if nothing."""
        if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return "unsupported grant_type"
        head, body, signature = assertion.split(".")
        signed, sha256 = f"{head}.{body}".encode(), hashes.SHA256()
        try:
            self.public_key.verify(b64decode(signature), signed, padding.PKCS1v15(), sha256)
        except InvalidSignature:
            return "Invalid JWT Signature."
        header, claims = json.loads(b64decode(head)), json.loads(b64decode(body))
        expected = {"iss": EMAIL, "aud": f"{self.base}/token", "scope": SCOPE}
        if header != {"alg": "RS256", "typ": "JWT", "kid": "kid-1"}:
            return f"bad header {header}"
        lifetime = claims["exp"] - claims["iat"]
        if {k: claims.get(k) for k in expected} != expected or lifetime != 3600:
            return f"bad claims {claims}"
        return None

    async def vertex(self, request: web.Request) -> web.Response:
        headers = request.headers
        self.seen.append(
            (request.path_qs, headers.get("Authorization"), headers.get("x-goog-api-key"))
        )
        return self.fault("vertex") or web.Response(
            body=self.answer[1], content_type=self.answer[0]
        )


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A token cache of this test's own, on a clock it moves; no ambient credentials."""
    clock = Clock()
    monkeypatch.setattr(vertex, "TOKENS", vertex.TokenCache(clock=clock))
    monkeypatch.delenv(vertex.CREDENTIALS_ENV, raising=False)
    return clock


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    fake = FakeGoogle(KEY.public_key())
    app = web.Application()
    app.router.add_post("/token", fake.token)
    route = "/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{tail}"
    app.router.add_post(route, fake.vertex)
    async with serving(app) as origin:
        fake.base = origin
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def key_file(tmp_path: Path, token_uri: str, **changes: Any) -> str:
    info = {"type": "service_account", "project_id": "p", "private_key_id": "kid-1"}
    info |= {"private_key": PEM, "client_email": EMAIL, "token_uri": token_uri, **changes}
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({k: v for k, v in info.items() if v is not None}))
    return str(path)


def target(
    base: str = "https://l-aiplatform.googleapis.com/v1/projects/p/locations/l",
    model: str = "gemini-2.5-flash",
    **changes: Any,
) -> Target:
    return dataclasses.replace(Target(VERTEX_ROW, base, model, None), **changes)


def local_target(fake: FakeGoogle, path: str, **changes: Any) -> Target:
    base = f"{fake.base}/v1/projects/p/locations/l"
    return target(base, options={"credentials_file": path}, **changes)


async def run(
    session: aiohttp.ClientSession, where: Target, call: ChatCall | None = None
) -> Assembly:
    assembly = Assembly()
    async for batch in vertex.stream(session, where, call or ChatCall("m", HI), 5.0):
        for event in batch:
            assembly.add(event)
    return assembly


def secret_free(error: DaemonError | str, fake: FakeGoogle | None = None) -> bool:
    """No key material, signed assertion or access token in ``error`` (or a text)."""
    if isinstance(error, DaemonError):
        error = f"{error} {error!r} {orjson.dumps(error.to_rpc()).decode()}"
    secrets = [PEM_LINE, *(fake.assertions if fake else ()), *(fake.tokens if fake else ())]
    return not any(secret in error for secret in secrets if secret)


# --- requests -------------------------------------------------------------------------------

TOOL = {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}
ROUND_TRIP: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Weather here?"},
            {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
        ],
    },
    {
        "role": "assistant",
        "content": "",
        "toolCalls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Oslo"}}],
    },
    {"role": "tool", "toolCallId": "c1", "content": "rain"},
]


def sent(where: Target, call: ChatCall, token: str | None = "tok") -> tuple[Any, dict[str, Any]]:
    request = vertex.build_request(where, call, token)
    assert request.method == "POST"
    return request, orjson.loads(request.body or b"")


def test_a_gemini_request_has_the_gemini_body_and_a_bearer_token() -> None:
    call = ChatCall("m", ROUND_TRIP, tools=[TOOL], tool_choice="auto", temperature=0.2)
    request, body = sent(target(), call)
    assert request.url == (
        "https://l-aiplatform.googleapis.com/v1/projects/p/locations/l"
        "/publishers/google/models/gemini-2.5-flash:generateContent"
    )
    assert request.headers["Authorization"] == "Bearer tok"
    assert "x-goog-api-key" not in request.headers
    assert body == gemini.request_body(call)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    user, model, result = body["contents"]
    assert user["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
    assert model["parts"] == [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]
    response = {"name": "get_weather", "response": {"content": "rain"}}
    assert result == {"role": "user", "parts": [{"functionResponse": response}]}
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"


def test_a_streamed_gemini_request_and_an_express_api_key() -> None:
    request, _ = sent(target(key="AQ.express"), ChatCall("m", HI, stream=True), token=None)
    assert request.url.endswith("/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert request.headers["Accept"] == "text/event-stream"
    assert request.headers["x-goog-api-key"] == "AQ.express"
    assert "Authorization" not in request.headers


@pytest.mark.parametrize(
    ("row", "model"),
    [(CLAUDE_ROW, "claude-sonnet-4@20250514"), (VERTEX_ROW, "claude-opus-4-1@20250805")],
)
def test_claude_goes_to_the_anthropic_publisher(row: Any, model: str) -> None:
    call = ChatCall("m", ROUND_TRIP, tools=[TOOL], max_tokens=100, stream=True)
    request, body = sent(target(model=model, provider=row), call)
    assert request.url.endswith(f"/publishers/anthropic/models/{model}:streamRawPredict")
    assert request.headers["Authorization"] == "Bearer tok"
    assert "anthropic-version" not in request.headers
    assert body["anthropic_version"] == "vertex-2023-10-16"
    assert "model" not in body
    assert (body["system"], body["max_tokens"], body["stream"]) == ("Be brief.", 100, True)
    assert body["tools"] == [
        {"name": "get_weather", "input_schema": {"type": "object"}, "description": "Weather"}
    ]
    user, assistant, result = body["messages"]
    assert user["content"][1]["source"] == {
        "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo=",
    }  # fmt: skip
    assert assistant["content"] == [
        {"type": "tool_use", "id": "c1", "name": "get_weather", "input": {"city": "Oslo"}}
    ]
    assert result["content"] == [{"type": "tool_result", "tool_use_id": "c1", "content": "rain"}]
    whole, _ = sent(target(model=model, provider=row), ChatCall("m", HI))
    assert whole.url.endswith(":rawPredict")


# --- Vertex's recorded traffic ---------------------------------------------------------------


def vertex_recordings() -> dict[str, cassettes.Interaction]:
    """The gemini recordings whose request went to Vertex AI, by file name."""
    found = {}
    for path in sorted(GEMINI_WIRE.folder.glob("*.yaml")):
        interaction = cassettes.load(path)[-1]
        if "aiplatform.googleapis.com" in interaction.uri:
            found[path.name] = interaction
    return found


def test_recorded_vertex_requests_are_what_the_adapter_builds() -> None:
    recorded = vertex_recordings()
    assert len(recorded) == 2  # the otel stream and the otel 400 (README: "otel (Vertex)")
    for interaction in recorded.values():
        base, _, tail = interaction.uri.partition("/publishers/")
        model = tail.split("/models/")[1].split(":")[0]
        config = interaction.request.get("generationConfig", {})
        text = interaction.request["contents"][0]["parts"][0]["text"]
        user = [{"role": "user", "content": text}]
        stream = "alt=sse" in interaction.uri
        call = ChatCall("m", user, temperature=config.get("temperature"), stream=stream)
        request, body = sent(target(base, model), call)
        assert request.url.split("?")[0] == interaction.uri.split("?")[0]
        assert body == interaction.request


async def test_a_recorded_vertex_stream_and_error_through_the_adapter(
    google: FakeGoogle, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    name = "test_streaming[logcontent-gemini-2.5-flash-vertexaiapi-sync-default].yaml"
    google.answer = ("text/event-stream", raw_body(GEMINI_WIRE(name)))
    where = local_target(google, key_file(tmp_path, f"{google.base}/token"))
    assembly = await run(session, where, ChatCall("m", HI, stream=True))
    assert assembly.message()["content"].startswith("When systems hum, a silent, complex art,")
    assert assembly.message()["content"].endswith("Makes complex software shine so bright.")
    assert (assembly.usage["inputTokens"], assembly.usage["outputTokens"]) == (8, 388 + 2193)
    assert google.seen[0][0].endswith(":streamGenerateContent?alt=sse")
    assert google.seen[0][1] == f"Bearer {google.tokens[0]}"
    interaction = GEMINI_WIRE("test_generate_content_invalid_temperature.yaml")
    google.faults["vertex"].append((interaction.status or 0, raw_body(interaction)))
    with pytest.raises(UpstreamRejected) as caught:
        await run(session, where, ChatCall("m", HI, temperature=1000.0))
    assert caught.value.data["upstreamCode"] == "INVALID_ARGUMENT"
    assert "temperature value of 1000" in (caught.value.detail or "")


async def test_claude_answers_parse_as_anthropic_events(
    google: FakeGoogle, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    # No recording of Claude on Vertex exists; streamRawPredict relays Anthropic's events as is.
    body = raw_body(ANTHROPIC_WIRE("test_anthropic_tools_streaming_legacy.yaml"))
    google.answer = ("text/event-stream", body)
    path = key_file(tmp_path, f"{google.base}/token")
    where = local_target(google, path, provider=CLAUDE_ROW, model="claude-sonnet-4@20250514")
    assembly = await run(session, where, ChatCall("m", HI, stream=True))
    assert [c["name"] for c in assembly.message()["toolCalls"]] == ["get_weather", "get_time"]
    assert google.seen[0][0].endswith(
        "/publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict"
    )
    google.faults["vertex"].append((529, b'{"type":"error","error":{"type":"overloaded_error"}}'))
    with pytest.raises(UpstreamUnavailable) as caught:
        await run(session, where)
    assert caught.value.data["upstreamCode"] == "overloaded_error"


# --- the token exchange ----------------------------------------------------------------------


class LogLines:
    """Stands in for the adapter's logger: the daemon's logger is configured once per process
    and caches itself, so capturing structlog's output would depend on which test ran first."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, **fields})


async def test_one_token_serves_many_calls_until_it_nears_expiry(
    google: FakeGoogle,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    google.expires_in = 600  # refreshed 300 s before it runs out
    where = local_target(google, key_file(tmp_path, f"{google.base}/token"))
    logs = LogLines()
    monkeypatch.setattr(vertex, "log", logs)
    await run(session, where)
    assert [line["account"] for line in logs.lines] == [EMAIL]
    assert secret_free(str(logs.lines), google)
    clock.now += 299
    await run(session, where)
    assert len(google.tokens) == 1
    clock.now += 2
    await run(session, where)
    assert len(google.tokens) == 2
    used = [authorization for _, authorization, _ in google.seen]
    assert used == [f"Bearer {google.tokens[0]}"] * 2 + [f"Bearer {google.tokens[1]}"]


async def test_concurrent_calls_share_one_refresh(
    google: FakeGoogle, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = key_file(tmp_path, f"{google.base}/token")
    account = vertex.read_service_account(path, "test")
    got = await asyncio.gather(*(vertex.TOKENS.get(session, account, 5.0) for _ in range(8)))
    assert got == [google.tokens[0]] * 8
    assert len(google.tokens) == 1


async def test_a_refused_token_is_dropped_and_the_next_call_refreshes(
    google: FakeGoogle, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    where = local_target(google, key_file(tmp_path, f"{google.base}/token"))
    unauthenticated = {"error": {"code": 401, "message": "bad", "status": "UNAUTHENTICATED"}}
    google.faults["vertex"].append((401, orjson.dumps(unauthenticated)))
    with pytest.raises(UpstreamAuthFailed) as caught:
        await run(session, where)
    assert secret_free(caught.value, google)
    await run(session, where)
    assert len(google.tokens) == 2


async def test_an_api_key_or_the_env_path_needs_no_option(
    google: FakeGoogle,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keyed = local_target(google, "/nonexistent", key="AQ.express")
    await run(session, keyed)
    assert google.seen[0][1:] == (None, "AQ.express")
    assert google.tokens == []
    monkeypatch.setenv(vertex.CREDENTIALS_ENV, key_file(tmp_path, f"{google.base}/token"))
    await run(session, target(f"{google.base}/v1/projects/p/locations/l"))
    assert google.seen[1][1] == f"Bearer {google.tokens[0]}"


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"type": "authorized_user"}, "type"),
        ({"private_key": None}, "private_key"),
        ({"client_email": ""}, "client_email"),
        ({"private_key": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"},
         "private_key"),
        ({"token_uri": "http://example.com/token"}, "token_uri"),
    ],
)  # fmt: skip
async def test_a_bad_key_file_names_the_field(
    session: aiohttp.ClientSession, tmp_path: Path, changes: dict[str, Any], field_name: str
) -> None:
    path = key_file(tmp_path, **{"token_uri": "https://oauth2.googleapis.com/token", **changes})
    with pytest.raises(ConfigInvalid) as caught:
        await run(session, target(options={"credentials_file": path}))
    assert (caught.value.data["file"], caught.value.data["key"]) == (path, field_name)
    assert secret_free(caught.value)
    assert "c2VjcmV0" not in str(caught.value)


async def test_a_missing_or_unreadable_key_file(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    with pytest.raises(CredentialsMissing) as caught:
        await run(session, target())
    assert "credentials_file" in str(caught.value)
    assert vertex.CREDENTIALS_ENV in caught.value.data["envKeys"]
    missing = str(tmp_path / "nope.json")
    with pytest.raises(CredentialsMissing) as caught:
        await run(session, target(options={"credentials_file": missing}))
    assert missing in str(caught.value)
    assert "credentials_file in [providers.vertex-ai]" in str(caught.value)
    (tmp_path / "sa.json").write_text("{not json " + PEM_LINE)
    with pytest.raises(ConfigInvalid) as invalid:
        await run(session, target(options={"credentials_file": str(tmp_path / "sa.json")}))
    assert secret_free(invalid.value)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, b'{"error":"invalid_grant","error_description":"Invalid grant: account not found"}',
         UpstreamAuthFailed),
        (401, b'{"error":"invalid_client"}', UpstreamAuthFailed),
        (503, b"<html>down</html>", UpstreamUnavailable),
        (200, b"<html>captive portal</html>", UpstreamProtocol),
    ],
)  # fmt: skip
async def test_token_endpoint_failures_are_typed(
    google: FakeGoogle,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    status: int,
    body: bytes,
    expected: type[DaemonError],
) -> None:
    google.faults["token"].append((status, body))
    with pytest.raises(expected) as caught:
        await run(session, local_target(google, key_file(tmp_path, f"{google.base}/token")))
    assert "token endpoint" in str(caught.value)
    assert google.seen == []  # the call itself was never sent
    assert secret_free(caught.value, google)


async def test_a_wrong_key_or_an_unreachable_endpoint(
    google: FakeGoogle, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    google.public_key = other.public_key()  # the key Google holds no longer matches the file
    where = local_target(google, key_file(tmp_path, f"{google.base}/token"))
    with pytest.raises(UpstreamAuthFailed) as caught:
        await run(session, where)
    assert "Invalid JWT Signature" in str(caught.value)
    assert secret_free(caught.value, google)
    closed = key_file(tmp_path, "http://127.0.0.1:9/token")  # discard port: nothing listens
    with pytest.raises(UpstreamUnavailable):
        await run(session, target(options={"credentials_file": closed}))


# --- wiring ----------------------------------------------------------------------------------


async def test_the_rows_resolve_without_a_key_and_fill_the_template(
    session: aiohttp.ClientSession,
) -> None:
    assert adapter_for(ApiFamily.GOOGLE_VERTEX) is vertex
    config = {"vertex": {"project": "my-proj", "location": "europe-west4"}}
    row = Registry(PROVIDERS, config).resolve("vertex")
    assert row.base_url == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-proj/locations/europe-west4"
    )
    assert not row.has(Quirk.NEEDS_CONFIG)
    for provider in (VERTEX_ROW, CLAUDE_ROW):
        settings = Registry([], {}).settings(provider.id)
        assert (await resolve(provider, settings, EmptyVault(), {})).keys == (None,)
    with pytest.raises(Unsupported):
        await vertex.models(session, target(), 5.0)
