"""The JWT attack matrix (tests/jwt_attacks.py) at the server's three doors.

SECURITY-CHECKLIST "Tokens and JWTs" (RFC 8725 §3.1, §3.8, §3.10, §3.11; RFC 9068 §2.1;
RFC 7515 §4.1.11): a forged access token gets 401 `invalid_token` at `/userinfo` (RFC 6750
§3.1) and exactly `{"active": false}` at `/introspect` (RFC 7662 §2.2); a forged id_token
as `id_token_hint` is not believed: `/logout` asks the user to confirm and never
redirects on its word (OpenID RP-Initiated Logout §2-§3). Each forgery is also put to
`verify_jwt`, the one validator behind all three, to show it fails for its own reason.
"""

import time

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from joserfc.jwk import RSAKey

from authserver.jose import JwtRejected
from authserver.tokens.verification import TokenKind, verify_jwt
from tests.factories import WEB_APP_LOGOUT_URI, make_client
from tests.flows import Grant
from tests.http.tokens import basic, claims_of, server_key
from tests.jwt_attacks import ACCEPTED, ATTACKS, Forger, Forgery

# An id_token_hint may have expired (OpenID RP-Initiated Logout §2): not an attack there.
HINT_ATTACKS = {name: case for name, case in ATTACKS.items() if case[0] != "expired"}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Token checks touch the database only after the signature: SQLite is enough here."""
    return sqlite_url


@pytest.fixture(scope="module")
def attacker() -> RSAKey:
    return RSAKey.generate_key(2048, auto_kid=True)


@pytest.fixture
def introspector(database: object) -> tuple[str, str]:
    client, secret = make_client(database, can_introspect=True)  # type: ignore[arg-type]
    assert secret is not None
    return client.client_id, secret


def forger(http: TestClient, attacker: RSAKey, token: str, typ: str) -> Forger:
    return Forger(server_key(http), attacker, claims_of(token), typ)


def refusal_reason(http: TestClient, token: str, kind: TokenKind) -> str:
    services = http.app.state.services  # type: ignore[attr-defined]
    with pytest.raises(JwtRejected) as refused:
        verify_jwt(token, services.keyring, services.settings, kind, int(time.time()))
    return str(refused.value)


def userinfo(http: TestClient, token: str) -> Response:
    return http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})


def introspect(http: TestClient, caller: tuple[str, str], token: str) -> Response:
    return http.post("/introspect", data={"token": token}, headers=basic(*caller))


def logout_with_hint(http: TestClient, hint: str) -> Response:
    params = {"id_token_hint": hint, "post_logout_redirect_uri": WEB_APP_LOGOUT_URI}
    return http.get("/logout", params=params, follow_redirects=False)


@pytest.mark.parametrize(("reason", "forge"), ATTACKS.values(), ids=ATTACKS.keys())
def test_a_forged_access_token_is_refused_at_userinfo_and_inactive_at_introspection(
    http: TestClient,
    grant: Grant,
    attacker: RSAKey,
    introspector: tuple[str, str],
    reason: str,
    forge: Forgery,
) -> None:
    token = forge(forger(http, attacker, grant.access_token, "at+jwt"))

    assert reason in refusal_reason(http, token, "access_token")
    refused = userinfo(http, token)
    assert refused.status_code == 401, refused.text
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert refused.json()["error"] == "invalid_token"
    for caller in (introspector, (grant.client_id, grant.secret)):
        inactive = introspect(http, caller, token)
        assert inactive.status_code == 200
        assert inactive.json() == {"active": False}


@pytest.mark.parametrize(("reason", "forge"), HINT_ATTACKS.values(), ids=HINT_ATTACKS.keys())
def test_a_forged_id_token_hint_is_not_believed(
    http: TestClient, grant: Grant, attacker: RSAKey, reason: str, forge: Forgery
) -> None:
    token = forge(forger(http, attacker, grant.id_token, "JWT"))

    assert reason in refusal_reason(http, token, "id_token")
    page = logout_with_hint(http, token)
    # Not believed: the user is asked, and nothing redirects on the hint's word.
    assert page.status_code == 200, page.headers
    assert 'name="decision" value="logout"' in page.text


@pytest.mark.parametrize("forge", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_a_token_at_the_edges_is_accepted_at_every_door(
    http: TestClient,
    grant: Grant,
    attacker: RSAKey,
    introspector: tuple[str, str],
    forge: Forgery,
) -> None:
    # The control: the matrix's base tokens, signed the same way, do pass every check.
    access_token = forge(forger(http, attacker, grant.access_token, "at+jwt"))
    assert userinfo(http, access_token).status_code == 200
    assert introspect(http, introspector, access_token).json()["active"] is True

    hint = forge(forger(http, attacker, grant.id_token, "JWT"))
    response = logout_with_hint(http, hint)
    assert response.status_code == 303
    assert response.headers["location"].startswith(WEB_APP_LOGOUT_URI)
