"""Database leases: of several processes asking at once, exactly one gets the job."""

import threading
from datetime import timedelta

import pytest

from authserver.clock import utcnow
from authserver.db import Database
from authserver.leases import acquire_lease

TTL = timedelta(minutes=5)


def test_a_lease_is_held_until_it_expires(database: Database) -> None:
    now = utcnow()
    with database.transaction() as db:
        assert acquire_lease(db, "job", "a", now, TTL)
    with database.transaction() as db:
        assert not acquire_lease(db, "job", "b", now + TTL - timedelta(seconds=1), TTL)
    with database.transaction() as db:
        assert acquire_lease(db, "job", "b", now + TTL, TTL)


@pytest.mark.parametrize("contenders", [8])
def test_of_many_contenders_at_once_exactly_one_takes_the_lease(
    database: Database, contenders: int
) -> None:
    now = utcnow()
    barrier = threading.Barrier(contenders)
    winners: list[str] = []

    def contend(holder: str) -> None:
        barrier.wait()
        with database.transaction() as db:
            if acquire_lease(db, "rotation", holder, now, TTL):
                winners.append(holder)

    threads = [threading.Thread(target=contend, args=(f"p{i}",)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
