"""Clients and users stored and found on both databases."""

import pytest
from sqlalchemy.exc import IntegrityError

from authserver.clients.repository import ClientRepository
from authserver.db import Database
from authserver.users.models import User
from authserver.users.passwords import PasswordHashing
from authserver.users.registration import UserExistsError, create_user
from authserver.users.repository import UserRepository
from tests.factories import make_client, make_user


def test_a_registered_client_is_found_with_its_lists(database: Database) -> None:
    client, secret = make_client(database, redirect_uris=[], audiences=["https://a.test"])
    with database.transaction() as session:
        found = ClientRepository(session).get(client.client_id)
    assert found is not None
    assert found.audiences == ["https://a.test"]
    assert found.grant_types == ["client_credentials"]
    assert secret is not None and found.check_client_secret(secret)
    assert not found.check_client_secret(secret + "x")


def test_a_public_client_has_no_secret(database: Database) -> None:
    client, secret = make_client(
        database,
        grant_types=["authorization_code"],
        redirect_uris=["http://127.0.0.1/callback"],
        public=True,
    )
    assert secret is None
    assert client.is_public
    assert not client.check_client_secret("")


def test_usernames_are_unique_whatever_their_case(database: Database) -> None:
    make_user(database, "Alice")
    with pytest.raises(UserExistsError):
        make_user(database, "alice")
    with database.transaction() as session:
        found = UserRepository(session).find_by_username("ALICE")
    assert found is not None and found.username == "Alice"


def test_the_unique_index_holds_even_past_the_check(database: Database) -> None:
    make_user(database, "bob")
    with pytest.raises(IntegrityError), database.transaction() as session:
        session.add(User(username="BOB", username_key="bob", password_hash="x"))
        session.flush()


def test_passwords_are_stored_as_argon2id(database: Database) -> None:
    with database.transaction() as session:
        user = create_user(UserRepository(session), "carol", "a long passphrase")
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PasswordHashing().verify("a long passphrase", user.password_hash)
    assert not PasswordHashing().verify("a long passphrasf", user.password_hash)
