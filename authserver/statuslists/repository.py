"""Storage of status lists: reserving blocks, recording and revoking indexes, reading back.

Revocations are INSERTs that ignore an index already revoked; every function flushes
in the caller's transaction and never commits, except `reserve_block`, which the
allocator runs in a transaction of its own.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, literal, update
from sqlmodel import Session, col, select

from authserver.db import dialect_insert, rows_changed
from authserver.statuslists.models import (
    StatusAssignment,
    StatusBlock,
    StatusList,
    StatusRevocation,
)
from authserver.statuslists.permutation import IndexPermutation
from authserver.tokens.models import TokenFamily


@dataclass(frozen=True)
class ListShape:
    """How new lists are made: entries, how long they take blocks, how long they live."""

    size: int
    open_for: timedelta
    # After `open_for`, the longest a token naming the list can still be alive.
    outlived_by: timedelta


@dataclass(frozen=True)
class ReservedBlock:
    list_id: str
    permutation: IndexPermutation
    first: int
    count: int
    usable_until: datetime


def reserve_block(
    db: Session, shape: ListShape, wanted: int, client_id: str | None, now: datetime
) -> ReservedBlock:
    """Up to `wanted` sequence numbers of the newest open list (a new list when none is
    open or it is full). The list row is locked while its counter moves."""
    chosen = db.exec(
        select(StatusList)
        .where(
            col(StatusList.next_sequence) < col(StatusList.size),
            col(StatusList.open_until) > now,
        )
        .order_by(col(StatusList.created_at).desc())
        .limit(1)
        .with_for_update()
    ).first()
    status_list = chosen if chosen is not None else _new_list(db, shape, now)
    first = status_list.next_sequence
    count = min(wanted, status_list.size - first)
    db.execute(
        update(StatusList)
        .where(col(StatusList.id) == status_list.id)
        .values(next_sequence=first + count)
    )
    db.add(
        StatusBlock(
            list_id=status_list.id, first=first, count=count, client_id=client_id, reserved_at=now
        )
    )
    db.flush()
    return ReservedBlock(
        list_id=status_list.id,
        permutation=permutation_of(status_list),
        first=first,
        count=count,
        usable_until=status_list.open_until,
    )


def _new_list(db: Session, shape: ListShape, now: datetime) -> StatusList:
    status_list = StatusList(
        id=secrets.token_urlsafe(12),
        size=shape.size,
        permutation_key=secrets.token_hex(16),
        next_sequence=0,
        created_at=now,
        open_until=now + shape.open_for,
        expires_at=now + shape.open_for + shape.outlived_by,
    )
    db.add(status_list)
    db.flush()
    return status_list


def permutation_of(status_list: StatusList) -> IndexPermutation:
    return IndexPermutation(bytes.fromhex(status_list.permutation_key), status_list.size)


def record_assignment(db: Session, list_id: str, idx: int, family_id: str) -> None:
    db.connection().execute(
        _ASSIGNMENTS.insert(), {"list_id": list_id, "idx": idx, "family_id": family_id}
    )


def revoke_index(db: Session, list_id: str, idx: int, now: datetime) -> None:
    """Set one token's bit (its own `status` claim named it)."""
    db.execute(
        dialect_insert(db, StatusRevocation)
        .values(list_id=list_id, idx=idx, revoked_at=now)
        .on_conflict_do_nothing()
    )


def revoke_families(db: Session, condition: ColumnElement[bool], now: datetime) -> int:
    """Set the bit of every access token of the families `condition` selects."""
    chosen = (
        select(col(StatusAssignment.list_id), col(StatusAssignment.idx), literal(now))
        .join(TokenFamily, col(TokenFamily.id) == col(StatusAssignment.family_id))
        .where(condition)
    )
    statement = (
        dialect_insert(db, StatusRevocation)
        .from_select(["list_id", "idx", "revoked_at"], chosen)
        .on_conflict_do_nothing()
    )
    return rows_changed(db.execute(statement))


def revoke_client_blocks(db: Session, client_id: str, now: datetime) -> int:
    """Set every bit of the blocks a client's client_credentials tokens were given, in
    the lists a live token may still name (the others are past use, and purged)."""
    rows = db.exec(
        select(StatusBlock, StatusList)
        .join(StatusList, col(StatusList.id) == col(StatusBlock.list_id))
        .where(col(StatusBlock.client_id) == client_id, col(StatusList.expires_at) > now)
    ).all()
    values: list[dict[str, Any]] = []
    for block, status_list in rows:
        permutation = permutation_of(status_list)
        values.extend(
            {"list_id": status_list.id, "idx": permutation.index(sequence), "revoked_at": now}
            for sequence in range(block.first, block.first + block.count)
        )
    if values:
        db.execute(dialect_insert(db, StatusRevocation).on_conflict_do_nothing(), values)
    return len(values)


def invalid_indexes(db: Session, list_id: str) -> list[int]:
    statement = select(col(StatusRevocation.idx)).where(col(StatusRevocation.list_id) == list_id)
    return list(db.exec(statement).all())


def find_list(db: Session, list_id: str, now: datetime) -> StatusList | None:
    status_list = db.get(StatusList, list_id)
    return status_list if status_list is not None and status_list.expires_at > now else None


@dataclass(frozen=True)
class ListSummary:
    id: str
    size: int
    allocated: int
    revoked: int
    created_at: datetime
    open_until: datetime
    expires_at: datetime


def summarize_lists(db: Session) -> list[ListSummary]:
    revoked = (
        select(col(StatusRevocation.list_id), func.count().label("revoked"))
        .group_by(col(StatusRevocation.list_id))
        .subquery()
    )
    rows = db.exec(
        select(StatusList, revoked.c.revoked)
        .outerjoin(revoked, revoked.c.list_id == col(StatusList.id))
        .order_by(col(StatusList.created_at))
    ).all()
    return [
        ListSummary(
            id=status_list.id,
            size=status_list.size,
            allocated=status_list.next_sequence,
            revoked=count or 0,
            created_at=status_list.created_at,
            open_until=status_list.open_until,
            expires_at=status_list.expires_at,
        )
        for status_list, count in rows
    ]


def live_list_ids(db: Session, now: datetime) -> list[str]:
    statement = (
        select(col(StatusList.id))
        .where(col(StatusList.expires_at) > now)
        .order_by(col(StatusList.created_at))
    )
    return list(db.exec(statement).all())


def purge_lists(db: Session, now: datetime) -> int:
    """Lists no live token can name any more; their blocks and rows go with them."""
    return rows_changed(db.execute(delete(StatusList).where(col(StatusList.expires_at) <= now)))


_ASSIGNMENTS = StatusAssignment.__table__  # type: ignore[attr-defined]
