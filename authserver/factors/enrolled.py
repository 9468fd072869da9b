"""What second factors a user has: asked for at every sign-in once there is one."""

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from authserver.factors.recovery import remaining_recovery_codes
from authserver.factors.totp import confirmed_totp
from authserver.passkeys.models import Passkey


@dataclass(frozen=True)
class SecondFactors:
    totp: bool
    passkeys: int
    recovery_codes: int

    @property
    def any(self) -> bool:
        """A factor that can be asked for (recovery codes only stand in for one)."""
        return self.totp or self.passkeys > 0


def second_factors_of(db: Session, user_id: int) -> SecondFactors:
    passkeys = db.exec(select(func.count()).where(col(Passkey.user_id) == user_id)).one()
    return SecondFactors(
        totp=confirmed_totp(db, user_id) is not None,
        passkeys=int(passkeys),
        recovery_codes=remaining_recovery_codes(db, user_id),
    )
