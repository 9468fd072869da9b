"""A hash made with weaker argon2id parameters is upgraded at the next sign-in."""

from pathlib import Path

from fastapi.testclient import TestClient

from authserver.app import create_app
from authserver.db import Database
from authserver.users.models import User
from tests.conftest import ISSUER, make_settings
from tests.factories import make_user
from tests.flows import sign_in


def test_a_weaker_hash_is_replaced_at_the_next_successful_sign_in(
    database: Database, keys_dir: Path
) -> None:
    user = make_user(database)  # hashed with the minimum parameters
    settings = make_settings(
        database_url=database.url, keys_dir=keys_dir, password_memory_kib=24 * 1024
    )
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        assert sign_in(http, "alice", "wrong password").status_code == 200
        with database.transaction() as session:
            assert session.get(User, user.id).password_hash == user.password_hash  # type: ignore[union-attr]
        assert sign_in(http, "alice", "correct horse").status_code == 303
    with database.transaction() as session:
        upgraded = session.get(User, user.id)
        assert upgraded is not None
    assert upgraded.password_hash.startswith("$argon2id$v=19$m=24576,t=2,p=1$")
