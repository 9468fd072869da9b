"""SECURITY-CHECKLIST "Tokens and JWTs": the lines the JWT matrix (tests/jwt_attacks.py at
tests/http/test_jwt_matrix.py and tests/resource/test_verifier_matrix.py) does not reach.

- key size and algorithm of the signing keys, and the `typ` of every token issued;
- a key named by a token's header is never fetched, at any door that takes a JWT back;
- the `token` parameter of /revoke: a forged copy of a real access token (the matrix's
  forgeries keep its `jti`) never deny-lists the real one;
- the future-`iat`/`nbf` leeway over HTTP, at 10 s and at the 60 s maximum;
- codes and refresh tokens: 32 random bytes, stored as SHA-256; client secrets hashed,
  compared with `hmac.compare_digest`.
"""

import ast
import base64
import hashlib
import inspect
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from joserfc.jwk import RSAKey
from sqlmodel import SQLModel, select

from authserver.app import create_app
from authserver.clients.models import Client
from authserver.clients.secrets import verify_client_secret
from authserver.db import Database
from authserver.tokens.models import AuthorizationCode, RefreshToken
from tests.conftest import ISSUER, copy_of_template_keys, make_settings, migrated_sqlite
from tests.factories import (
    WEB_APP_LOGOUT_URI,
    make_client,
    make_user,
    make_web_app,
)
from tests.flows import Grant, Pkce, code_of, grant_for
from tests.http.tokens import basic, claims_of, jose_header, request_token, server_key
from tests.jwt_attacks import ACCEPTED, ATTACKS, Forger, Forgery


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Tokens are checked, and secrets hashed, before storage plays a part: SQLite suffices."""
    return sqlite_url


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- RS256 only, one alg and a unique kid per key, RSA-2048 by default ------------------


@pytest.mark.parametrize(
    ("overrides", "bits"),
    [({}, 2048), ({"keys_rsa_bits": 3072}, 3072)],
    ids=["default", "AUTHSERVER_KEYS_RSA_BITS=3072"],
)
def test_signing_keys_are_rs256_rsa_keys_of_the_configured_size_each_with_its_own_kid(
    database: Database, tmp_path: Path, overrides: dict[str, int], bits: int
) -> None:
    """SECURITY-CHECKLIST [RFC 8725 §3.1]: RS256 only; one alg and a unique `kid` per key;
    RSA-2048 by default, a setting allows 3072. A fresh key store, as at a first start."""
    settings = make_settings(database_url=database.url, keys_dir=tmp_path / "keys", **overrides)
    client, secret = make_client(database)
    assert secret is not None
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        jwks = http.get("/.well-known/jwks.json").json()["keys"]
        token = request_token(http, client.client_id, secret).json()["access_token"]
    assert [int.from_bytes(b64url_decode(key["n"])).bit_length() for key in jwks] == [bits] * 2
    assert all((key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig") for key in jwks)
    assert len({key["kid"] for key in jwks}) == len(jwks)
    header = jose_header(token)
    assert header["alg"] == "RS256"
    signer = next(key for key in jwks if key["kid"] == header["kid"])
    public = jwt.PyJWK.from_dict(signer).key
    assert jwt.decode(token, public, algorithms=["RS256"], audience=ISSUER)


# --- typ: at+jwt on access tokens, never on id_tokens -----------------------------------


def issued_tokens(http: TestClient, database: Database, grant: Grant) -> dict[str, str]:
    """One token of every kind and every path that issues it."""
    service, secret = make_client(database, name="Service")
    assert secret is not None
    form = {"grant_type": "refresh_token", "refresh_token": grant.refresh_token}
    refreshed = http.post("/token", data=form, **grant.auth).json()
    serviced = request_token(http, service.client_id, secret).json()
    return {
        "access token (client_credentials)": serviced["access_token"],
        "access token (authorization_code)": grant.access_token,
        "access token (refresh_token)": refreshed["access_token"],
        "id_token (authorization_code)": grant.id_token,
    }


def test_every_access_token_is_typed_at_jwt_and_no_id_token_is(
    http: TestClient, database: Database, grant: Grant
) -> None:
    """SECURITY-CHECKLIST [RFC 9068 §2.1, RFC 8725 §3.12]: access tokens carry
    `typ: at+jwt`, ID tokens never do (explicit typing); verifiers check it: the JWT
    matrix's "typ of the other kind" and "no typ" cases."""
    for what, token in issued_tokens(http, database, grant).items():
        header = jose_header(token)
        assert header["alg"] == "RS256", what
        if what.startswith("access token"):
            assert header["typ"] == "at+jwt", what
        else:
            assert header.get("typ", "JWT").lower() not in ("at+jwt", "application/at+jwt"), what


