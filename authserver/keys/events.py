"""Key lifecycle changes in the audit log (`key.rotated`, `key.revoked`, `key.imported`)."""

from sqlmodel import Session

from authserver.audit import record_event
from authserver.keys.rotation import Revocation, Rotation


def record_rotation(db: Session, rotation: Rotation, *, scheduled: bool) -> None:
    record_event(
        db,
        "key.rotated",
        kid=rotation.promoted_kid,
        retired_kid=rotation.retired_kid,
        next_kid=rotation.next_kid,
        removed_kids=rotation.removed_kids or None,
        extra_kids=rotation.extra_kids or None,
        scheduled=scheduled,
    )


def record_revocation(db: Session, revocation: Revocation) -> None:
    record_event(
        db,
        "key.revoked",
        kid=revocation.revoked_kid,
        current_kid=revocation.current_kid,
        next_kid=revocation.next_kid,
    )
