"""The Device Authorization Grant (RFC 8628) through HTTP: the device authorization
endpoint (§3.1-3.2), the /device page (§3.3), and every answer of the token endpoint
(§3.4-3.5), on SQLite and PostgreSQL. Time passing is written into the row itself."""

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update
from sqlmodel import col, select

from authserver.clients.models import DEVICE_CODE
from authserver.db import Database
from authserver.device_flow.models import DeviceAuthorization
from authserver.opaque import opaque_hash
from authserver.users.models import User
from tests.conftest import ISSUER
from tests.factories import SERVICE_AUDIENCE, make_client, make_user
from tests.flows import (
    answer_device,
    approve_device,
    csrf_token_of,
    enter_user_code,
    hidden_fields,
    sign_in,
)
from tests.http.pages import assert_page_headers
from tests.http.tokens import assert_oauth_error, basic, verify_with_jwks

USER_CODE = re.compile(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}")


@pytest.fixture
def tv(database: Database) -> str:
    """A public device client (a TV app) with refresh tokens."""
    client, _ = make_client(
        database,
        name="Living-room TV",
        grant_types=[DEVICE_CODE, "refresh_token"],
        scope="openid profile orders:read",
        public=True,
    )
    return client.client_id


def start(http: TestClient, client_id: str, **form: Any) -> Response:
    return http.post("/device_authorization", data={"client_id": client_id, **form})


def started(http: TestClient, client_id: str, **form: Any) -> dict[str, Any]:
    response = start(http, client_id, **form)
    assert response.status_code == 200, response.text
    return response.json()


def poll(http: TestClient, client_id: str, device_code: str, **form: Any) -> Response:
    data = {"grant_type": DEVICE_CODE, "device_code": device_code, "client_id": client_id}
    return http.post("/token", data={**data, **form})


def row_of(database: Database, device_code: str) -> DeviceAuthorization:
    with database.transaction() as db:
        row = db.get(DeviceAuthorization, opaque_hash(device_code))
        assert row is not None
        return row


def age(database: Database, device_code: str, **shifts: timedelta) -> None:
    """Move the row's moments into the past, as if that much time had gone by."""
    row = row_of(database, device_code)
    values = {name: getattr(row, name) - shift for name, shift in shifts.items()}
    with database.transaction() as db:
        db.execute(
            update(DeviceAuthorization)
            .where(col(DeviceAuthorization.device_code_hash) == row.device_code_hash)
            .values(**values)
        )


def signed_in(http: TestClient, database: Database, username: str = "alice") -> None:
    make_user(database, username)
    assert sign_in(http, username).status_code == 303


def assert_refused(page: Response) -> None:
    """The code form again, saying the code is not valid: nothing to approve."""
    assert "not valid" in page.text and 'value="approve"' not in page.text


# --- §3.1-3.2: the device authorization request and response -----------------------


def test_discovery_names_the_endpoint_and_the_grant(http: TestClient) -> None:
    """RFC 8628 §4: `device_authorization_endpoint`; RFC 8414 §2: the grant type."""
    metadata = http.get("/.well-known/openid-configuration").json()
    assert metadata["device_authorization_endpoint"] == f"{ISSUER}/device_authorization"
    assert DEVICE_CODE in metadata["grant_types_supported"]


def test_the_response_has_every_member_of_section_3_2(http: TestClient, tv: str) -> None:
    response = start(http, tv, scope="openid profile")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert USER_CODE.fullmatch(body["user_code"])
    assert body["verification_uri"] == f"{ISSUER}/device"
    complete = urlsplit(body["verification_uri_complete"])
    assert f"{complete.scheme}://{complete.netloc}{complete.path}" == f"{ISSUER}/device"
    assert parse_qs(complete.query) == {"user_code": [body["user_code"]]}
    assert body["expires_in"] == 600
    assert body["interval"] == 5
    assert len(body["device_code"]) >= 43  # 256 bits, base64url


