"""The refresh token grant: rotation, reuse detection and grace (RFC 6749 §6, RFC 9700 §4.14)."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlmodel import select

from authserver.app import create_app
from authserver.clock import utcnow
from authserver.db import Database
from authserver.tokens.models import RefreshToken, TokenFamily
from authserver.users.models import User
from tests.conftest import ISSUER, make_settings
from tests.factories import make_client, make_user, make_web_app
from tests.flows import Pkce, code_of, exchange_code
from tests.http.tokens import assert_oauth_error


class Tokens:
    """A signed-in user's tokens for one web app, and helpers to use them."""

    def __init__(self, http: TestClient, database: Database, scope: str = "openid profile") -> None:
        self.http = http
        self.database = database
        client, secret = make_web_app(database)
        introspector, introspector_secret = make_client(database, can_introspect=True)
        assert secret is not None and introspector_secret is not None
        self.client_id, self.secret = client.client_id, secret
        self.introspector = (introspector.client_id, introspector_secret)
        make_user(database)
        pkce = Pkce()
        code = code_of(http, self.client_id, pkce, scope=scope)
        self.first = exchange_code(http, self.client_id, secret, code, pkce.verifier).json()

    def refresh(self, refresh_token: str, **form: str) -> Any:
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **form}
        return self.http.post("/token", data=data, auth=(self.client_id, self.secret))

    def active(self, token: str) -> bool:
        response = self.http.post("/introspect", data={"token": token}, auth=self.introspector)
        return bool(response.json()["active"])


def http_client(database: Database, keys_dir: Path, **overrides: object) -> Iterator[TestClient]:
    settings = make_settings(
        database_url=database.url, keys_dir=keys_dir, client_cache_ttl=0, **overrides
    )
    with TestClient(create_app(settings), base_url=ISSUER) as client:
        yield client


@pytest.fixture
def tokens(http: TestClient, database: Database) -> Tokens:
    return Tokens(http, database)


@pytest.fixture
def grace_http(database: Database, keys_dir: Path) -> Iterator[TestClient]:
    yield from http_client(database, keys_dir, refresh_reuse_grace=30)


def test_each_refresh_rotates_the_token_and_the_new_one_works(tokens: Tokens) -> None:
    first = tokens.first["refresh_token"]
    second = tokens.refresh(first)
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["refresh_token"] != first
    assert body["scope"] == "openid profile"
    assert tokens.active(body["access_token"])
    assert not tokens.active(first)  # RFC 9700 §4.14.2: the used one stops working
    assert tokens.refresh(body["refresh_token"]).status_code == 200


def test_reuse_of_a_rotated_token_revokes_the_whole_family(tokens: Tokens) -> None:
    a = tokens.first["refresh_token"]
    b = tokens.refresh(a).json()
    # RFC 9700 §4.14.2: the reused token fails with invalid_grant ...
    assert_oauth_error(tokens.refresh(a), 400, "invalid_grant")
    # ... and the newest token of the family stops working too,
    assert_oauth_error(tokens.refresh(b["refresh_token"]), 400, "invalid_grant")
    # ... as do the family's access tokens (RFC 7662 §2.2: inactive).
    assert not tokens.active(b["access_token"])
    assert not tokens.active(tokens.first["access_token"])


