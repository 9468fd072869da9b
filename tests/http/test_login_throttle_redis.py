"""The sign-in throttle in Redis (AUTHSERVER_REDIS_URL): per account and per address,
shared by every process, and the database throttle again while Redis is down
(SECURITY-CHECKLIST: throttle per account and per IP; issue 10, item 2)."""

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from authserver.app import create_app
from authserver.db import Database
from authserver.login.models import LoginThrottle
from authserver.users.models import User
from tests.conftest import ISSUER, make_settings
from tests.factories import make_user
from tests.flows import csrf_token_of

REDIS_URL = "redis://127.0.0.1:6379/0"
ACCOUNT_PER_MINUTE = 5
ADDRESS_PER_MINUTE = 30


def app_with(database: Database, keys_dir: Path, prefix: str, redis_url: str) -> TestClient:
    settings = make_settings(
        database_url=database.url, keys_dir=keys_dir, redis_url=redis_url, redis_key_prefix=prefix
    )
    return TestClient(create_app(settings), base_url=ISSUER)


@pytest.fixture
def prefix() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def http(database: Database, keys_dir: Path, prefix: str) -> Iterator[TestClient]:
    with app_with(database, keys_dir, prefix, REDIS_URL) as client:
        yield client


@pytest.fixture
def alice(database: Database) -> User:
    return make_user(database)


def attempt(http: TestClient, username: str, password: str) -> int:
    token = csrf_token_of(http.get("/login").text)
    form = {"csrf_token": token, "username": username, "password": password}
    return http.post("/login", data=form, follow_redirects=False).status_code


def throttle_rows(database: Database) -> list[LoginThrottle]:
    with database.transaction() as db:
        return list(db.exec(select(LoginThrottle)).all())


def test_wrong_passwords_are_counted_in_redis_not_in_the_database(
    http: TestClient, database: Database, alice: User
) -> None:
    statuses = [attempt(http, "alice", "guess") for _ in range(ACCOUNT_PER_MINUTE)]
    assert statuses == [200] * ACCOUNT_PER_MINUTE
    assert attempt(http, "alice", "correct horse") == 429  # success is no bypass
    assert throttle_rows(database) == []


def test_a_success_clears_the_account_count(http: TestClient, alice: User) -> None:
    for _ in range(ACCOUNT_PER_MINUTE - 1):
        assert attempt(http, "alice", "guess") == 200
    assert attempt(http, "alice", "correct horse") == 303
    http.cookies.clear()  # signed out, as another browser
    assert [attempt(http, "alice", "guess") for _ in range(ACCOUNT_PER_MINUTE)] == [200] * 5


def test_one_address_guessing_many_accounts_is_throttled(http: TestClient, alice: User) -> None:
    for number in range(ADDRESS_PER_MINUTE):
        assert attempt(http, f"user{number}", "guess") == 200
    assert attempt(http, "alice", "correct horse") == 429


def test_parallel_guesses_through_two_apps_share_one_budget(
    database: Database, keys_dir: Path, prefix: str, alice: User
) -> None:
    first = app_with(database, keys_dir, prefix, REDIS_URL)
    second = app_with(database, keys_dir, prefix, REDIS_URL)
    statuses: list[int] = []
    barrier = threading.Barrier(10)
    tokens: dict[int, str] = {}

    def guess(http: TestClient) -> None:
        token = tokens[id(http)]  # one browser per app: its cookie, its token
        barrier.wait()
        form = {"csrf_token": token, "username": "alice", "password": "guess"}
        statuses.append(http.post("/login", data=form, follow_redirects=False).status_code)

    with first, second:
        for app in (first, second):
            tokens[id(app)] = csrf_token_of(app.get("/login").text)
        apps = [(first, second)[n % 2] for n in range(10)]
        threads = [threading.Thread(target=guess, args=(app,)) for app in apps]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(statuses) == [200] * ACCOUNT_PER_MINUTE + [429] * 5


def test_with_redis_down_the_database_throttles(
    database: Database, keys_dir: Path, prefix: str, alice: User
) -> None:
    with app_with(database, keys_dir, prefix, "redis://127.0.0.1:1/0") as http:
        assert [attempt(http, "alice", "guess") for _ in range(5)] == [200] * 5
        assert attempt(http, "alice", "guess") == 429
        assert http.get("/readyz").json()["details"]["login_throttle"] == "shared (database)"
    assert {row.key for row in throttle_rows(database)} >= {"user:alice"}