# --- never fetch a key from a header ------------------------------------------------------


class Listener:
    """A TCP port on loopback that counts every connection made to it."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    listening = Listener()
    yield listening
    listening.close()


@pytest.fixture(scope="module")
def attacker() -> RSAKey:
    return RSAKey.generate_key(2048, auto_kid=True)


def key_pointers(url: str) -> dict[str, Callable[[Forger], str]]:
    """Headers that name where a key could be fetched from: the attacker's `url`."""
    return {
        "jku": lambda f: f.by_attacker(jku=f"{url}/jwks.json"),
        "x5u": lambda f: f.by_attacker(x5u=f"{url}/cert.pem"),
        "jku beside our own kid": lambda f: f.sign(jku=f"{url}/jwks.json"),
        "kid as a URL": lambda f: f.by_attacker(kid=f"{url}/key.json"),
        "jwk with an x5u inside": lambda f: f.by_attacker(
            jwk={**f.attacker.as_dict(private=False), "x5u": f"{url}/cert.pem"}
        ),
    }


def test_a_key_a_token_header_points_to_is_never_fetched(
    http: TestClient, database: Database, grant: Grant, attacker: RSAKey, listener: Listener
) -> None:
    """SECURITY-CHECKLIST [RFC 8725 §3.10, RFC 7515 §4.1.11]: never fetch from a header,
    at any door: bearer at /userinfo, `token` at /introspect and /revoke, `id_token_hint`
    at /logout. Every token is refused, and nothing ever connects to the URL it names."""
    introspector, secret = make_client(database, can_introspect=True)
    assert secret is not None
    as_introspector = basic(introspector.client_id, secret)
    access = Forger(server_key(http), attacker, claims_of(grant.access_token), "at+jwt")
    id_token = Forger(server_key(http), attacker, claims_of(grant.id_token), "JWT")
    for name, forge in key_pointers(listener.url).items():
        token = forge(access)
        bearer = {"Authorization": f"Bearer {token}"}
        assert http.get("/userinfo", headers=bearer).status_code == 401, name
        inspected = http.post("/introspect", data={"token": token}, headers=as_introspector)
        assert inspected.json() == {"active": False}, name
        assert http.post("/revoke", data={"token": token}, **grant.auth).status_code == 200, name
        hint = {"id_token_hint": forge(id_token), "post_logout_redirect_uri": WEB_APP_LOGOUT_URI}
        page = http.get("/logout", params=hint, follow_redirects=False)
        assert page.status_code == 200 and 'value="logout"' in page.text, name
    time.sleep(0.2)
    assert listener.connections == 0
    # The control: the listener does count a connection.
    socket.create_connection(("127.0.0.1", listener.port), timeout=2).close()
    deadline = time.monotonic() + 2
    while listener.connections == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert listener.connections == 1


# --- the `token` parameter of /revoke: the matrix's forgeries revoke nothing ----------------


@dataclass
class RevokeDoor:
    """One app (its own SQLite database), a web app, a browser signed in as alice that
    approved it, and a resource service that can see whether a token is active."""

    http: TestClient
    client_id: str
    secret: str
    introspector: dict[str, str]
    attacker: RSAKey
    grant: Grant | None = None

    def live_grant(self) -> Grant:
        """The last grant, or a new one once a case revoked it (a failure stays local)."""
        if self.grant is None or not self.active(self.grant.access_token):
            self.grant = grant_for(self.http, self.client_id, self.secret)
        return self.grant

    def forger(self, grant: Grant) -> Forger:
        claims = claims_of(grant.access_token)
        return Forger(server_key(self.http), self.attacker, claims, "at+jwt")

    def revoke(self, grant: Grant, token: str) -> Response:
        return self.http.post("/revoke", data={"token": token}, **grant.auth)

    def active(self, token: str) -> bool:
        response = self.http.post("/introspect", data={"token": token}, headers=self.introspector)
        return bool(response.json()["active"])


