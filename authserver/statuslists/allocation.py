"""Handing each access token its index, without a database round trip per token.

Each server process reserves blocks of sequence numbers (`repository.reserve_block`, in
a transaction of its own) and hands them out from memory; the list's permutation turns
each into an index, so indexes follow no issue order. Blocks start small and double
with use up to `MAX_BLOCK`, so a busy process asks the database once per sixteen thousand
tokens and an idle one wastes few entries. A client's client_credentials tokens draw
from blocks of their own (removing the client revokes those blocks); user grants draw
from a shared block, their index recorded with the grant (`record_assignment`).
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from authserver.clock import utcnow
from authserver.db import Database
from authserver.statuslists.repository import ListShape, ReservedBlock, reserve_block

MIN_BLOCK = 16
MAX_BLOCK = 16384


@dataclass(frozen=True, slots=True)
class StatusReference:
    """A token's entry: the list and the index (draft-ietf-oauth-status-list-18 §6.2)."""

    list_id: str
    idx: int

    def claim(self, issuer: str) -> dict[str, object]:
        """The `status` claim of the token."""
        return {"status_list": {"idx": self.idx, "uri": list_uri(issuer, self.list_id)}}


def list_uri(issuer: str, list_id: str) -> str:
    return f"{issuer}/statuslists/{list_id}"


class _Pool:
    """The block one key (a client, or every user grant) currently draws from."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.block: ReservedBlock | None = None
        self.next = 0
        self.size = MIN_BLOCK

    def has_entry(self, now: datetime) -> bool:
        """Whether its block has an entry left and its list still takes tokens."""
        block = self.block
        return (
            block is not None and self.next < block.first + block.count and block.usable_until > now
        )


class StatusAllocator:
    def __init__(
        self, database: Database, shape: ListShape, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._database = database
        self._shape = shape
        self._clock = clock
        self._pools: dict[str | None, _Pool] = {}
        self._pools_lock = threading.Lock()

    def take(self, client_id: str | None = None) -> StatusReference:
        """The next index for a client_credentials token of `client_id`, or (None) for a
        user's grant. May reserve a block: never call it inside a transaction."""
        pool = self._pools.get(client_id) or self._pool(client_id)
        with pool.lock:
            block = pool.block
            if block is None or not pool.has_entry(self._clock()):
                block = self._reserve(pool, client_id)
            sequence = pool.next
            pool.next += 1
        return StatusReference(block.list_id, block.permutation.index(sequence))

    def ready(self, client_id: str | None = None) -> bool:
        """Whether `take` would answer from memory (no block to reserve)."""
        pool = self._pools.get(client_id)
        return pool is not None and pool.has_entry(self._clock())

    def _pool(self, client_id: str | None) -> _Pool:
        with self._pools_lock:
            return self._pools.setdefault(client_id, _Pool())

    def _reserve(self, pool: _Pool, client_id: str | None) -> ReservedBlock:
        wanted = min(pool.size, max(MIN_BLOCK, self._shape.size // 8))
        with self._database.separate_transaction() as db:
            block = reserve_block(db, self._shape, wanted, client_id, self._clock())
        pool.block, pool.next = block, block.first
        pool.size = min(pool.size * 2, MAX_BLOCK)
        return block
