"""Storage of device authorizations. Each state change a concurrent request could race
(a decision, a redemption, a poll) is one conditional UPDATE whose row count says who won.
Flushes, never commits."""

from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from authserver.db import rows_changed
from authserver.device_flow.models import APPROVED, CONSUMED, PENDING, DeviceAuthorization


class DeviceAuthorizationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, authorization: DeviceAuthorization) -> None:
        self.session.add(authorization)
        self.session.flush()

    def find(self, device_code_hash: str) -> DeviceAuthorization | None:
        return self.session.get(DeviceAuthorization, device_code_hash, populate_existing=True)

    def find_by_user_code(self, user_code: str) -> DeviceAuthorization | None:
        statement = select(DeviceAuthorization).where(
            col(DeviceAuthorization.user_code) == user_code
        )
        return self.session.exec(statement).first()

    def user_code_taken(self, user_code: str) -> bool:
        return self.find_by_user_code(user_code) is not None

    def decide(
        self,
        device_code_hash: str,
        status: str,
        *,
        user_id: int,
        auth_time: datetime,
        now: datetime,
    ) -> bool:
        """Approve or deny a pending, live authorization; True for the one decision taken."""
        statement = (
            update(DeviceAuthorization)
            .where(
                col(DeviceAuthorization.device_code_hash) == device_code_hash,
                col(DeviceAuthorization.status) == PENDING,
                col(DeviceAuthorization.expires_at) > now,
            )
            .values(status=status, user_id=user_id, auth_time=auth_time, decided_at=now)
        )
        return rows_changed(self.session.execute(statement)) == 1

    def note_poll(self, device_code_hash: str, interval: int, now: datetime) -> None:
        """Remember this poll's moment, and the interval from now on (RFC 8628 §3.5)."""
        statement = (
            update(DeviceAuthorization)
            .where(col(DeviceAuthorization.device_code_hash) == device_code_hash)
            .values(last_polled_at=now, interval=interval)
        )
        self.session.execute(statement)

    def consume(self, device_code_hash: str) -> bool:
        """An approved authorization becomes tokens once; True for the one caller that did."""
        statement = (
            update(DeviceAuthorization)
            .where(
                col(DeviceAuthorization.device_code_hash) == device_code_hash,
                col(DeviceAuthorization.status) == APPROVED,
            )
            .values(status=CONSUMED)
        )
        return rows_changed(self.session.execute(statement)) == 1

    def record_family(self, device_code_hash: str, family_id: str) -> None:
        statement = (
            update(DeviceAuthorization)
            .where(col(DeviceAuthorization.device_code_hash) == device_code_hash)
            .values(family_id=family_id)
        )
        self.session.execute(statement)

    def purge(self, expired_before: datetime) -> int:
        """Authorizations that expired before the moment; a consumed one's family lives
        on without it."""
        statement = delete(DeviceAuthorization).where(
            col(DeviceAuthorization.expires_at) < expired_before
        )
        return rows_changed(self.session.execute(statement))