@pytest.fixture(scope="module")
def door(
    tmp_path_factory: pytest.TempPathFactory, template_keys_dir: Path, attacker: RSAKey
) -> Iterator[RevokeDoor]:
    directory = tmp_path_factory.mktemp("revoke-matrix")
    database = migrated_sqlite(directory)
    keys_dir = copy_of_template_keys(template_keys_dir, directory)
    make_user(database)
    client, secret = make_web_app(database, skip_consent=True)
    introspector, introspector_secret = make_client(database, can_introspect=True)
    assert secret is not None and introspector_secret is not None
    settings = make_settings(database_url=database.url, keys_dir=keys_dir)
    try:
        with TestClient(create_app(settings), base_url=ISSUER) as http:
            yield RevokeDoor(
                http,
                client.client_id,
                secret,
                basic(introspector.client_id, introspector_secret),
                attacker,
            )
    finally:
        database.dispose()


@pytest.mark.parametrize("forge", [forge for _, forge in ATTACKS.values()], ids=ATTACKS.keys())
def test_a_forged_copy_of_an_access_token_at_revoke_never_revokes_the_real_one(
    door: RevokeDoor, forge: Forgery
) -> None:
    """SECURITY-CHECKLIST [RFC 8725 §3.10, RFC 7515 §4.1.11]: the `token` parameter is a
    JWT that comes back to us and is verified like a bearer token; [RFC 7009 §2.2] an
    invalid token answers 200 and changes nothing. Each forgery keeps the real token's
    `jti`, so believing it would deny-list the real token."""
    grant = door.live_grant()
    response = door.revoke(grant, forge(door.forger(grant)))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert door.active(grant.access_token)
    assert door.active(grant.refresh_token)


