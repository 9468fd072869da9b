"""Recovery codes: ten single-use codes of 80 random bits each, shown once, stored as
their SHA-256 (random codes of that strength need no slow hash). Typed with or without
the dashes, in either case. A code is used by one conditional UPDATE."""

import secrets
from datetime import datetime
from typing import Final

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from authserver.factors.models import RecoveryCode
from authserver.opaque import opaque_hash

COUNT: Final = 10
_ALPHABET: Final = "abcdefghijkmnpqrstuvwxyz23456789"  # 32 letters, no 0/o/1/l
_GROUPS, _GROUP_LENGTH = 4, 4
_MAX_TYPED_LENGTH: Final = 40


def new_recovery_codes(db: Session, user_id: int, now: datetime) -> list[str]:
    """Replace the user's codes with ten new ones; the only time they are readable."""
    db.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    codes = [_new_code() for _ in range(COUNT)]
    for code in codes:
        db.add(RecoveryCode(code_hash=_hash(code), user_id=user_id, created_at=now))
    db.flush()
    return codes


def use_recovery_code(db: Session, user_id: int, typed: str, now: datetime) -> bool:
    normalized = _normalized(typed)
    if normalized is None:
        return False
    statement = (
        update(RecoveryCode)
        .where(
            col(RecoveryCode.code_hash) == _hash(normalized),
            col(RecoveryCode.user_id) == user_id,
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=now)
    )
    return db.execute(statement).rowcount == 1  # type: ignore[attr-defined]


def remaining_recovery_codes(db: Session, user_id: int) -> int:
    statement = select(func.count()).where(
        col(RecoveryCode.user_id) == user_id, col(RecoveryCode.used_at).is_(None)
    )
    return int(db.exec(statement).one())


def remove_recovery_codes(db: Session, user_id: int) -> None:
    db.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))


def _new_code() -> str:
    groups = (
        "".join(secrets.choice(_ALPHABET) for _ in range(_GROUP_LENGTH)) for _ in range(_GROUPS)
    )
    return "-".join(groups)


def _normalized(typed: str) -> str | None:
    if len(typed) > _MAX_TYPED_LENGTH:
        return None
    letters = "".join(c for c in typed.lower() if c not in " -")
    if len(letters) != _GROUPS * _GROUP_LENGTH or any(c not in _ALPHABET for c in letters):
        return None
    return "-".join(letters[i : i + _GROUP_LENGTH] for i in range(0, len(letters), _GROUP_LENGTH))


def _hash(code: str) -> str:
    return opaque_hash("recovery:" + code)
