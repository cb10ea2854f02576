"""Gemini on Vertex AI, signed in with a service account.

Vertex serves Gemini at ``{base}/publishers/google/models/{model}:generateContent`` (or
``:streamGenerateContent?alt=sse``), ``{base}`` being ``/v1/projects/{project}/locations/
{location}``, with the Gemini API's own bodies and answers: reading, rendering and errors are
the Gemini wire's (:mod:`tests.fakes.families.google_generative_ai`).

What this fake adds is Google's sign-in. When the fake starts, :class:`ServiceAccounts` writes a
service-account key file (an RSA key made then, ``token_uri`` at the fake's ``/token``) into a
temp dir removed when the fake stops (or its process ends); the daemon config names it as
``credentials_file`` and gives no api_key. The token endpoint checks the JWT bearer grant as
Google does (the RS256 signature by the account's key, ``kid``, ``iss``, ``aud``, ``scope``, at
most an hour from ``iat`` to ``exp``) and hands out random access tokens. A call is accepted
only with one of those as ``Authorization: Bearer``: an express-mode ``x-goog-api-key`` gets
Google's 401.
"""

from __future__ import annotations

import atexit
import base64
import json
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from daemon.providers.model import ApiFamily
from tests.fakes.families import google_generative_ai as gemini
from tests.fakes.families.wire import JSON, Wire

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
TOKEN_PATH = "/token"  # under the wire's mount
PROJECT_BASE = "/v1/projects/fake-project/locations/us-central1"
PROJECT_ROUTE = "/v1/projects/{project}/locations/{location}"
MAX_LIFETIME = 3600  # seconds from iat to exp Google allows an assertion
CLOCK_SKEW = 300
TOKEN_LIFETIME = 3599
BAD_SIGNATURE = "Invalid JWT Signature."
BAD_TIMES = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)


class GrantRefused(Exception):
    """The token endpoint's 400: an OAuth error code and Google's description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class Account:
    """One service account the fake trusts: its key file and the public half of its key."""

    client_email: str
    key_id: str
    token_uri: str
    public_key: rsa.RSAPublicKey
    directory: Path  # the temp dir holding the key file

    @property
    def key_file(self) -> Path:
        return self.directory / "service-account.json"


def new_account(token_uri: str) -> Account:
    """A fresh RSA key, written as a service-account JSON key file into a new temp dir."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    account = Account(
        client_email=f"contract-{secrets.token_hex(4)}@fake-project.iam.gserviceaccount.com",
        key_id=secrets.token_hex(20),
        token_uri=token_uri,
        public_key=key.public_key(),
        directory=Path(tempfile.mkdtemp(prefix="switchboard-fake-vertex-")),
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    info = {
        "type": "service_account",
        "project_id": "fake-project",
        "private_key_id": account.key_id,
        "private_key": pem.decode(),
        "client_email": account.client_email,
        "token_uri": token_uri,
    }
    account.key_file.write_text(json.dumps(info))
    return account


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def decode_jwt(assertion: str) -> tuple[JSON, JSON, bytes, bytes]:
    """(header, claims, signed input, signature) of a compact JWS; ValueError if malformed."""
    head, body, signature = assertion.split(".")
    header, claims = json.loads(_b64(head)), json.loads(_b64(body))
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("the header and the claims must be JSON objects")
    return header, claims, f"{head}.{body}".encode(), _b64(signature)


def check_signature(account: Account, header: JSON, signed: bytes, signature: bytes) -> None:
    """RS256 by the account's key (the one ``kid`` names, when it names one)."""
    if header.get("alg") != "RS256" or header.get("kid", account.key_id) != account.key_id:
        raise GrantRefused("invalid_grant", BAD_SIGNATURE)
    try:
        account.public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise GrantRefused("invalid_grant", BAD_SIGNATURE) from None


