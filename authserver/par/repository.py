"""Storage of pushed authorization requests (RFC 9126 §2.2), by the SHA-256 of their
reference. Taking one is a conditional DELETE whose row count says which of two
concurrent requests used it (RFC 9126 §4: one-time use). Flushes, never commits."""

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col

from authserver.db import rows_changed
from authserver.par.models import PushedAuthorizationRequest


class PushedRequestRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, pushed: PushedAuthorizationRequest) -> None:
        self.session.add(pushed)
        self.session.flush()

    def take(
        self, reference_hash: str, client_id: str, now: datetime
    ) -> PushedAuthorizationRequest | None:
        """The live request of this client with this reference, deleted as it is returned;
        None if there is none (unknown, expired, another client's, or already taken)."""
        found = self.session.get(PushedAuthorizationRequest, reference_hash)
        if found is None or found.client_id != client_id or found.expires_at <= now:
            return None
        statement = delete(PushedAuthorizationRequest).where(
            col(PushedAuthorizationRequest.reference_hash) == reference_hash
        )
        # A concurrent request that deleted it first wins; this one finds nothing.
        return found if rows_changed(self.session.execute(statement)) == 1 else None
