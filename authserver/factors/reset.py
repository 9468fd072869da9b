"""An administrator's reset of a user's second factors (`authserver users mfa-reset`): for
a user who lost their device and their recovery codes."""

from sqlalchemy import delete
from sqlmodel import Session, col

from authserver.db import rows_changed
from authserver.factors.models import PendingSignIn, RecoveryCode, TotpFactor
from authserver.passkeys.models import Passkey


def reset_second_factors(db: Session, user_id: int) -> dict[str, int]:
    """Remove the user's TOTP, recovery codes, passkeys and half-done sign-ins; how many
    of each went. Their sessions live on: ending them is `users revoke-sessions`."""
    removed = {}
    for name, table, column in (
        ("totp", TotpFactor, TotpFactor.user_id),
        ("recovery_codes", RecoveryCode, RecoveryCode.user_id),
        ("passkeys", Passkey, Passkey.user_id),
        ("pending_sign_ins", PendingSignIn, PendingSignIn.user_id),
    ):
        removed[name] = rows_changed(db.execute(delete(table).where(col(column) == user_id)))
    return removed
