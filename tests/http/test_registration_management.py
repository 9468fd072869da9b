"""GET, PUT and DELETE /register/{client_id}: the client configuration endpoint of the
Dynamic Client Registration Management Protocol (RFC 7592 §2), with the registration access
token of RFC 7592 §3."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from authserver.audit.models import AuditEvent
from authserver.db import Database
from authserver.users.models import User
from tests.conftest import ISSUER
from tests.factories import make_web_app
from tests.flows import Pkce, authorize_path, code_of, exchange_code, grant_for
from tests.http.registration import WEB_APP_METADATA, app_with, bearer, register
from tests.http.tokens import assert_oauth_error, basic

NEW_REDIRECT_URI = "https://notes.example.test/auth/callback"


@pytest.fixture
def open_http(database: Database, keys_dir: Path) -> Iterator[TestClient]:
    with app_with(database, keys_dir, registration="open") as http:
        yield http


@pytest.fixture
def client(open_http: TestClient) -> dict[str, Any]:
    """A web app's client information response (RFC 7591 §3.2.1)."""
    response = register(open_http, None, WEB_APP_METADATA)
    assert response.status_code == 201, response.text
    return response.json()


def path_of(client: dict[str, Any]) -> str:
    return client["registration_client_uri"].removeprefix(ISSUER)


def auth(client: dict[str, Any]) -> dict[str, str]:
    return bearer(client["registration_access_token"])


def replacement(client: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """RFC 7592 §2.2: the full metadata as read, without the fields the server issues."""
    issued = (
        "registration_access_token",
        "registration_client_uri",
        "client_secret_expires_at",
        "client_id_issued_at",
        "client_secret",
    )
    return {**{k: v for k, v in client.items() if k not in issued}, **changes}


def test_a_read_returns_the_registration_without_the_secret(
    open_http: TestClient, client: dict[str, Any]
) -> None:
    """RFC 7592 §2.1: the client information response; the secret was shown only once."""
    response = open_http.get(path_of(client), headers=auth(client))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    read = response.json()
    assert read == {k: v for k, v in client.items() if k != "client_secret"}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_without_a_registration_access_token_it_is_401_with_a_bare_challenge(
    open_http: TestClient, client: dict[str, Any], method: str
) -> None:
    """RFC 6750 §3.1: no token, so the challenge names no error."""
    response = open_http.request(method, path_of(client), json=replacement(client))
    assert_oauth_error(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_every_wrong_token_or_client_is_the_same_401(
    open_http: TestClient, database: Database, client: dict[str, Any], method: str
) -> None:
    """RFC 7592 §2: a wrong token, another client's, an unknown client and a client the CLI
    made all answer alike, so nothing tells whether a client exists."""
    other = register(open_http, None, WEB_APP_METADATA).json()
    cli_client, _ = make_web_app(database)
    attempts = [
        (path_of(client), bearer("not-the-token")),
        (path_of(client), auth(other)),
        (path_of(client), {"Authorization": f"Basic {client['registration_access_token']}"}),
        ("/register/no-such-client", auth(client)),
        (f"/register/{cli_client.client_id}", auth(client)),
        ("/register/" + "x" * 65, auth(client)),
        ("/register/a%00b", auth(client)),
    ]
    bodies = []
    for path, headers in attempts:
        response = open_http.request(method, path, json=replacement(client), headers=headers)
        bodies.append(assert_oauth_error(response, 401, "invalid_token"))
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert len({str(body) for body in bodies[:2] + bodies[3:]}) == 1
    assert open_http.get(path_of(client), headers=auth(client)).status_code == 200


def test_an_update_replaces_the_whole_registration(
    open_http: TestClient, client: dict[str, Any], user: User
) -> None:
    """RFC 7592 §2.2: the new values replace the old; an omitted field is deleted."""
    new = replacement(client, client_name="Notes 2", redirect_uris=[NEW_REDIRECT_URI])
    del new["client_uri"], new["contacts"]
    response = open_http.put(path_of(client), json=new, headers=auth(client))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    updated = response.json()
    assert updated["client_name"] == "Notes 2"
    assert updated["redirect_uris"] == [NEW_REDIRECT_URI]
    assert "client_uri" not in updated and "contacts" not in updated
    assert updated["registration_access_token"] == client["registration_access_token"]
    assert "client_secret" not in updated
    assert open_http.get(path_of(client), headers=auth(client)).json() == updated
    # The old redirect URI is refused at once; the new one works with the same secret.
    old = open_http.get(authorize_path(client["client_id"], Pkce()), follow_redirects=False)
    assert old.status_code == 400
    grant = grant_for_redirect(open_http, client, NEW_REDIRECT_URI)
    assert grant["token_type"] == "Bearer"


def grant_for_redirect(http: TestClient, client: dict[str, Any], redirect_uri: str) -> Any:
    pkce = Pkce()
    code = code_of(http, client["client_id"], pkce, redirect_uri=redirect_uri, scope="openid")
    secret = client["client_secret"]
    response = exchange_code(
        http, client["client_id"], secret, code, pkce.verifier, redirect_uri=redirect_uri
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_an_update_may_send_the_current_secret(
    open_http: TestClient, client: dict[str, Any]
) -> None:
    """RFC 7592 §2.2: a client_secret sent must be the current one; none is issued anew."""
    new = replacement(client, client_secret=client["client_secret"], scope="openid")
    response = open_http.put(path_of(client), json=new, headers=auth(client))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "openid"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"client_id": None}, "invalid_client_metadata"),
        ({"client_id": "another-client"}, "invalid_client_metadata"),
        ({"client_id": 7}, "invalid_client_metadata"),
        ({"client_id": "é"}, "invalid_client_metadata"),
        ({"client_secret": "not-the-secret"}, "invalid_client_metadata"),
        ({"client_secret": 42}, "invalid_client_metadata"),
        ({"registration_access_token": "x"}, "invalid_client_metadata"),
        ({"registration_client_uri": "https://x.test/"}, "invalid_client_metadata"),
        ({"client_secret_expires_at": 0}, "invalid_client_metadata"),
        ({"client_id_issued_at": 1}, "invalid_client_metadata"),
        ({"token_endpoint_auth_method": "none"}, "invalid_client_metadata"),
        ({"redirect_uris": ["http://notes.example.test/cb"]}, "invalid_redirect_uri"),
        ({"grant_types": ["password"]}, "invalid_client_metadata"),
    ],
    ids=[
        "no-client-id",
        "another-client-id",
        "client-id-a-number",
        "client-id-not-ascii",
        "wrong-secret",
        "secret-a-number",
        "sends-the-token",
        "sends-the-uri",
        "sends-secret-expiry",
        "sends-issued-at",
        "confidential-to-public",
        "bad-redirect",
        "bad-grant",
    ],
)
def test_a_refused_update_changes_nothing(
    open_http: TestClient, client: dict[str, Any], changes: dict[str, Any], error: str
) -> None:
    """RFC 7592 §2.2 rules and RFC 7591 §2 metadata, each 400 (§3.2.2)."""
    new = replacement(client, client_name="Changed", **changes)
    if changes.get("client_id", "") is None:
        del new["client_id"]
    response = open_http.put(path_of(client), json=new, headers=auth(client))
    assert_oauth_error(response, 400, error)
    read = open_http.get(path_of(client), headers=auth(client)).json()
    assert read["client_name"] == client["client_name"]


