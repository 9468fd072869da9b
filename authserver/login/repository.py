"""Storage of sign-in sessions and consents. Flushes, never commits."""

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from authserver.db import insert_if_absent
from authserver.login.models import Consent, LoginSession


class SessionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, login_session: LoginSession) -> LoginSession:
        self.session.add(login_session)
        self.session.flush()
        return login_session

    def find_by_secret_hash(self, secret_hash: str) -> LoginSession | None:
        return self.session.get(LoginSession, secret_hash)

    def find_by_sid(self, sid: str) -> LoginSession | None:
        return self.session.exec(select(LoginSession).where(LoginSession.sid == sid)).first()

    def touch(self, secret_hash: str, now: datetime) -> None:
        statement = (
            update(LoginSession)
            .where(col(LoginSession.secret_hash) == secret_hash)
            .values(last_seen_at=now)
        )
        self.session.execute(statement)

    def renew(
        self,
        secret_hash: str,
        new_secret_hash: str,
        now: datetime,
        ttl: timedelta,
        *,
        amr: str,
        user_agent: str | None,
        address: str | None,
    ) -> None:
        statement = (
            update(LoginSession)
            .where(
                col(LoginSession.secret_hash) == secret_hash, col(LoginSession.ended_at).is_(None)
            )
            .values(
                secret_hash=new_secret_hash,
                auth_time=now,
                amr=amr,
                user_agent=user_agent,
                address=address,
                last_seen_at=now,
                expires_at=now + ttl,
            )
        )
        self.session.execute(statement)

    def of_user(self, user_id: int, now: datetime, idle_ttl: timedelta) -> list[LoginSession]:
        """The user's live sessions, the most recently seen first."""
        statement = (
            select(LoginSession)
            .where(
                LoginSession.user_id == user_id,
                col(LoginSession.ended_at).is_(None),
                col(LoginSession.expires_at) > now,
                col(LoginSession.last_seen_at) > now - idle_ttl,
            )
            .order_by(col(LoginSession.last_seen_at).desc())
        )
        return list(self.session.exec(statement).all())

    def end(self, sid: str, now: datetime) -> bool:
        """True for the one caller that ended it (it was still open)."""
        statement = (
            update(LoginSession)
            .where(col(LoginSession.sid) == sid, col(LoginSession.ended_at).is_(None))
            .values(ended_at=now)
        )
        return self.session.execute(statement).rowcount == 1  # type: ignore[attr-defined]

    def expired_unended(self, now: datetime, idle_ttl: timedelta) -> list[tuple[str, int]]:
        """(sid, user_id) of sessions past their absolute or idle expiry, not yet ended."""
        statement = select(LoginSession.sid, LoginSession.user_id).where(
            col(LoginSession.ended_at).is_(None),
            or_(
                col(LoginSession.expires_at) <= now,
                col(LoginSession.last_seen_at) <= now - idle_ttl,
            ),
        )
        return [(sid, user_id) for sid, user_id in self.session.exec(statement).all()]

    def end_all_of_user(self, user_id: int, now: datetime) -> list[str]:
        """End every open session of a user; returns their `sid`s."""
        statement = select(LoginSession.sid).where(
            LoginSession.user_id == user_id, col(LoginSession.ended_at).is_(None)
        )
        sids = list(self.session.exec(statement).all())
        for sid in sids:
            self.end(sid, now)
        return sids


class ConsentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def granted_scopes(self, user_id: int, client_id: str) -> frozenset[str]:
        consent = self.session.get(Consent, (user_id, client_id))
        return frozenset(consent.scope.split()) if consent else frozenset()

    def of_user(self, user_id: int) -> list[Consent]:
        statement = (
            select(Consent).where(Consent.user_id == user_id).order_by(col(Consent.client_id))
        )
        return list(self.session.exec(statement).all())

    def revoke(self, user_id: int, client_id: str) -> bool:
        statement = delete(Consent).where(
            col(Consent.user_id) == user_id, col(Consent.client_id) == client_id
        )
        return self.session.execute(statement).rowcount == 1  # type: ignore[attr-defined]

    def grant(self, user_id: int, client_id: str, scopes: frozenset[str], now: datetime) -> None:
        """Remember `scopes` in addition to what was approved before."""
        row = {"user_id": user_id, "client_id": client_id, "scope": "", "updated_at": now}
        insert_if_absent(self.session, Consent, row)
        statement = select(Consent).where(
            Consent.user_id == user_id, Consent.client_id == client_id
        )
        consent = self.session.exec(statement.with_for_update()).one()
        consent.scope = " ".join(sorted(scopes | frozenset(consent.scope.split())))
        consent.updated_at = now
        self.session.add(consent)
        self.session.flush()
