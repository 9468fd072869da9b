"""SECURITY-CHECKLIST "/token", refresh: what tests/http/test_token_refresh.py and
test_refresh_state_machine.py leave open, on SQLite and PostgreSQL.

- the rotation is committed before the response leaves (seen from another connection at
  the moment the response starts);
- rotations within one second are never taken for reuse, and reuse within one second is;
- AUTHSERVER_REFRESH_REUSE_GRACE is 0 by default: a retry of the parent is theft;
- "Rotate, restart, replay the parent → rejected" against a real `authserver serve`
  ("Tests that must exist" 5: no reuse decision rests on process memory);
- no password-change path exists that could leave a family alive.
"""

import hashlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authserver.cli import app as cli
from authserver.clock import utcnow
from authserver.db import Database
from authserver.settings import Settings
from authserver.tokens.models import RefreshToken, TokenFamily
from tests.conftest import ISSUER
from tests.e2e.processes import cli_environment, running_server
from tests.factories import make_client, make_user, make_web_app
from tests.flows import Grant, grant_for
from tests.http.tokens import assert_oauth_error, basic


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def refresh(http: httpx.Client, grant: Grant, token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": token}
    return http.post("/token", data=form, auth=(grant.client_id, grant.secret or ""))


def active(http: httpx.Client, introspector: tuple[str, str], token: str) -> bool:
    response = http.post("/introspect", data={"token": token}, headers=basic(*introspector))
    return bool(response.json()["active"])


@pytest.fixture
def introspector(database: Database) -> tuple[str, str]:
    client, secret = make_client(database, can_introspect=True)
    assert secret is not None
    return client.client_id, secret


# --- committed before responding -----------------------------------------------------


class AtResponseStart:
    """ASGI around the whole app: when a /token response starts, run `look` (in a
    thread, on the test's own connection) and keep what it saw."""

    def __init__(self, app: ASGIApp, look: Callable[[], Any]) -> None:
        self.app = app
        self.look = look
        self.seen: list[Any] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_after_looking(message: Message) -> None:
            if message["type"] == "http.response.start" and scope.get("path") == "/token":
                self.seen.append(await anyio.to_thread.run_sync(self.look))
            await send(message)

        await self.app(scope, receive, send_after_looking)


def test_a_rotation_is_committed_before_its_response_starts(
    app: Any, database: Database, web_app: tuple[str, str]
) -> None:
    """SECURITY-CHECKLIST "/token": refresh rotates on every use: one transaction consumes
    the parent and inserts the child, committed before responding [RFC 9700 §4.14.2]. A
    response that left before the commit could hand out a child a crash then loses, or
    let a second request see the parent unused."""

    def look() -> dict[str, Any]:
        with database.reading() as session:
            rows = session.exec(select(RefreshToken)).all()
            return {row.token_hash: (row.parent_hash, row.consumed_at) for row in rows}

    watched = AtResponseStart(app, look)
    with TestClient(watched, base_url=ISSUER) as http:
        grant = grant_for(http, *web_app)
        watched.seen.clear()
        response = refresh(http, grant, grant.refresh_token)
    assert response.status_code == 200, response.text
    child = response.json()["refresh_token"]
    (at_start,) = watched.seen
    parent_hash, child_hash = sha256_hex(grant.refresh_token), sha256_hex(child)
    assert at_start[parent_hash][1] is not None, "the parent was not consumed yet"
    assert at_start[child_hash] == (parent_hash, None), "the child was not stored yet"


# --- reuse decisions do not rest on seconds --------------------------------------------


def test_rotations_within_one_second_are_never_taken_for_reuse_and_reuse_within_it_is(
    http: TestClient, database: Database, grant: Grant, introspector: tuple[str, str]
) -> None:
    """SECURITY-CHECKLIST "/token": no reuse decision rests on process memory or `iat`
    seconds. Six rotations in a row (most within one second, their access tokens of one
    `iat`) all succeed; replaying a parent at once is still reuse: `invalid_grant`, and
    the family is revoked [RFC 9700 §4.14.2]."""
    chain = [grant.body]
    for _ in range(6):
        response = refresh(http, grant, chain[-1]["refresh_token"])
        assert response.status_code == 200, response.text
        chain.append(response.json())
    assert len({tokens["refresh_token"] for tokens in chain}) == len(chain)
    assert active(http, introspector, chain[-1]["refresh_token"])
    assert_oauth_error(refresh(http, grant, chain[3]["refresh_token"]), 400, "invalid_grant")
    assert_oauth_error(refresh(http, grant, chain[-1]["refresh_token"]), 400, "invalid_grant")
    for tokens in chain:
        assert not active(http, introspector, tokens["access_token"])
    with database.reading() as session:
        assert session.exec(select(TokenFamily)).one().revoked_at is not None


def test_the_reuse_grace_is_off_by_default_so_a_late_retry_of_the_parent_is_theft(
    http: TestClient,
    database: Database,
    grant: Grant,
    introspector: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SECURITY-CHECKLIST "/token": `AUTHSERVER_REFRESH_REUSE_GRACE` (default 0). A retry of
    the immediate predecessor that a grace would forgive (its successor unused, minted 2 s
    before) revokes the family [RFC 9700 §4.14.2]; tests/http/test_token_refresh.py
    covers a grace that is set."""
    monkeypatch.delenv("AUTHSERVER_REFRESH_REUSE_GRACE", raising=False)
    assert Settings(_env_file=None).refresh_reuse_grace == timedelta(0)  # type: ignore[call-arg]
    assert http.app.state.services.settings.refresh_reuse_grace == timedelta(0)  # type: ignore[attr-defined]
    child = refresh(http, grant, grant.refresh_token).json()
    with database.transaction() as session:
        session.execute(update(RefreshToken).values(created_at=utcnow() - timedelta(seconds=2)))
    assert_oauth_error(refresh(http, grant, grant.refresh_token), 400, "invalid_grant")
    assert not active(http, introspector, child["refresh_token"])
    assert not active(http, introspector, child["access_token"])


# --- rotate, restart, replay the parent --------------------------------------------------


@pytest.fixture
def environment(database: Database, keys_dir: Path) -> dict[str, str]:
    return cli_environment(database.url, keys_dir)


@pytest.mark.e2e
def test_a_parent_replayed_after_a_restart_is_rejected_and_kills_the_family(
    database: Database, environment: dict[str, str], introspector: tuple[str, str]
) -> None:
    """SECURITY-CHECKLIST "Tests that must exist" 5: rotate, restart, replay the parent →
    rejected. A real `authserver serve`, stopped and started again between the rotation
    and the replay: the decision rests on the database alone [RFC 9700 §4.14.2]."""
    make_user(database)
    client, secret = make_web_app(database, skip_consent=True)
    assert secret is not None
    with running_server(environment) as base_url, httpx.Client(base_url=base_url) as browser:
        grant = grant_for(browser, client.client_id, secret)
        rotated = refresh(browser, grant, grant.refresh_token)
        assert rotated.status_code == 200, rotated.text
        child = rotated.json()
    with running_server(environment) as base_url, httpx.Client(base_url=base_url) as client_:
        assert active(client_, introspector, child["refresh_token"])
        replay = refresh(client_, grant, grant.refresh_token)
        assert_oauth_error(replay, 400, "invalid_grant")
        assert_oauth_error(refresh(client_, grant, child["refresh_token"]), 400, "invalid_grant")
        assert not active(client_, introspector, child["access_token"])


# --- password change -------------------------------------------------------------------


def command_names(group: typer.Typer) -> Iterator[tuple[str, list[str]]]:
    """(command path, its option names) for every command of the CLI."""
    root = typer.main.get_command(group)

    def walk(command: Any, path: str) -> Iterator[tuple[str, list[str]]]:
        options = [name for parameter in command.params for name in parameter.opts]
        yield path, options
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}".strip())

    yield from walk(root, "")


def test_no_password_change_path_exists_that_could_leave_a_family_alive(
    http: TestClient,
) -> None:
    """SECURITY-CHECKLIST "/token": logout, password change or disabled user revokes the
    family. Logout: tests/http/test_logout.py; disabled: tests/http/test_token_refresh.py.
    No way to change a password exists (CONTRACT.md names none): this test fails when one
    is added, so that it comes with a test that it ends every family of the user
    (`authserver.login.sessions.end_all_sessions_of_user`)."""
    commands = dict(command_names(cli))
    assert "users create" in commands and "--password-stdin" in commands["users create"]
    changing = [
        f"{path} {' '.join(options)}".strip()
        for path, options in commands.items()
        if "passw" in path or any("passw" in o and path != "users create" for o in options)
    ]
    assert changing == []
    routes = [getattr(route, "path", "") for route in http.app.routes]  # type: ignore[attr-defined]
    assert [path for path in routes if "passw" in path.lower()] == []
