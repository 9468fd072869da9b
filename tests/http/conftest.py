"""Fixtures shared by the HTTP tests."""

import pytest

from authserver.db import Database
from tests.factories import make_client


@pytest.fixture
def registered(database: Database) -> tuple[str, str]:
    """(client_id, client_secret) of a confidential client_credentials client."""
    client, secret = make_client(database)
    assert secret is not None
    return client.client_id, secret
