"""Second factors over HTTP: TOTP (RFC 6238) with recovery codes, the second step of a
sign-in, the MFA policy (AUTHSERVER_MFA, --require-mfa, acr_values) and what the id_token
says of the sign-in (OIDC Core §2 `amr`/`acr`, RFC 8176 values)."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from authserver.app import create_app
from authserver.audit.models import AuditEvent
from authserver.db import Database
from authserver.factors.models import PendingSignIn, RecoveryCode, TotpFactor
from authserver.factors.policy import ACR_MFA, ACR_SINGLE_FACTOR
from authserver.login.models import LoginSession
from authserver.users.models import User
from tests.conftest import ISSUER, make_settings
from tests.factories import make_web_app
from tests.factors import (
    answer_second_factor,
    enrol_totp,
    secret_on,
    sign_in_with_code,
    totp_code,
)
from tests.flows import (
    Pkce,
    answer_consent,
    authorize_path,
    csrf_token_of,
    exchange_code,
    query_of,
    sign_in,
)
from tests.http.pages import assert_page_headers
from tests.http.tokens import verified_id_token


@pytest.fixture
def enrolled(http: TestClient, user: User) -> tuple[str, list[str]]:
    """alice signed in with her password and set up TOTP; she is then signed out."""
    assert sign_in(http).status_code == 303
    secret, codes, _ = enrol_totp(http)
    http.cookies.clear()
    return secret, codes


def code_at_web_app(http: TestClient, client_id: str, pkce: Pkce, **params: str) -> str:
    """Follow /authorize through consent to the code (the browser is signed in)."""
    response = http.get(authorize_path(client_id, pkce, **params), follow_redirects=False)
    if response.status_code == 200 and 'value="approve"' in response.text:
        response = answer_consent(http, response)
    query = query_of(response)
    assert "code" in query, query
    return query["code"]


def id_token_claims(
    http: TestClient, web_app: tuple[str, str], pkce: Pkce, **params: str
) -> dict[str, Any]:
    code = code_at_web_app(http, web_app[0], pkce, **params)
    tokens = exchange_code(http, *web_app, code, pkce.verifier)
    assert tokens.status_code == 200, tokens.text
    return verified_id_token(http, tokens.json()["id_token"], web_app[0])


def newest_session(database: Database) -> LoginSession:
    with database.transaction() as db:
        newest = db.exec(select(LoginSession).order_by(col(LoginSession.auth_time).desc())).first()
    assert newest is not None
    return newest


def follow(http: TestClient, response: Any) -> Any:
    assert response.status_code == 303, (response.status_code, response.text[:500])
    return http.get(response.headers["location"].removeprefix(ISSUER), follow_redirects=False)


# --- enrolment -------------------------------------------------------------------------


def test_enrolment_shows_a_qr_code_and_the_secret_and_is_confirmed_by_a_first_code(
    http: TestClient, user: User, database: Database
) -> None:
    assert sign_in(http).status_code == 303
    page = http.get("/account/totp")
    assert page.status_code == 200
    assert_page_headers(page)
    assert "<svg" in page.text and "data-totp-secret" in page.text
    # Reloading shows the same secret (the app may have scanned it already).
    assert page.text.count("data-totp-secret") == 1
    again = http.get("/account/totp")
    assert secret_on(again.text) == secret_on(page.text)
    with database.transaction() as db:
        factor = db.get(TotpFactor, user.id)
        assert factor is not None and factor.confirmed_at is None
        # RFC 6238 secrets are sealed at rest: the base32 secret is nowhere in the row.
        assert secret_on(page.text) not in factor.sealed_secret

    wrong = http.post(
        "/account/totp", data={"csrf_token": csrf_token_of(page.text), "code": "000000"}
    )
    assert wrong.status_code == 400 and "not right" in wrong.text
    secret, codes, confirmed = enrol_totp(http)
    assert secret == secret_on(page.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert_page_headers(confirmed)
    with database.transaction() as db:
        stored = db.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
        assert len(stored) == 10
        assert not {row.code_hash for row in stored} & set(codes)  # stored hashed only
        events = [row.event for row in db.exec(select(AuditEvent)).all()]
    assert "mfa.totp_enrolled" in events and "mfa.recovery_codes_created" in events
    account = http.get("/account")
    assert 'data-factor="totp"' in account.text and "10 left" in account.text


def test_enrolment_needs_a_session_and_the_forms_csrf_token(http: TestClient, user: User) -> None:
    signed_out = http.get("/account/totp", follow_redirects=False)
    assert signed_out.status_code == 303 and "/login?" in signed_out.headers["location"]
    assert sign_in(http).status_code == 303
    page = http.get("/account/totp")
    code = totp_code(secret_on(page.text))
    for token in (None, "forged"):
        data = {"code": code} | ({"csrf_token": token} if token else {})
        refused = http.post("/account/totp", data=data)
        assert refused.status_code == 400 and "expired" in refused.text


# --- signing in with a second factor ---------------------------------------------------


def test_a_user_with_totp_is_always_asked_for_a_code_after_the_password(
    http: TestClient, enrolled: tuple[str, list[str]], database: Database
) -> None:
    secret, _ = enrolled
    first = sign_in(http)
    assert first.status_code == 303
    assert first.headers["location"] == ISSUER + "/login/second-factor"
    # No session yet: only a pending sign-in, whose cookie is HttpOnly.
    assert "authserver_session" not in http.cookies
    assert "HttpOnly" in first.headers["set-cookie"]
    with database.transaction() as db:
        assert len(db.exec(select(PendingSignIn)).all()) == 1
    page = http.get("/login/second-factor")
    assert page.status_code == 200 and 'name="code"' in page.text
    assert_page_headers(page)
    done = answer_second_factor(http, totp_code(secret, 1))
    assert done.status_code == 303 and "authserver_session" in http.cookies
    with database.transaction() as db:
        assert db.exec(select(PendingSignIn)).all() == []
    assert newest_session(database).amr == "pwd otp mfa"


def test_a_totp_code_is_refused_the_second_time_within_its_window(
    http: TestClient, app: Any, enrolled: tuple[str, list[str]]
) -> None:
    """RFC 6238 §5.2: a code is accepted once; the enrolment used this step's code already."""
    secret, _ = enrolled
    assert sign_in(http).status_code == 303
    replayed = answer_second_factor(http, totp_code(secret))
    assert replayed.status_code == 200 and "not right, or was used already" in replayed.text
    ahead = totp_code(secret, 1)
    assert answer_second_factor(http, ahead).status_code == 303
    with TestClient(app, base_url=ISSUER) as other_browser:
        assert sign_in(other_browser).status_code == 303
        again = answer_second_factor(other_browser, ahead)
        assert again.status_code == 200 and "authserver_session" not in other_browser.cookies


