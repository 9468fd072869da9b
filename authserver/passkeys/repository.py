"""Storage of passkeys. A use of one is a conditional UPDATE on the counter it was read
with, so that two assertions racing with the same counter cannot both count. Flushes,
never commits."""

from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from authserver.db import rows_changed
from authserver.passkeys.models import Passkey


class PasskeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, passkey: Passkey) -> None:
        self.session.add(passkey)
        self.session.flush()

    def find(self, credential_id: str) -> Passkey | None:
        return self.session.get(Passkey, credential_id, populate_existing=True)

    def of_user(self, user_id: int) -> list[Passkey]:
        """Oldest first, as the account page lists them."""
        statement = (
            select(Passkey)
            .where(col(Passkey.user_id) == user_id)
            .order_by(col(Passkey.created_at), col(Passkey.credential_id))
        )
        return list(self.session.exec(statement).all())

    def remove(self, user_id: int, credential_id: str) -> Passkey | None:
        """The user's passkey, deleted; None if the user has no passkey of that id."""
        passkey = self.find(credential_id)
        if passkey is None or passkey.user_id != user_id:
            return None
        statement = delete(Passkey).where(
            col(Passkey.credential_id) == credential_id, col(Passkey.user_id) == user_id
        )
        return passkey if rows_changed(self.session.execute(statement)) == 1 else None

    def record_use(self, passkey: Passkey, sign_count: int, backed_up: bool, now: datetime) -> bool:
        """Store the counter of an assertion, if the stored one is still the one `passkey`
        was read with; True for the one use that counted."""
        statement = (
            update(Passkey)
            .where(
                col(Passkey.credential_id) == passkey.credential_id,
                col(Passkey.sign_count) == passkey.sign_count,
            )
            .values(sign_count=sign_count, backed_up=backed_up, last_used_at=now)
        )
        return rows_changed(self.session.execute(statement)) == 1
