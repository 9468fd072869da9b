"""Status-list allocation on the real databases: blocks of entries per process, never one
entry twice (several processes at once on PostgreSQL), rollover as lists fill or age,
per-client blocks revoked with their client, and lists purged once no token names them."""

import threading
from datetime import datetime, timedelta

import pytest

from authserver.clock import utcnow
from authserver.db import Database
from authserver.housekeeping import purge_expired
from authserver.statuslists.allocation import MIN_BLOCK, StatusAllocator, StatusReference
from authserver.statuslists.repository import (
    ListShape,
    invalid_indexes,
    revoke_client_blocks,
    summarize_lists,
)
from tests.factories import make_client

SHAPE = ListShape(size=4096, open_for=timedelta(hours=1), outlived_by=timedelta(minutes=16))


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def test_entries_are_unique_across_processes_and_threads(database: Database) -> None:
    """Two allocators stand for two server processes; four threads take from each."""
    allocators = [StatusAllocator(database, SHAPE), StatusAllocator(database, SHAPE)]
    taken: list[StatusReference] = []
    lock = threading.Lock()

    def take(allocator: StatusAllocator) -> None:
        mine = [allocator.take() for _ in range(250)]
        with lock:
            taken.extend(mine)

    threads = [threading.Thread(target=take, args=(allocator,)) for allocator in allocators * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 2000 and len(set(taken)) == 2000
    assert all(0 <= entry.idx < SHAPE.size for entry in taken)
    # Processes that start at once may each open a list: harmless, each hands out its own.
    summaries = with_summaries(database)
    allocated = sum(summary.allocated for summary in summaries)
    assert 2000 <= allocated <= 2000 + 2 * 512 * len(summaries)  # plus the blocks' unused rest


def test_a_list_rolls_over_when_it_ages(database: Database) -> None:
    clock = Clock()
    allocator = StatusAllocator(database, SHAPE, clock=clock)
    first = allocator.take()
    clock.now += SHAPE.open_for + timedelta(seconds=1)
    second = allocator.take()
    assert second.list_id != first.list_id
    lists = with_summaries(database)
    assert [summary.allocated for summary in lists] == [MIN_BLOCK, 2 * MIN_BLOCK]  # blocks grow


def test_a_full_list_rolls_over(database: Database) -> None:
    small = ListShape(size=16, open_for=timedelta(hours=1), outlived_by=timedelta(minutes=16))
    allocator = StatusAllocator(database, small)
    taken = [allocator.take() for _ in range(33)]
    assert len({entry.list_id for entry in taken}) == 3
    assert len(set(taken)) == 33
    assert [summary.allocated for summary in with_summaries(database)] == [16, 16, 16]


def test_a_clients_blocks_are_its_own_and_revoked_with_it(database: Database) -> None:
    client, _ = make_client(database)
    allocator = StatusAllocator(database, SHAPE)
    own = [allocator.take(client.client_id) for _ in range(5)]
    shared = [allocator.take() for _ in range(5)]
    with database.transaction() as db:
        assert revoke_client_blocks(db, client.client_id, utcnow()) == MIN_BLOCK
    with database.reading() as db:
        revoked = set(invalid_indexes(db, own[0].list_id))
    assert {entry.idx for entry in own} <= revoked
    assert not {entry.idx for entry in shared} & revoked


def test_purge_deletes_lists_no_live_token_can_name(database: Database) -> None:
    clock = Clock()
    allocator = StatusAllocator(database, SHAPE, clock=clock)
    allocator.take()
    with database.transaction() as db:
        assert purge_expired(db, clock.now, timedelta(minutes=15)).status_lists == 0
    later = clock.now + SHAPE.open_for + SHAPE.outlived_by + timedelta(seconds=1)
    with database.transaction() as db:
        assert purge_expired(db, later, timedelta(minutes=15)).status_lists == 1
    assert with_summaries(database) == []


def with_summaries(database: Database) -> list:  # type: ignore[type-arg]
    with database.reading() as db:
        return summarize_lists(db)


@pytest.fixture(autouse=True)
def _no_leftover_lists(database: Database) -> None:
    assert with_summaries(database) == []