def test_a_code_two_steps_away_is_refused(
    http: TestClient, enrolled: tuple[str, list[str]]
) -> None:
    """RFC 6238 §5.2: one step either side of now, no more."""
    secret, _ = enrolled
    assert sign_in(http).status_code == 303
    for steps in (-3, 3):
        refused = answer_second_factor(http, totp_code(secret, steps))
        assert refused.status_code == 200 and "authserver_session" not in http.cookies


def test_a_recovery_code_works_once_in_place_of_a_code(
    http: TestClient, app: Any, enrolled: tuple[str, list[str]], database: Database
) -> None:
    _, codes = enrolled
    typed = codes[0].upper().replace("-", " ")  # any case, spaces for dashes
    assert sign_in_with_code(http, typed).status_code == 303
    with TestClient(app, base_url=ISSUER) as other_browser:
        reused = sign_in_with_code(other_browser, codes[0])
        assert reused.status_code == 200 and "authserver_session" not in other_browser.cookies
        assert sign_in_with_code(other_browser, codes[1]).status_code == 303
    with database.transaction() as db:
        used = [row for row in db.exec(select(RecoveryCode)).all() if row.used_at is not None]
        events = [row.event for row in db.exec(select(AuditEvent)).all()]
    assert len(used) == 2 and events.count("mfa.recovery_code_used") == 2
    assert "9 left" not in http.get("/account").text and "8 left" in http.get("/account").text