@pytest.mark.parametrize("forge", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_a_token_signed_with_our_key_at_revoke_deny_lists_its_jti(
    door: RevokeDoor, forge: Forgery
) -> None:
    """The control for the matrix at /revoke: what every door accepts, /revoke acts on
    (RFC 7009 §2.1: the access token's `jti` is deny-listed, the grant lives on)."""
    grant = door.live_grant()
    assert door.revoke(grant, forge(door.forger(grant))).status_code == 200
    assert not door.active(grant.access_token)
    assert door.active(grant.refresh_token)


# --- the future iat/nbf leeway over HTTP ------------------------------------------------


@pytest.fixture(params=[10, 60], ids=["AUTHSERVER_JWT_LEEWAY=10", "AUTHSERVER_JWT_LEEWAY=60"])
def leeway(request: pytest.FixtureRequest) -> int:
    return request.param


@pytest.fixture
def leeway_http(database: Database, keys_dir: Path, leeway: int) -> Iterator[TestClient]:
    settings = make_settings(
        database_url=database.url, keys_dir=keys_dir, jwt_leeway=leeway, client_cache_ttl=0
    )
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        yield http


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_a_future_iat_or_nbf_is_accepted_within_the_leeway_and_refused_beyond_it(
    leeway_http: TestClient, database: Database, leeway: int, claim: str
) -> None:
    """SECURITY-CHECKLIST [RFC 8725 §3.10]: reject `iat`/`nbf` more than 60 s ahead (the
    AUTHSERVER_JWT_LEEWAY maximum), and "the 10/60 s future-iat rules" over HTTP; the
    exact edges with a frozen clock: tests/unit/test_jose_clock.py. A request takes far
    less than the 3 s margins used here."""
    http = leeway_http
    make_user(database)
    client, secret = make_web_app(database)
    introspector, introspector_secret = make_client(database, can_introspect=True)
    assert secret is not None and introspector_secret is not None
    grant = grant_for(http, client.client_id, secret)
    forger = Forger(server_key(http), server_key(http), claims_of(grant.access_token), "at+jwt")
    as_introspector = basic(introspector.client_id, introspector_secret)

    def answers(seconds_ahead: int) -> tuple[int, bool]:
        token = forger.signed_with(**{claim: int(time.time()) + seconds_ahead})
        status = http.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code
        active = http.post("/introspect", data={"token": token}, headers=as_introspector)
        return status, active.json()["active"]

    assert answers(leeway - 3) == (200, True)
    assert answers(leeway + 3) == (401, False)


# --- codes, refresh tokens and client secrets at rest -----------------------------------


def stored_rows(database: Database) -> str:
    """Every row of every table, as text: where a secret in the clear would show."""
    with database.transaction() as session:
        return "\n".join(
            repr(tuple(row))
            for table in SQLModel.metadata.sorted_tables
            for row in session.execute(table.select()).all()
        )


def assert_32_random_bytes(value: str) -> None:
    # base64url of 32 bytes, without padding: 43 characters.
    assert len(value) == 43
    assert len(b64url_decode(value)) == 32
    assert base64.urlsafe_b64encode(b64url_decode(value)).rstrip(b"=").decode() == value


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_codes_are_32_random_bytes_stored_only_as_their_sha256(
    http: TestClient, database: Database, web_app: tuple[str, str]
) -> None:
    """SECURITY-CHECKLIST: codes are 32 random bytes, stored as SHA-256."""
    client_id, _ = web_app
    codes = [code_of(http, client_id, Pkce()) for _ in range(2)]
    assert codes[0] != codes[1]
    with database.transaction() as session:
        stored = {row.code_hash for row in session.exec(select(AuthorizationCode)).all()}
    assert stored == {sha256_hex(code) for code in codes}
    rows = stored_rows(database)
    for code in codes:
        assert_32_random_bytes(code)
        assert code not in rows


def test_refresh_tokens_are_32_random_bytes_stored_only_as_their_sha256(
    http: TestClient, database: Database, grant: Grant
) -> None:
    """SECURITY-CHECKLIST: refresh tokens are 32 random bytes, stored as SHA-256 (the
    first one, and the one each rotation mints)."""
    form = {"grant_type": "refresh_token", "refresh_token": grant.refresh_token}
    rotated = http.post("/token", data=form, **grant.auth).json()["refresh_token"]
    tokens = [grant.refresh_token, rotated]
    with database.transaction() as session:
        stored = {row.token_hash for row in session.exec(select(RefreshToken)).all()}
    assert stored == {sha256_hex(token) for token in tokens}
    rows = stored_rows(database)
    for token in tokens:
        assert_32_random_bytes(token)
        assert token not in rows


def test_a_client_secret_is_stored_as_its_hash_and_a_wrong_one_of_the_same_length_fails(
    http: TestClient, database: Database, registered: tuple[str, str]
) -> None:
    """SECURITY-CHECKLIST: client secrets hashed (SHA-256 of 32 random bytes: no password,
    so no slow hash is owed), checked with `hmac.compare_digest`."""
    client_id, secret = registered
    assert_32_random_bytes(secret)
    with database.transaction() as session:
        row = session.get(Client, client_id)
        assert row is not None
        assert row.secret_hash == sha256_hex(secret)
    assert secret not in stored_rows(database)
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for wrong in (flipped, "A" + secret[1:] if secret[0] != "A" else "B" + secret[1:]):
        assert len(wrong) == len(secret)
        response = request_token(http, client_id, wrong)
        assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert request_token(http, client_id, secret).status_code == 200


def test_client_secrets_are_compared_only_with_hmac_compare_digest() -> None:
    """SECURITY-CHECKLIST: checked with `hmac.compare_digest`. Equal timing cannot be
    measured reliably through HTTP, so the code path is read: the one comparison of
    `verify_client_secret` is `hmac.compare_digest`, and nothing compares with `==`."""
    tree = ast.parse(inspect.getsource(verify_client_secret))
    calls = [ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)]
    assert "hmac.compare_digest" in calls
    comparisons = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops)
    ]
    assert comparisons == []
    # An unknown client still costs the comparison (against a dummy hash) and fails.
    assert verify_client_secret("anything", None) is False
