"""The refresh token grant with the client cache on, as in production. On PostgreSQL the
common case is then rotated on the event loop (tokens/event_loop.py: the rotation
statement in one round trip, its own transaction; the audit row to the batching
`AuditBuffer`; the rotation undone if the answer fails), and every other case handed to
the thread path. RFC 6749 §6 and RFC 9700 §4.14.2 must hold
exactly as on the thread path: every test of test_token_refresh.py runs here again.

Elsewhere the tests run with the client cache off (`client_cache_ttl=0`), so every
refresh takes the thread path.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from authserver.audit.models import AuditEvent
from authserver.db import Database
from authserver.opaque import opaque_hash
from authserver.settings import Settings
from authserver.statuslists.models import StatusAssignment
from authserver.tokens.models import RefreshToken
from tests.conftest import make_settings
from tests.http import test_token_refresh as on_the_thread_path
from tests.http.test_checklist_revoke_introspect import UNREACHABLE, assert_unavailable
from tests.http.test_token_refresh import Tokens
from tests.http.tokens import assert_oauth_error, claims_of

ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
# It watches SQLAlchemy's statements, which the event loop's path does not use; the
# proof below that the path is taken stands in for it.
NOT_HERE = {"test_on_postgresql_a_rotation_is_one_statement_besides_its_audit_row"}

for _name in dir(on_the_thread_path):
    if _name.startswith("test_") and _name not in NOT_HERE:
        globals()[_name] = getattr(on_the_thread_path, _name)
tokens = on_the_thread_path.tokens
grace_http = on_the_thread_path.grace_http


@pytest.fixture
def settings(database: Database, keys_dir: Path) -> Settings:
    return make_settings(database_url=database.url, keys_dir=keys_dir, client_cache_ttl=300)


def break_the_thread_paths_engine(http: TestClient) -> Database:
    """Point the thread path's engine at a server where nothing listens; its old one back."""
    oauth = http.app.state.services.oauth  # type: ignore[attr-defined]
    working = oauth.database
    oauth.database = Database(UNREACHABLE)
    return working


def restore(http: TestClient, working: Database) -> None:
    oauth = http.app.state.services.oauth  # type: ignore[attr-defined]
    oauth.database.dispose()
    oauth.database = working


@pytest.mark.postgresql
@ON_POSTGRESQL
def test_a_rotation_on_the_event_loop_commits_the_successor_its_audit_row_and_status(
    tokens: Tokens, database: Database
) -> None:
    """Proof that the path is taken (the thread path's engine cannot connect), and that
    it stored everything a rotation stores: the presented token consumed, the successor
    and its status-list entry (draft-ietf-oauth-status-list) committed together by the
    statement, and the new access token's audit row (issue 10) with the next batch."""
    warm = tokens.refresh(tokens.first["refresh_token"])  # the client is now cached
    assert warm.status_code == 200, warm.text
    presented = warm.json()["refresh_token"]
    working = break_the_thread_paths_engine(tokens.http)
    try:
        rotated = tokens.refresh(presented)
    finally:
        restore(tokens.http, working)
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert tokens.active(body["access_token"]) and tokens.active(body["refresh_token"])
    assert not tokens.active(presented)
    jti, fid = claims_of(body["access_token"])["jti"], claims_of(body["access_token"])["fid"]
    assert tokens.http.app.state.services.oauth.audit.flush() >= 1  # type: ignore[attr-defined]
    with database.reading() as session:
        issued = session.execute(
            select(AuditEvent.details).where(AuditEvent.event == "token.issued")  # type: ignore[arg-type]
        ).scalars()
        details = [json.loads(row) for row in issued]
        assert {"grant_type": "refresh_token", "jti": jti, "family_id": fid} in details
        successor = session.get(RefreshToken, opaque_hash(body["refresh_token"]))
        assert successor is not None and successor.consumed_at is None
        assert successor.parent_hash == opaque_hash(presented)
        entries = session.execute(
            select(StatusAssignment).where(StatusAssignment.family_id == fid)  # type: ignore[arg-type]
        ).all()
        assert len(entries) == 3  # the code's tokens and two rotations


@pytest.mark.postgresql
@ON_POSTGRESQL
def test_anything_but_a_rotation_goes_to_the_thread_path_untouched(tokens: Tokens) -> None:
    """Reuse is decided by the thread path, in its transaction: with its engine broken,
    the reuse is a 503, and nothing was consumed or revoked meanwhile (the event loop's
    statement rolled back): once the engine is back, the same reuse revokes the family."""
    first = tokens.first["refresh_token"]
    second = tokens.refresh(first)
    assert second.status_code == 200
    successor = second.json()["refresh_token"]
    working = break_the_thread_paths_engine(tokens.http)
    try:
        assert_unavailable(tokens.refresh(first))
    finally:
        restore(tokens.http, working)
    assert tokens.active(successor)  # the reuse has not been acted on yet
    assert_oauth_error(tokens.refresh(first), 400, "invalid_grant")
    assert not tokens.active(successor)  # RFC 9700 §4.14.2: now the family is revoked


@pytest.mark.postgresql
@ON_POSTGRESQL
def test_a_rotation_whose_answer_fails_is_undone(
    tokens: Tokens,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """RFC 6749 §5.2 / §6: an unexpected error after the statement rotated (the signature
    failing, here) answers 500 without details, and the client loses nothing: the
    presented token is unconsumed again, the unsent successor and its status entry are
    gone, and the same token then refreshes (no reuse detected, RFC 9700 §4.14.2)."""
    warm = tokens.refresh(tokens.first["refresh_token"])  # the client is now cached
    assert warm.status_code == 200, warm.text
    presented = warm.json()["refresh_token"]
    fid = claims_of(warm.json()["access_token"])["fid"]

    def rows_of_family(model: Any) -> int:
        with database.reading() as session:
            found = session.execute(select(model).where(model.family_id == fid)).all()
            return len(found)

    before = (rows_of_family(StatusAssignment), rows_of_family(RefreshToken))
    issuer = tokens.http.app.state.services.oauth._access_tokens  # type: ignore[attr-defined]

    def failing(**_: object) -> None:
        raise RuntimeError("the signing key is gone")

    monkeypatch.setattr(issuer, "issue", failing)
    failed = tokens.refresh(presented)
    monkeypatch.undo()
    assert failed.status_code == 500, failed.text
    assert "signing key" not in failed.text
    assert (rows_of_family(StatusAssignment), rows_of_family(RefreshToken)) == before
    assert not [record for record in caplog.records if "undone" in record.getMessage()]
    with database.reading() as session:
        token = session.get(RefreshToken, opaque_hash(presented))
        assert token is not None and token.consumed_at is None
    again = tokens.refresh(presented)
    assert again.status_code == 200, again.text
    assert tokens.active(again.json()["refresh_token"])