def test_rotation_never_extends_the_family_beyond_its_absolute_expiry(tokens: Tokens) -> None:
    token = tokens.first["refresh_token"]
    for _ in range(10):
        token = tokens.refresh(token).json()["refresh_token"]
    with tokens.database.transaction() as session:
        family = session.exec(select(TokenFamily)).one()
        members = session.exec(select(RefreshToken)).all()
        assert len(members) == 11
        assert all(member.expires_at <= family.expires_at for member in members)
        assert family.expires_at <= family.created_at + timedelta(days=7)
        session.execute(update(TokenFamily).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_oauth_error(tokens.refresh(token), 400, "invalid_grant")


def test_an_idle_refresh_token_expires(database: Database, keys_dir: Path) -> None:
    for http in http_client(database, keys_dir, refresh_token_idle_ttl=3600):
        tokens = Tokens(http, database)
        with database.transaction() as session:
            stored = session.exec(select(RefreshToken)).one()
            family = session.exec(select(TokenFamily)).one()
            assert stored.expires_at <= utcnow() + timedelta(seconds=3600)
            assert stored.expires_at < family.expires_at
            session.execute(update(RefreshToken).values(expires_at=utcnow()))
        assert_oauth_error(tokens.refresh(tokens.first["refresh_token"]), 400, "invalid_grant")


def test_scope_may_be_narrowed_but_never_widened(tokens: Tokens) -> None:
    token = tokens.first["refresh_token"]
    # RFC 6749 §6: the scope must not include any scope not originally granted.
    assert_oauth_error(tokens.refresh(token, scope="openid profile email"), 400, "invalid_scope")
    narrowed = tokens.refresh(token, scope="openid")
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "openid"


def test_another_clients_refresh_token_is_refused(tokens: Tokens) -> None:
    other, other_secret = make_web_app(tokens.database, name="Other")
    assert other_secret is not None
    data = {"grant_type": "refresh_token", "refresh_token": tokens.first["refresh_token"]}
    response = tokens.http.post("/token", data=data, auth=(other.client_id, other_secret))
    assert_oauth_error(response, 400, "invalid_grant")
    assert tokens.refresh(tokens.first["refresh_token"]).status_code == 200


def test_a_disabled_users_refresh_token_stops_working(tokens: Tokens) -> None:
    with tokens.database.transaction() as session:
        session.execute(update(User).values(disabled=True))
    assert_oauth_error(tokens.refresh(tokens.first["refresh_token"]), 400, "invalid_grant")
    assert not tokens.active(tokens.first["access_token"])


@pytest.mark.parametrize("token", ["", "x" * 43, "x" * 5000, "a.b.c"])
def test_an_unknown_or_malformed_refresh_token_is_invalid_grant(tokens: Tokens, token: str) -> None:
    response = tokens.refresh(token)
    if token:
        assert_oauth_error(response, 400, "invalid_grant")
    else:
        assert_oauth_error(response, 400, "invalid_request")


def test_refresh_tokens_are_stored_only_as_hashes(tokens: Tokens) -> None:
    with tokens.database.transaction() as session:
        stored = session.exec(select(RefreshToken)).one()
    assert tokens.first["refresh_token"] not in stored.model_dump_json()


def test_with_grace_a_retry_of_the_predecessor_gets_a_fresh_pair_once(
    grace_http: TestClient, database: Database
) -> None:
    tokens = Tokens(grace_http, database)
    a = tokens.first["refresh_token"]
    b = tokens.refresh(a).json()  # imagine this response was lost
    # At once, the same request again is a duplicate, not a retry: refused, no theft.
    assert_oauth_error(tokens.refresh(a), 400, "invalid_grant")
    assert tokens.active(b["refresh_token"])
    _minted_seconds_ago(database, 2)  # a client retries after a timeout
    retried = tokens.refresh(a)
    assert retried.status_code == 200, retried.text
    c = retried.json()
    assert c["refresh_token"] not in (a, b["refresh_token"])
    # Only the newest is alive: the unreceived successor was consumed.
    assert not tokens.active(b["refresh_token"])
    assert tokens.active(c["refresh_token"])
    # A second retry of the same predecessor is refused, but is no theft: the family lives.
    _minted_seconds_ago(database, 2)
    assert_oauth_error(tokens.refresh(a), 400, "invalid_grant")
    assert tokens.active(c["refresh_token"])
    assert tokens.refresh(c["refresh_token"]).status_code == 200


def test_with_grace_the_grandparent_is_still_theft(
    grace_http: TestClient, database: Database
) -> None:
    tokens = Tokens(grace_http, database)
    a = tokens.first["refresh_token"]
    b = tokens.refresh(a).json()["refresh_token"]
    c = tokens.refresh(b).json()
    _minted_seconds_ago(database, 2)
    # RFC 9700 §4.14.2: only the immediate predecessor of the live token is forgiven.
    assert_oauth_error(tokens.refresh(a), 400, "invalid_grant")
    assert_oauth_error(tokens.refresh(c["refresh_token"]), 400, "invalid_grant")
    assert not tokens.active(c["access_token"])


def test_with_grace_a_retry_after_the_window_is_theft(
    grace_http: TestClient, database: Database
) -> None:
    tokens = Tokens(grace_http, database)
    a = tokens.first["refresh_token"]
    b = tokens.refresh(a).json()
    _minted_seconds_ago(database, 40)
    with database.transaction() as session:
        late = utcnow() - timedelta(seconds=31)
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.consumed_at.is_not(None))
            .values(consumed_at=late)
        )  # type: ignore[union-attr]
    assert_oauth_error(tokens.refresh(a), 400, "invalid_grant")
    assert not tokens.active(b["refresh_token"])


def _minted_seconds_ago(database: Database, seconds: int) -> None:
    """Move every refresh token's minting back, as if the retry came `seconds` later."""
    earlier = utcnow() - timedelta(seconds=seconds)
    with database.transaction() as session:
        session.execute(update(RefreshToken).values(created_at=earlier))


def test_a_refresh_with_a_bad_resource_does_not_cost_the_token(tokens: Tokens) -> None:
    token = tokens.first["refresh_token"]
    # RFC 8707 §2: an unknown resource is invalid_target, checked before rotation.
    bad = tokens.refresh(token, resource="https://unknown.example.test")
    assert_oauth_error(bad, 400, "invalid_target")
    assert tokens.refresh(token).status_code == 200


def test_on_postgresql_a_rotation_is_one_statement_besides_its_audit_row(
    tokens: Tokens, database: Database
) -> None:
    """The lock, the compare-and-set and the successor in one round trip (docs/tokens.md);
    SQLite, in-process, takes the general path."""
    engine = tokens.http.app.state.services.database.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = tokens.refresh(tokens.first["refresh_token"])
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200, response.text
    touching = [s for s in statements if "refresh_tokens" in s]
    if engine.dialect.name == "postgresql":
        # The rotation; besides it only the audit row (and the client, uncached here).
        assert len(touching) == 1 and touching[0].startswith("WITH"), statements
        assert len(statements) <= 3, statements
    else:
        assert len(touching) == 3, statements  # the lookup, the compare-and-set, the insert
