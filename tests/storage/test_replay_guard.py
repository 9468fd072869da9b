"""Single-use `jti`s (RFC 7523 §3, RFC 9449 §11.1): accepted once, on every replica, in
the database or in Redis, and again in the database while Redis is down."""

import threading
import time
import uuid

import pytest

from authserver.db import Database
from authserver.replay import ReplayGuard
from authserver.throttling.shared import SharedCounters

REDIS_URL = "redis://127.0.0.1:6379/0"
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


def _guards(database: Database, where: str) -> list[ReplayGuard]:
    """Two guards, as two replicas would hold them."""
    prefix = uuid.uuid4().hex
    url = {"database": None, "redis": REDIS_URL, "redis down": CLOSED_PORT_URL}[where]
    return [ReplayGuard(database, SharedCounters(url, prefix)) for _ in range(2)]


@pytest.mark.parametrize("where", ["database", "redis", "redis down"])
def test_a_jti_is_accepted_once_across_replicas(database: Database, where: str) -> None:
    first, second = _guards(database, where)
    later = int(time.time()) + 60
    assert first.first_use("dpop", "client-a", "jti-1", later)
    assert not second.first_use("dpop", "client-a", "jti-1", later)
    assert not first.first_use("dpop", "client-a", "jti-1", later)
    # Another issuer or another purpose is another value.
    assert second.first_use("dpop", "client-b", "jti-1", later)
    assert second.first_use("client_assertion", "client-a", "jti-1", later)


def test_inside_a_transaction_the_use_is_written_with_it(database: Database) -> None:
    guard = _guards(database, "database")[0]
    later = int(time.time()) + 60
    with database.transaction() as db:
        assert guard.first_use("dpop", "c", "in-tx", later, db)
        assert not guard.first_use("dpop", "c", "in-tx", later, db)
    assert not guard.first_use("dpop", "c", "in-tx", later)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_of_many_replicas_at_once_exactly_one_accepts(database: Database) -> None:
    guards = [ReplayGuard(database, SharedCounters(None)) for _ in range(8)]
    barrier = threading.Barrier(len(guards))
    accepted: list[bool] = []
    later = int(time.time()) + 60

    def present(guard: ReplayGuard) -> None:
        barrier.wait()
        accepted.append(guard.first_use("dpop", "c", "raced", later))

    threads = [threading.Thread(target=present, args=(g,)) for g in guards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(accepted) == [False] * 7 + [True]
