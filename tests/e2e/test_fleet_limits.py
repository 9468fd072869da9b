"""Limits across two server processes sharing PostgreSQL and Redis (issue 10, item 2):
a client's rate limit of N a minute allows about N in total, not 2N; parallel password
guesses spread over both get exactly the account's free attempts; and with Redis gone
(its URL on a closed port) both keep answering, never a 500."""

import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from authserver.db import Database
from tests.conftest import database_for_a_test
from tests.e2e.processes import cli_environment, running_server
from tests.factories import make_client, make_user
from tests.flows import csrf_token_of

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql, pytest.mark.alone]

REDIS_URL = "redis://127.0.0.1:6379/0"
NO_REDIS_URL = "redis://127.0.0.1:1/0"
PER_MINUTE = 10
FREE_ATTEMPTS = 5
GUESSES = 20


@pytest.fixture
def pg_database(postgresql_url: str) -> Iterator[Database]:
    yield from database_for_a_test(postgresql_url)


def two_servers(database: Database, tmp_path: Path, redis_url: str) -> Iterator[list[str]]:
    prefix = uuid.uuid4().hex
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                running_server(
                    cli_environment(
                        database.url,
                        tmp_path / f"host-{name}" / "keys",
                        AUTHSERVER_KEYS_STORE="database",
                        AUTHSERVER_REDIS_URL=redis_url,
                        AUTHSERVER_REDIS_KEY_PREFIX=prefix,
                        AUTHSERVER_CLIENT_RATE_LIMIT=f"{PER_MINUTE}/minute",
                    )
                )
            )
            for name in ("a", "b")
        ]


@pytest.fixture
def with_redis(pg_database: Database, tmp_path: Path) -> Iterator[list[str]]:
    yield from two_servers(pg_database, tmp_path, REDIS_URL)


@pytest.fixture
def without_redis(pg_database: Database, tmp_path: Path) -> Iterator[list[str]]:
    yield from two_servers(pg_database, tmp_path, NO_REDIS_URL)


def tokens(servers: list[str], client: tuple[str, str], rounds: int) -> list[int]:
    form = {"grant_type": "client_credentials"}
    return [
        httpx.post(f"{base_url}/token", data=form, auth=client).status_code
        for _ in range(rounds)
        for base_url in servers
    ]


def parallel_guesses(servers: list[str]) -> list[int]:
    """GUESSES wrong passwords for one account, released together, half through each."""
    browsers = [httpx.Client(base_url=servers[n % 2], timeout=30) for n in range(GUESSES)]
    forms = [
        {"csrf_token": csrf_token_of(b.get("/login").text), "username": "alice", "password": "x"}
        for b in browsers
    ]
    barrier = threading.Barrier(GUESSES)
    statuses: list[int] = []

    def guess(browser: httpx.Client, form: dict[str, str]) -> None:
        barrier.wait()
        statuses.append(browser.post("/login", data=form).status_code)

    threads = [
        threading.Thread(target=guess, args=pair) for pair in zip(browsers, forms, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for browser in browsers:
        browser.close()
    return statuses


def service(database: Database) -> tuple[str, str]:
    client, secret = make_client(database)
    assert secret is not None
    return client.client_id, secret


def test_a_rate_limit_holds_across_two_processes(
    with_redis: list[str], pg_database: Database
) -> None:
    statuses = tokens(with_redis, service(pg_database), PER_MINUTE)
    assert statuses.count(200) == PER_MINUTE, statuses
    assert statuses.count(429) == PER_MINUTE


def test_parallel_guesses_over_two_processes_get_the_free_attempts_once(
    with_redis: list[str], pg_database: Database
) -> None:
    make_user(pg_database)
    statuses = parallel_guesses(with_redis)
    assert sorted(statuses) == [200] * FREE_ATTEMPTS + [429] * (GUESSES - FREE_ATTEMPTS)


def test_with_redis_down_both_processes_keep_answering(
    without_redis: list[str], pg_database: Database
) -> None:
    statuses = tokens(without_redis, service(pg_database), PER_MINUTE + 1)
    # Counted in each process: each allows PER_MINUTE, none answers with an error.
    assert statuses.count(200) == 2 * PER_MINUTE and set(statuses) == {200, 429}
    make_user(pg_database)
    guesses = parallel_guesses(without_redis)
    # The sign-in throttle falls back to the database, shared all the same.
    assert sorted(guesses) == [200] * FREE_ATTEMPTS + [429] * (GUESSES - FREE_ATTEMPTS)
    for base_url in without_redis:
        ready = httpx.get(f"{base_url}/readyz")
        assert ready.status_code == 200
        assert ready.json()["details"]["redis"] == "down"