def check_claims(account: Account, claims: JSON, now: int) -> None:
    """Audience, scope and a lifetime of at most an hour that includes ``now``."""
    if claims.get("aud") != account.token_uri:
        audience = f"Invalid JWT: Failed audience check. The right audience is {account.token_uri}"
        raise GrantRefused("invalid_grant", audience)
    if SCOPE not in str(claims.get("scope") or "").split():
        raise GrantRefused("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        raise GrantRefused("invalid_grant", BAD_TIMES)
    if not 0 < exp - iat <= MAX_LIFETIME or iat > now + CLOCK_SKEW or exp <= now:
        raise GrantRefused("invalid_grant", BAD_TIMES)


class ServiceAccounts:
    """Google's token endpoint for the key files it wrote (one per fake server, by base URL),
    and the access tokens it issued: the only credential the wire's calls accept."""

    def __init__(self, mount: str) -> None:
        self.mount = mount
        self._lock = threading.Lock()  # setup runs on a test's thread, the server on its own
        self._accounts: dict[str, Account] = {}  # by the fake's base URL
        self._tokens: dict[str, str] = {}  # access token -> the client_email it was issued to

    def setup(self, base_url: str) -> Mapping[str, str]:
        """The key file for the fake at ``base_url`` (made on the first call)."""
        with self._lock:
            account = self._accounts.get(base_url)
            if account is None:
                account = new_account(f"{base_url}{self.mount}{TOKEN_PATH}")
                self._accounts[base_url] = account
                # A process that writes a config but never runs the fake (a benchmark's
                # client) never calls teardown: the key goes when that process ends.
                atexit.register(shutil.rmtree, account.directory, ignore_errors=True)
        return {"credentials_file": str(account.key_file)}

    def teardown(self, base_url: str) -> None:
        """Forget the account of the fake at ``base_url``, its tokens, and remove its key."""
        with self._lock:
            account = self._accounts.pop(base_url, None)
            if account is None:
                return
            self._tokens = {t: e for t, e in self._tokens.items() if e != account.client_email}
        shutil.rmtree(account.directory, ignore_errors=True)

    def authorized(self, headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
        """Only a bearer token this endpoint issued; never an API key (``key`` included)."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        with self._lock:
            issued = token in self._tokens
        return scheme == "Bearer" and issued and "x-goog-api-key" not in headers

    async def token(self, request: web.Request) -> web.Response:
        """POST /token: the JWT bearer grant (RFC 7523), answered as Google answers it."""
        form = await request.post()
        try:
            account = self.verified(form)
        except GrantRefused as exc:
            refusal = {"error": exc.error, "error_description": exc.description}
            return web.json_response(refusal, status=400)
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = account.client_email
        answer = {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}
        return web.json_response(answer)

    def verified(self, form: Mapping[str, Any]) -> Account:
        """The account whose valid assertion ``form`` carries; GrantRefused otherwise."""
        grant = form.get("grant_type")
        if grant != JWT_BEARER:
            raise GrantRefused("unsupported_grant_type", f"Invalid grant_type: {grant or ''}")
        try:
            header, claims, signed, signature = decode_jwt(str(form.get("assertion") or ""))
        except ValueError:
            raise GrantRefused("invalid_grant", "Invalid JWT: not a signed JWT.") from None
        account = self._account(claims.get("iss"))
        check_signature(account, header, signed, signature)
        check_claims(account, claims, int(time.time()))
        return account

    def _account(self, email: Any) -> Account:
        with self._lock:
            found = [a for a in self._accounts.values() if a.client_email == email]
        if not found:
            raise GrantRefused("invalid_grant", "Invalid grant: account not found")
        return found[0]


MOUNT = "/vertex"
ACCOUNTS = ServiceAccounts(MOUNT)

WIRE = Wire(
    family=ApiFamily.GOOGLE_VERTEX,
    provider="vertex-ai",
    mount=MOUNT,
    base_path=PROJECT_BASE,
    routes=(("POST", f"{PROJECT_ROUTE}/publishers/google/models/{{call}}"),),
    authorized=ACCOUNTS.authorized,
    read=gemini.WIRE.read,
    json_body=gemini.WIRE.json_body,
    stream_frames=gemini.WIRE.stream_frames,
    error_body=gemini.WIRE.error_body,
    recordings="gemini",  # holds Vertex's recordings too: the same GenerateContentResponse
    free_form=gemini.WIRE.free_form,
    unrecorded=gemini.WIRE.unrecorded,
    extra_routes=(("POST", TOKEN_PATH, ACCOUNTS.token),),
    setup=ACCOUNTS.setup,
    teardown=ACCOUNTS.teardown,
    uses_api_key=False,
)