def test_each_request_gets_its_own_codes(http: TestClient, tv: str) -> None:
    first, second = started(http, tv), started(http, tv)
    assert first["device_code"] != second["device_code"]
    assert first["user_code"] != second["user_code"]


def test_the_device_code_is_stored_only_as_a_hash(
    http: TestClient, database: Database, tv: str
) -> None:
    body = started(http, tv)
    with database.transaction() as db:
        rows = db.exec(select(DeviceAuthorization)).all()
    assert [row.device_code_hash for row in rows] == [opaque_hash(body["device_code"])]
    assert rows[0].user_code == body["user_code"].replace("-", "")


def test_a_client_without_the_grant_type_is_unauthorized(
    http: TestClient, database: Database
) -> None:
    """RFC 6749 §5.2 `unauthorized_client` (CONTRACT: a grant type the client may not use)."""
    client, secret = make_client(database)
    assert secret is not None
    response = http.post(
        "/device_authorization",
        data={"scope": "orders:read"},
        headers=basic(client.client_id, secret),
    )
    assert_oauth_error(response, 400, "unauthorized_client")


def test_an_unknown_client_is_refused(http: TestClient) -> None:
    assert_oauth_error(start(http, "no-such-client"), 401, "invalid_client")


def test_a_confidential_device_client_must_authenticate(
    http: TestClient, database: Database
) -> None:
    """RFC 8628 §3.1: client authentication as at the token endpoint."""
    client, secret = make_client(database, grant_types=[DEVICE_CODE])
    assert secret is not None
    assert_oauth_error(start(http, client.client_id), 401, "invalid_client")
    response = http.post(
        "/device_authorization",
        data={"scope": "orders:read"},
        headers=basic(client.client_id, secret),
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"scope": '"quoted"'}, "invalid_scope"),
        ({"resource": "https://elsewhere.example.test"}, "invalid_target"),
        ({"resource": "not a uri"}, "invalid_target"),
    ],
)
def test_a_scope_or_resource_beyond_the_client_is_refused(
    http: TestClient, tv: str, form: dict[str, str], error: str
) -> None:
    assert_oauth_error(start(http, tv, **form), 400, error)