def test_second_factor_guesses_are_throttled_like_passwords(
    http: TestClient, enrolled: tuple[str, list[str]]
) -> None:
    assert sign_in(http).status_code == 303
    statuses = [answer_second_factor(http, "123456").status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
    page = http.get("/login/second-factor")
    form = {"csrf_token": csrf_token_of(page.text), "code": "654321"}
    throttled = http.post("/login/second-factor", data=form)
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1


def test_the_second_step_refuses_a_missing_or_forged_csrf_token(
    http: TestClient, enrolled: tuple[str, list[str]]
) -> None:
    secret, _ = enrolled
    assert sign_in(http).status_code == 303
    for data in ({"code": totp_code(secret, 1)}, {"code": totp_code(secret, 1), "csrf_token": "x"}):
        refused = http.post("/login/second-factor", data=data)
        assert refused.status_code == 400 and "authserver_session" not in http.cookies


def test_the_second_step_without_a_first_goes_to_the_login_page(http: TestClient) -> None:
    for response in (
        http.get("/login/second-factor?next=/account", follow_redirects=False),
        http.post("/login/second-factor", data={"code": "123456"}, follow_redirects=False),
    ):
        assert response.status_code == 303
        assert response.headers["location"].startswith(ISSUER + "/login")


def test_the_second_step_returns_to_the_authorization_with_amr_and_acr(
    http: TestClient, web_app: tuple[str, str], enrolled: tuple[str, list[str]]
) -> None:
    """OIDC Core §2: `amr` names the methods (RFC 8176: pwd, otp, mfa); `acr`, asked for
    with acr_values, the level met."""
    secret, _ = enrolled
    pkce = Pkce()
    path = authorize_path(web_app[0], pkce, acr_values=f"{ACR_SINGLE_FACTOR} {ACR_MFA}")
    to_login = http.get(path, follow_redirects=False)
    next_path = query_of(to_login)["next"]
    done = sign_in_with_code(http, totp_code(secret, 1), next_path=next_path)
    back = follow(http, done)
    if back.status_code == 200:
        back = answer_consent(http, back)
    tokens = exchange_code(http, *web_app, query_of(back)["code"], pkce.verifier)
    claims = verified_id_token(http, tokens.json()["id_token"], web_app[0])
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == ACR_MFA


def test_a_password_sign_in_says_pwd_and_no_acr_unless_asked(
    http: TestClient, web_app: tuple[str, str]
) -> None:
    assert sign_in(http).status_code == 303
    claims = id_token_claims(http, web_app, Pkce())
    assert claims["amr"] == ["pwd"] and "acr" not in claims
    asked = id_token_claims(http, web_app, Pkce(), acr_values=ACR_SINGLE_FACTOR)
    assert asked["acr"] == ACR_SINGLE_FACTOR


# --- the policy ------------------------------------------------------------------------


def test_acr_values_naming_only_mfa_steps_a_password_session_up(
    http: TestClient, web_app: tuple[str, str], enrolled: tuple[str, list[str]], database: Database
) -> None:
    """OIDC Core §3.1.2.1 acr_values: the request needs a second factor; the session
    proves it (same `sid`, new `auth_time`) and the code follows."""
    secret, _ = enrolled
    assert sign_in_with_code(http, totp_code(secret, 1)).status_code == 303
    session = newest_session(database)
    with database.transaction() as db:
        session.amr = "pwd"  # as one begun before TOTP was set up
        db.add(session)
    pkce = Pkce()
    path = authorize_path(web_app[0], pkce, acr_values=ACR_MFA)
    step_up = http.get(path, follow_redirects=False)
    assert step_up.status_code == 303
    assert step_up.headers["location"].startswith(ISSUER + "/login/second-factor?next=")
    next_path = query_of(step_up)["next"]
    none = http.get(
        authorize_path(web_app[0], Pkce(), acr_values=ACR_MFA, prompt="none"),
        follow_redirects=False,
    )
    assert query_of(none)["error"] == "interaction_required"
    _, codes = enrolled
    proved = answer_second_factor(http, codes[0], next_path)
    back = follow(http, proved)
    if back.status_code == 200:
        back = answer_consent(http, back)
    tokens = exchange_code(http, *web_app, query_of(back)["code"], pkce.verifier)
    claims = verified_id_token(http, tokens.json()["id_token"], web_app[0])
    assert claims["acr"] == ACR_MFA and "mfa" in claims["amr"]
    renewed = newest_session(database)
    assert renewed.sid == session.sid and renewed.auth_time > session.auth_time


def test_a_client_made_with_require_mfa_leads_a_user_without_a_factor_through_enrolment(
    http: TestClient, database: Database, user: User
) -> None:
    client, secret = make_web_app(database, require_mfa=True)
    assert secret is not None
    pkce = Pkce()
    path = authorize_path(client.client_id, pkce)
    to_login = http.get(path, follow_redirects=False)
    step_up = follow(http, sign_in(http, next_path=query_of(to_login)["next"]))
    assert step_up.status_code == 303 and "/login/second-factor" in step_up.headers["location"]
    enrol = follow(http, step_up)
    assert enrol.status_code == 303 and "/account/totp?next=" in enrol.headers["location"]
    next_path = query_of(enrol)["next"]
    _, codes, confirmed = enrol_totp(http, next_path)
    assert len(codes) == 10
    # The codes page continues to the authorization, which now gives a code.
    assert f'href="{ISSUER}/authorize?' in confirmed.text
    back = http.get(next_path, follow_redirects=False)
    if back.status_code == 200:
        back = answer_consent(http, back)
    tokens = exchange_code(http, client.client_id, secret, query_of(back)["code"], pkce.verifier)
    claims = verified_id_token(http, tokens.json()["id_token"], client.client_id)
    assert claims["amr"] == ["pwd", "otp", "mfa"]


@pytest.fixture
def mfa_required_http(database: Database, keys_dir: Path) -> Iterator[TestClient]:
    settings = make_settings(
        database_url=database.url, keys_dir=keys_dir, client_cache_ttl=0, mfa="required"
    )
    with TestClient(create_app(settings), base_url=ISSUER) as client:
        yield client


def test_mfa_required_asks_every_authorization_for_a_second_factor(
    mfa_required_http: TestClient, web_app: tuple[str, str]
) -> None:
    http = mfa_required_http
    pkce = Pkce()
    to_login = http.get(authorize_path(web_app[0], pkce), follow_redirects=False)
    next_path = query_of(to_login)["next"]
    step_up = follow(http, sign_in(http, next_path=next_path))
    enrol = follow(http, step_up)
    assert "/account/totp?next=" in enrol.headers["location"]
    secret, _, _ = enrol_totp(http, next_path)
    back = http.get(next_path, follow_redirects=False)
    if back.status_code == 200:
        back = answer_consent(http, back)
    assert "code" in query_of(back)
    # The next sign-in asks for the code straight after the password.
    http.cookies.clear()
    assert sign_in_with_code(http, totp_code(secret, 1)).status_code == 303


@pytest.fixture
def mfa_off_http(database: Database, keys_dir: Path) -> Iterator[TestClient]:
    settings = make_settings(
        database_url=database.url, keys_dir=keys_dir, client_cache_ttl=0, mfa="off"
    )
    with TestClient(create_app(settings), base_url=ISSUER) as client:
        yield client


def test_mfa_off_neither_enrols_nor_asks(
    mfa_off_http: TestClient, web_app: tuple[str, str], enrolled: tuple[str, list[str]]
) -> None:
    """With AUTHSERVER_MFA=off a factor enrolled earlier is not asked for, acr_values
    naming mfa are answered with what the session has, and enrolment is closed."""
    http = mfa_off_http
    signed_in = sign_in(http)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == ISSUER + "/login"
    assert http.get("/account/totp").status_code == 404
    claims = id_token_claims(http, web_app, Pkce(), acr_values=ACR_MFA)
    assert claims["amr"] == ["pwd"] and claims["acr"] == ACR_SINGLE_FACTOR


def test_discovery_names_the_acr_values_and_the_new_claims(http: TestClient) -> None:
    metadata = http.get("/.well-known/openid-configuration").json()
    assert metadata["acr_values_supported"] == [ACR_SINGLE_FACTOR, ACR_MFA]
    assert {"amr", "acr"} <= set(metadata["claims_supported"])


def test_a_device_approval_for_a_require_mfa_client_asks_for_the_second_factor(
    http: TestClient, database: Database, enrolled: tuple[str, list[str]]
) -> None:
    """RFC 8628 §3.3: the user authorizes on the /device page; for a client made with
    --require-mfa that needs a second factor like /authorize does."""
    from authserver.clients.models import DEVICE_CODE
    from tests.factories import make_client

    secret, codes = enrolled
    tv, _ = make_client(
        database, grant_types=[DEVICE_CODE], scope="openid", public=True, require_mfa=True
    )
    body = http.post("/device_authorization", data={"client_id": tv.client_id}).json()
    assert sign_in_with_code(http, totp_code(secret, 1)).status_code == 303
    session = newest_session(database)
    with database.transaction() as db:
        session.amr = "pwd"  # as one begun before TOTP was set up
        db.add(session)
    page = http.get("/device")
    form = {"csrf_token": csrf_token_of(page.text), "user_code": body["user_code"]}
    step_up = http.post("/device", data=form, follow_redirects=False)
    assert step_up.status_code == 303
    assert step_up.headers["location"].startswith(ISSUER + "/login/second-factor?next=")
    next_path = query_of(step_up)["next"]
    assert next_path.startswith("/device?user_code=")
    proved = answer_second_factor(http, codes[0], next_path)
    confirm = follow(http, proved)
    assert confirm.status_code == 200 and 'value="approve"' in confirm.text


def age_sign_in(database: Database, by: timedelta) -> None:
    """The newest session signed in `by` ago."""
    session = newest_session(database)
    with database.transaction() as db:
        session.auth_time -= by
        db.add(session)


def test_second_factors_change_only_soon_after_a_sign_in(
    http: TestClient, enrolled: tuple[str, list[str]], database: Database
) -> None:
    """A stolen session cookie alone cannot remove a factor, make new recovery codes or
    add a passkey: each needs a sign-in within the last 15 minutes (a "sudo mode")."""
    secret, codes = enrolled
    assert sign_in_with_code(http, codes[0]).status_code == 303
    age_sign_in(database, timedelta(minutes=16))
    page = http.get("/account")
    token = csrf_token_of(page.text)
    for action in ("totp/remove", "recovery-codes"):
        refused = http.post(f"/account/{action}", data={"csrf_token": token})
        assert refused.status_code == 403 and "sign in again" in refused.text, action
    options = http.post("/passkeys/registration/options", json={}, headers={"X-CSRF-Token": token})
    assert options.status_code == 400 and options.json()["error"] == "login_required"
    with database.transaction() as db:
        assert db.get(TotpFactor, newest_session(database).user_id) is not None
    # Signing in again (password and a code) opens the window again.
    again = sign_in_with_code(http, totp_code(secret, 1), next_path="/account")
    assert again.status_code == 303
    removed = http.post(
        "/account/totp/remove", data={"csrf_token": csrf_token_of(http.get("/account").text)}
    )
    assert removed.status_code == 200 and "was removed" in removed.text


def test_enrolment_after_a_while_asks_to_sign_in_again(
    http: TestClient, user: User, database: Database
) -> None:
    assert sign_in(http).status_code == 303
    age_sign_in(database, timedelta(minutes=16))
    response = http.get("/account/totp", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == ISSUER + "/login?next=%2Faccount%2Ftotp"
