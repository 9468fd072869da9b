"""A refresh keeps the audience its authorization granted (RFC 8707 §2.2).

"When requesting a token, the client can indicate the desired target service(s) ... An
access token issued by the refresh token grant ... may be restricted to a subset of the
resources granted": a refresh without `resource` gets the granted audience back; with
`resource`, any part of it; beyond it, `invalid_target`, and the refresh token is not spent.
Families granted before the audience was remembered (migration 0010) keep the old rule.
"""

from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from authserver.db import Database
from authserver.tokens.models import TokenFamily
from authserver.users.models import User
from tests.conftest import ISSUER
from tests.factories import make_web_app
from tests.flows import Pkce, code_of
from tests.http.tokens import assert_oauth_error, basic

ORDERS = "https://orders.example.test"
INVOICES = "https://invoices.example.test"
REPORTS = "https://reports.example.test"


class App:
    def __init__(self, http: TestClient, database: Database) -> None:
        client, secret = make_web_app(database, audiences=[ORDERS, INVOICES, REPORTS])
        assert secret is not None
        self.http, self.credentials = http, (client.client_id, secret)

    def grant(self, *resources: str) -> dict[str, Any]:
        pkce = Pkce()
        code = code_of(self.http, self.credentials[0], pkce, scope="openid")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://app.example.test/callback",
            "code_verifier": pkce.verifier,
            "resource": list(resources),
        }
        response = self.http.post("/token", data=form, headers=basic(*self.credentials))
        assert response.status_code == 200, response.text
        return response.json()

    def refresh(self, refresh_token: str, *resources: str) -> Any:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "resource": list(resources),
        }
        return self.http.post("/token", data=form, headers=basic(*self.credentials))


def audience(body: dict[str, Any]) -> object:
    return jwt.decode(body["access_token"], options={"verify_signature": False})["aud"]


@pytest.fixture
def app(http: TestClient, database: Database, user: User) -> App:
    return App(http, database)


def test_a_refresh_without_resource_gets_the_granted_audience_back(app: App) -> None:
    granted = app.grant(ORDERS)
    assert audience(granted) == ORDERS
    refreshed = app.refresh(granted["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert audience(refreshed.json()) == ORDERS  # not the default audience (the issuer)
    again = app.refresh(refreshed.json()["refresh_token"])
    assert audience(again.json()) == ORDERS


def test_a_refresh_may_narrow_the_audience_and_the_grant_stays_whole(app: App) -> None:
    granted = app.grant(ORDERS, INVOICES)
    assert audience(granted) == [ORDERS, INVOICES]
    narrowed = app.refresh(granted["refresh_token"], INVOICES)
    assert narrowed.status_code == 200, narrowed.text
    assert audience(narrowed.json()) == INVOICES
    whole = app.refresh(narrowed.json()["refresh_token"])
    assert audience(whole.json()) == [ORDERS, INVOICES]


@pytest.mark.parametrize(
    ("granted", "asked"),
    [((ORDERS,), (REPORTS,)), ((ORDERS,), (ORDERS, REPORTS)), ((), (ORDERS,))],
)
def test_a_refresh_never_widens_the_audience_and_keeps_its_token(
    app: App, granted: tuple[str, ...], asked: tuple[str, ...]
) -> None:
    """REPORTS is one of the client's audiences, but not granted by this authorization."""
    body = app.grant(*granted)
    refused = app.refresh(body["refresh_token"], *asked)
    assert_oauth_error(refused, 400, "invalid_target")
    # A bad request never costs the client its refresh token.
    assert app.refresh(body["refresh_token"]).status_code == 200


def test_without_resource_the_grant_is_the_default_audience(app: App) -> None:
    body = app.grant()
    assert audience(body) == ISSUER
    assert audience(app.refresh(body["refresh_token"]).json()) == ISSUER


def test_a_family_from_before_the_audience_was_remembered_keeps_the_old_rule(
    app: App, database: Database
) -> None:
    body = app.grant(ORDERS)
    with database.transaction() as db:  # as migration 0010 leaves an existing family
        db.execute(update(TokenFamily).values(audience=None))
    refreshed = app.refresh(body["refresh_token"])
    assert audience(refreshed.json()) == ISSUER
    named = app.refresh(refreshed.json()["refresh_token"], REPORTS)
    assert named.status_code == 200 and audience(named.json()) == REPORTS