def test_a_repeated_parameter_is_refused(http: TestClient, tv: str) -> None:
    response = http.post(
        "/device_authorization",
        content=f"client_id={tv}&scope=openid&scope=profile".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_oauth_error(response, 400, "invalid_request")


# --- §3.4-3.5: polling -------------------------------------------------------------


def test_polling_before_the_user_answers_is_pending(http: TestClient, tv: str) -> None:
    body = started(http, tv)
    assert_oauth_error(poll(http, tv, body["device_code"]), 400, "authorization_pending")


def test_polling_faster_than_the_interval_slows_down_by_5_seconds_each_time(
    http: TestClient, database: Database, tv: str
) -> None:
    """RFC 8628 §3.5 `slow_down`: "the interval MUST be increased by 5 seconds for this
    and all subsequent requests"."""
    device_code = started(http, tv)["device_code"]
    assert_oauth_error(poll(http, tv, device_code), 400, "authorization_pending")
    assert_oauth_error(poll(http, tv, device_code), 400, "slow_down")
    assert row_of(database, device_code).interval == 10
    assert_oauth_error(poll(http, tv, device_code), 400, "slow_down")
    assert row_of(database, device_code).interval == 15
    # 6 s later is now too soon as well: the interval grew.
    age(database, device_code, last_polled_at=timedelta(seconds=6))
    assert_oauth_error(poll(http, tv, device_code), 400, "slow_down")
    assert row_of(database, device_code).interval == 20
    # Waiting the whole interval is pending again, and the interval stays.
    age(database, device_code, last_polled_at=timedelta(seconds=20))
    assert_oauth_error(poll(http, tv, device_code), 400, "authorization_pending")
    assert row_of(database, device_code).interval == 20


def test_an_approved_device_gets_tokens_once(http: TestClient, database: Database, tv: str) -> None:
    body = started(http, tv, scope="openid orders:read", resource=SERVICE_AUDIENCE)
    signed_in(http, database)
    done = approve_device(http, body["user_code"])
    assert done.status_code == 200 and "Device connected" in done.text
    response = poll(http, tv, body["device_code"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "openid orders:read"
    assert "refresh_token" in tokens
    claims = verify_with_jwks(http, tokens["access_token"], SERVICE_AUDIENCE)
    with database.transaction() as db:
        alice = db.exec(select(User).where(User.username == "alice")).one()
    assert claims["sub"] == str(alice.id)
    assert claims["client_id"] == tv
    assert claims["scope"] == "openid orders:read"
    assert "sid" not in claims  # the approving browser's session is not the device's
    # RFC 6749 §10.5 by analogy: a device code gives tokens once.
    assert_oauth_error(poll(http, tv, body["device_code"]), 400, "invalid_grant")
    # The refresh token rotates like any other, and keeps the granted audience.
    refreshed = http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": tv,
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    verify_with_jwks(http, refreshed.json()["access_token"], SERVICE_AUDIENCE)


def test_a_denied_device_gets_access_denied(http: TestClient, database: Database, tv: str) -> None:
    body = started(http, tv)
    signed_in(http, database)
    done = approve_device(http, body["user_code"], "deny")
    assert done.status_code == 200 and "Access denied" in done.text
    assert_oauth_error(poll(http, tv, body["device_code"]), 400, "access_denied")
    # A denied code cannot be approved afterwards.
    assert_refused(enter_user_code(http, body["user_code"]))


def test_an_expired_device_code_is_expired_token(
    http: TestClient, database: Database, tv: str
) -> None:
    body = started(http, tv)
    age(database, body["device_code"], expires_at=timedelta(minutes=10, seconds=1))
    assert_oauth_error(poll(http, tv, body["device_code"]), 400, "expired_token")
    signed_in(http, database)
    assert_refused(enter_user_code(http, body["user_code"]))


def test_approved_but_expired_before_the_poll_is_expired_token(
    http: TestClient, database: Database, tv: str
) -> None:
    body = started(http, tv)
    signed_in(http, database)
    approve_device(http, body["user_code"])
    age(database, body["device_code"], expires_at=timedelta(minutes=10, seconds=1))
    assert_oauth_error(poll(http, tv, body["device_code"]), 400, "expired_token")


@pytest.mark.parametrize("device_code", ["", "unknown-device-code"])
def test_a_missing_or_unknown_device_code(http: TestClient, tv: str, device_code: str) -> None:
    response = poll(http, tv, device_code)
    assert_oauth_error(response, 400, "invalid_request" if not device_code else "invalid_grant")


def test_another_clients_device_code_is_invalid_grant(
    http: TestClient, database: Database, tv: str
) -> None:
    other, _ = make_client(
        database, name="Other TV", grant_types=[DEVICE_CODE], scope="openid", public=True
    )
    body = started(http, tv)
    assert_oauth_error(poll(http, other.client_id, body["device_code"]), 400, "invalid_grant")


def test_a_user_disabled_after_approving_gets_no_tokens(
    http: TestClient, database: Database, tv: str
) -> None:
    body = started(http, tv)
    signed_in(http, database)
    approve_device(http, body["user_code"])
    with database.transaction() as db:
        db.execute(update(User).where(col(User.username) == "alice").values(disabled=True))
    assert_oauth_error(poll(http, tv, body["device_code"]), 400, "invalid_grant")


# --- §3.3: the /device page --------------------------------------------------------


def test_the_page_wants_a_signed_in_user_and_comes_back_with_the_code(
    http: TestClient, database: Database, tv: str
) -> None:
    body = started(http, tv)
    response = http.get(body["verification_uri_complete"], follow_redirects=False)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    next_path = parse_qs(location.query)["next"][0]
    assert next_path == f"/device?user_code={body['user_code']}"
    make_user(database)
    back = sign_in(http, next_path=next_path)
    assert back.headers["location"] == f"{ISSUER}{next_path}"
    confirm = http.get(next_path)
    assert confirm.status_code == 200
    assert_page_headers(confirm)
    assert "Living-room TV" in confirm.text
    assert body["user_code"] in confirm.text
    assert 'value="approve"' in confirm.text and 'value="deny"' in confirm.text


@pytest.mark.parametrize("typed", ["lower", "no-dash", "spaced"])
def test_the_code_may_be_typed_in_any_case_without_the_dash(
    http: TestClient, database: Database, tv: str, typed: str
) -> None:
    body = started(http, tv)
    code = body["user_code"]
    entry = {
        "lower": code.lower(),
        "no-dash": code.replace("-", ""),
        "spaced": f"  {code[:4]} {code[5:]} ".lower(),
    }[typed]
    signed_in(http, database)
    confirm = enter_user_code(http, entry)
    assert 'value="approve"' in confirm.text
    assert answer_device(http, confirm, "approve").status_code == 200
    assert poll(http, tv, body["device_code"]).status_code == 200


@pytest.mark.parametrize("entry", ["BCDF-GHJK", "AEIO-UAEI", "x" * 40, "ünïcödé"])
def test_a_wrong_code_shows_the_form_again(
    http: TestClient, database: Database, tv: str, entry: str
) -> None:
    started(http, tv)
    signed_in(http, database)
    page = enter_user_code(http, entry)
    assert page.status_code == 200
    assert_refused(page)


def test_forms_without_the_right_csrf_token_are_refused(
    http: TestClient, database: Database, tv: str
) -> None:
    """SECURITY-CHECKLIST: every form carries a CSRF token bound to what it is for."""
    body = started(http, tv)
    signed_in(http, database)
    entered = http.post("/device", data={"user_code": body["user_code"]})
    assert entered.status_code == 400 and 'value="approve"' not in entered.text
    confirm = enter_user_code(http, body["user_code"])
    fields = dict(hidden_fields(confirm.text))
    # The decision needs the token minted for this code; the page's own is not enough.
    forged = {**fields, "decision_token": fields["csrf_token"], "decision": "approve"}
    assert http.post("/device", data=forged).status_code == 400
    # A decision token shown for one code does not approve another.
    second = started(http, tv)
    other = {**fields, "user_code": second["user_code"], "decision": "approve"}
    assert http.post("/device", data=other).status_code == 400
    assert_oauth_error(poll(http, tv, body["device_code"]), 400, "authorization_pending")
    assert_oauth_error(poll(http, tv, second["device_code"]), 400, "authorization_pending")


def test_a_code_is_decided_once(http: TestClient, database: Database, tv: str) -> None:
    body = started(http, tv)
    signed_in(http, database)
    confirm = enter_user_code(http, body["user_code"])
    assert answer_device(http, confirm, "approve").status_code == 200
    assert_refused(answer_device(http, confirm, "deny"))
    assert poll(http, tv, body["device_code"]).status_code == 200


def test_guessing_user_codes_is_throttled(http: TestClient, database: Database, tv: str) -> None:
    """RFC 8628 §5.1: brute force of user codes is rate-limited; a wait grows."""
    body = started(http, tv)
    signed_in(http, database)
    page = http.get("/device")
    token = csrf_token_of(page.text)
    statuses = [
        http.post("/device", data={"csrf_token": token, "user_code": "BCDF-GHJK"}).status_code
        for _ in range(8)
    ]
    assert statuses[:5] == [200] * 5
    throttled = http.post("/device", data={"csrf_token": token, "user_code": body["user_code"]})
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert 'value="approve"' not in throttled.text


def test_the_page_is_a_readable_page_for_bad_input(http: TestClient, database: Database) -> None:
    signed_in(http, database)
    response = http.post(
        "/device",
        content=b"user_code=%ff%fe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert http.put("/device").status_code == 405
