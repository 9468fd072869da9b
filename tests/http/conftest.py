"""Fixtures shared by the HTTP tests."""

import pytest
from fastapi.testclient import TestClient

from authserver.db import Database
from authserver.users.models import User
from tests.factories import make_client, make_user, make_web_app
from tests.flows import Grant, grant_for


@pytest.fixture
def registered(database: Database) -> tuple[str, str]:
    """(client_id, client_secret) of a confidential client_credentials client."""
    client, secret = make_client(database)
    assert secret is not None
    return client.client_id, secret


@pytest.fixture
def user(database: Database) -> User:
    return make_user(database)


@pytest.fixture
def web_app(database: Database, user: User) -> tuple[str, str]:
    """(client_id, client_secret) of a confidential web app, with `user` there to sign in."""
    client, secret = make_web_app(database)
    assert secret is not None
    return client.client_id, secret


@pytest.fixture
def grant(http: TestClient, web_app: tuple[str, str]) -> Grant:
    """What `user` approving `openid profile` in this browser gave the web app."""
    return grant_for(http, *web_app)
