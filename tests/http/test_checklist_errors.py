"""SECURITY-CHECKLIST, its opening line: never a 500 or a stack trace; OAuth errors are
RFC 6749 §5.2 JSON with `Cache-Control: no-store`.

Hostile input never gets a 500 (tests/http/test_no_server_errors.py, tests/fuzz/). This
file shows the other half: when the server itself fails, unexpectedly, the answer is a
fixed one that reveals nothing of the cause. The failure is real, not mocked: rows of
its own SQLite database are damaged as a disk fault or a bad manual edit would damage
them (a client's JSON column, a family's timestamp), so loading them raises.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text

from authserver.app import create_app
from tests.conftest import ISSUER, copy_of_template_keys, make_settings, migrated_sqlite
from tests.factories import make_user, make_web_app
from tests.flows import Grant, authorize_path, grant_for
from tests.http.pages import assert_page_headers

# What a cause could show: a trace, the driver, the SQL, the table, our source paths.
TELLTALES = [
    "Traceback",
    'File "',
    "sqlite",
    "SELECT",
    "Error:",
    "JSONDecodeError",
    "fromisoformat",
    "token_families",
    "clients",
    "authserver/",
    ".py",
]


@dataclass(frozen=True)
class Damaged:
    http: TestClient
    grant: Grant
    client_id: str


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory, template_keys_dir: Path) -> Iterator[Damaged]:
    """A working server, a grant, then two rows damaged under it: the web app's
    `grant_types` (not JSON any more) and its token family's `revoked_at` (no date)."""
    directory = tmp_path_factory.mktemp("damaged")
    database = migrated_sqlite(directory)
    keys_dir = copy_of_template_keys(template_keys_dir, directory)
    make_user(database)
    client, secret = make_web_app(database, skip_consent=True)
    settings = make_settings(database_url=database.url, keys_dir=keys_dir, client_cache_ttl=0)
    try:
        # As a browser sees it: Starlette re-raises an unhandled error after answering it,
        # for the server's log; the test client would raise it instead of answering.
        app = create_app(settings)
        with TestClient(app, base_url=ISSUER, raise_server_exceptions=False) as http:
            grant = grant_for(http, client.client_id, secret)
            with database.transaction() as session:
                session.execute(text("UPDATE clients SET grant_types = '{not json'"))
                session.execute(text("UPDATE token_families SET revoked_at = 'not a moment'"))
            yield Damaged(http, grant, client.client_id)
    finally:
        database.dispose()


Send = Callable[[Damaged], Response]
JSON_DOORS: dict[str, Send] = {
    "/token": lambda d: d.http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": d.grant.refresh_token},
        **d.grant.auth,
    ),
    "/revoke": lambda d: d.http.post(
        "/revoke", data={"token": d.grant.refresh_token}, **d.grant.auth
    ),
    "/introspect": lambda d: d.http.post(
        "/introspect", data={"token": d.grant.access_token}, **d.grant.auth
    ),
    "/userinfo": lambda d: d.http.get(
        "/userinfo", headers={"Authorization": f"Bearer {d.grant.access_token}"}
    ),
}
PAGE_DOORS: dict[str, Send] = {
    "/authorize": lambda d: d.http.get(authorize_path(d.client_id), follow_redirects=False),
}


def assert_reveals_nothing(response: Response, grant: Grant) -> None:
    for telltale in TELLTALES:
        assert telltale not in response.text, telltale
    for secret in (grant.access_token, grant.refresh_token, grant.id_token):
        assert secret not in response.text


@pytest.mark.parametrize("send", JSON_DOORS.values(), ids=JSON_DOORS.keys())
def test_an_unexpected_failure_at_an_oauth_endpoint_is_a_fixed_json_500(
    damaged: Damaged, send: Send
) -> None:
    """SECURITY-CHECKLIST: never a stack trace; RFC 6749 §5.2 JSON `server_error` with
    `Cache-Control: no-store`, its description fixed (the cause goes to the log only)."""
    response = send(damaged)
    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = json.loads(response.content)
    assert body["error"] == "server_error"
    assert set(body) <= {"error", "error_description"}
    assert_reveals_nothing(response, damaged.grant)


@pytest.mark.parametrize("send", PAGE_DOORS.values(), ids=PAGE_DOORS.keys())
def test_an_unexpected_failure_on_a_page_is_a_fixed_error_page(
    damaged: Damaged, send: Send
) -> None:
    """SECURITY-CHECKLIST: never a stack trace, on the HTML pages either; the page keeps
    its security headers ("HTML" line)."""
    response = send(damaged)
    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    assert_page_headers(response)
    assert_reveals_nothing(response, damaged.grant)