def test_a_public_client_cannot_become_confidential(open_http: TestClient) -> None:
    public = register(open_http, None, {**WEB_APP_METADATA, "token_endpoint_auth_method": "none"})
    client = public.json()
    new = replacement(client, token_endpoint_auth_method="client_secret_basic")
    response = open_http.put(path_of(client), json=new, headers=auth(client))
    body = assert_oauth_error(response, 400, "invalid_client_metadata")
    assert body["error_description"].startswith("token_endpoint_auth_method")


def test_a_bad_update_body_is_400_but_only_for_the_clients_token(
    open_http: TestClient, client: dict[str, Any]
) -> None:
    headers = {**auth(client), "Content-Type": "application/json"}
    malformed = open_http.put(path_of(client), content=b"{nope", headers=headers)
    assert_oauth_error(malformed, 400, "invalid_client_metadata")
    anonymous = open_http.put(path_of(client), content=b"{nope", headers={**headers, **bearer("x")})
    assert_oauth_error(anonymous, 401, "invalid_token")


def test_a_deleted_client_is_gone_with_every_token_it_held(
    open_http: TestClient, client: dict[str, Any], user: User
) -> None:
    """RFC 7592 §2.3: 204; its tokens stop working, its credentials too."""
    grant = grant_for(open_http, client["client_id"], client["client_secret"], scope="openid")
    response = open_http.delete(path_of(client), headers=auth(client))
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"
    assert_oauth_error(open_http.get(path_of(client), headers=auth(client)), 401, "invalid_token")
    assert_oauth_error(
        open_http.delete(path_of(client), headers=auth(client)), 401, "invalid_token"
    )
    userinfo = open_http.get("/userinfo", headers=bearer(grant.access_token))
    assert_oauth_error(userinfo, 401, "invalid_token")
    refresh = {"grant_type": "refresh_token", "refresh_token": grant.refresh_token}
    credentials = basic(client["client_id"], client["client_secret"])
    assert_oauth_error(
        open_http.post("/token", data=refresh, headers=credentials), 401, "invalid_client"
    )


def test_a_change_holds_at_once_in_this_process_despite_the_client_cache(
    database: Database, keys_dir: Path
) -> None:
    """The process that answers a PUT or DELETE forgets its cached copy of the client (others
    see the change within AUTHSERVER_CLIENT_CACHE_TTL, as after `clients delete`)."""
    metadata = {
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "openid",
    }
    with app_with(database, keys_dir, registration="open", client_cache_ttl=600) as http:
        client = register(http, None, metadata).json()
        credentials = basic(client["client_id"], client["client_secret"])
        form = {"grant_type": "client_credentials"}
        assert http.post("/token", data=form, headers=credentials).status_code == 200
        new = replacement(client, token_endpoint_auth_method="client_secret_post")
        assert http.put(path_of(client), json=new, headers=auth(client)).status_code == 200
        assert_oauth_error(
            http.post("/token", data=form, headers=credentials), 401, "invalid_client"
        )
        posted = {
            **form,
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        }
        assert http.post("/token", data=posted).status_code == 200
        assert http.delete(path_of(client), headers=auth(client)).status_code == 204
        assert_oauth_error(http.post("/token", data=posted), 401, "invalid_client")


def test_registration_update_and_deletion_are_audited_without_secrets(
    open_http: TestClient, database: Database, client: dict[str, Any]
) -> None:
    new = replacement(client, client_name="Notes 2")
    assert open_http.put(path_of(client), json=new, headers=auth(client)).status_code == 200
    assert open_http.delete(path_of(client), headers=auth(client)).status_code == 204
    with database.transaction() as session:
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.client_id == client["client_id"])
            .order_by(AuditEvent.id)  # type: ignore[arg-type]
        ).all()
    assert [e.event for e in events] == ["client.registered", "client.updated", "client.deleted"]
    for event in events:
        assert client["registration_access_token"] not in event.details
        assert client["client_secret"] not in event.details
