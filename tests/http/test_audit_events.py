"""The audit log of a full flow over HTTP: every security event is a row (and a log line),
and no token, code, secret or password is in either (issue 10, item 5)."""

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from authserver.audit.models import AuditEvent
from authserver.db import Database
from authserver.users.models import User
from tests.conftest import ISSUER
from tests.flows import Pkce, code_of, exchange_code, sign_in
from tests.http.tokens import basic, request_token


def events_of(database: Database) -> list[AuditEvent]:
    with database.transaction() as db:
        return list(db.exec(select(AuditEvent).order_by(AuditEvent.id)).all())


@pytest.fixture
def audit_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="authserver"):
        yield caplog


def test_a_full_flow_leaves_every_event_and_no_secret(
    http: TestClient,
    database: Database,
    web_app: tuple[str, str],
    user: User,
    audit_log: pytest.LogCaptureFixture,
) -> None:
    client_id, secret = web_app
    assert sign_in(http, "alice", "not the password").status_code == 200
    pkce = Pkce()
    code = code_of(http, client_id, pkce, scope="openid profile")
    first = exchange_code(http, client_id, secret, code, pkce.verifier).json()
    refresh = http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=basic(client_id, secret),
    )
    second = refresh.json()
    reused = http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=basic(client_id, secret),
    )
    assert reused.json()["error"] == "invalid_grant"
    revoked = http.post(
        "/revoke", data={"token": second["access_token"]}, headers=basic(client_id, secret)
    )
    assert revoked.status_code == 200

    events = events_of(database)
    names = [event.event for event in events]
    assert names == [
        "login.failed",
        "login.succeeded",
        "consent.granted",
        "token.issued",
        "token.issued",
        "refresh.reuse_detected",
        "session.ended",  # the reuse ends the session too (back-channel logout)
        "token.revoked",
    ], names
    failed, succeeded, consent, issued, refreshed, reuse, ended, revocation = events
    assert (failed.user_id, failed.username) == (user.id, "alice")
    assert json.loads(failed.details) == {"reason": "password"}
    assert succeeded.user_id == user.id and json.loads(succeeded.details)["sid"]
    assert (
        consent.client_id == client_id and json.loads(consent.details)["scope"] == "openid profile"
    )
    issued_details = json.loads(issued.details)
    assert issued_details["grant_type"] == "authorization_code" and issued_details["jti"]
    assert json.loads(refreshed.details)["grant_type"] == "refresh_token"
    family_id = issued_details["family_id"]
    assert json.loads(reuse.details) == {"family_id": family_id}
    assert json.loads(ended.details)["reason"] == "refresh reuse"
    assert ended.request_id == reuse.request_id  # one request did both
    assert json.loads(revocation.details)["kind"] == "access_token"
    assert all(event.client_address == "testclient" for event in events)
    assert all(event.request_id for event in events)
    assert len({event.request_id for event in events}) == len(events) - 1

    secrets = [
        "correct horse",
        "not the password",
        secret,
        code,
        pkce.verifier,
        first["refresh_token"],
        second["refresh_token"],
        first["access_token"],
        second["access_token"],
        first["id_token"],
        http.cookies.get("authserver_session"),
    ]
    stored = "\n".join(repr(event.model_dump()) for event in events)
    logged = "\n".join(record.getMessage() + repr(record.__dict__) for record in audit_log.records)
    for value in secrets:
        assert value and value not in stored and value not in logged
    audit_lines = [r for r in audit_log.records if r.name == "authserver.audit"]
    assert [r.getMessage() for r in audit_lines] == names


def test_an_unknown_username_is_not_stored(
    http: TestClient, database: Database, user: User
) -> None:
    # People type their password into the username field.
    sign_in(http, "hunter2-my-password", "whatever")
    (failed,) = events_of(database)
    assert failed.event == "login.failed"
    assert failed.username is None and failed.user_id is None
    assert "hunter2" not in failed.details


def test_client_credentials_tokens_are_audited_in_batches(
    app: FastAPI, database: Database, registered: tuple[str, str]
) -> None:
    client_id, secret = registered
    with TestClient(app, base_url=ISSUER) as http:
        bodies = [request_token(http, client_id, secret).json() for _ in range(3)]
        buffer = app.state.services.oauth.audit
        buffer.flush()
        events = events_of(database)
        assert [e.event for e in events] == ["token.issued"] * 3
        jtis = [json.loads(e.details)["jti"] for e in events]
        assert len(set(jtis)) == 3
        assert all(e.client_id == client_id for e in events)
        for body in bodies:
            assert body["access_token"] not in repr([e.model_dump() for e in events])
        request_token(http, client_id, secret)
    # Leaving the app (shutdown) writes what is still queued.
    assert len(events_of(database)) == 4


def test_logout_ends_the_session_in_the_audit_log(
    http: TestClient, database: Database, user: User
) -> None:
    sign_in(http)
    page = http.get("/logout")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    http.post("/logout", data={"csrf_token": token, "decision": "logout"})
    names = [e.event for e in events_of(database)]
    assert names == ["login.succeeded", "session.ended"]
    ended = events_of(database)[-1]
    assert json.loads(ended.details)["reason"] == "logout"
