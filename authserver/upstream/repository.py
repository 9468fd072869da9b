"""Upstream providers and sign-ins in flight. Flushes, never commits: the caller owns
the transaction."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from authserver.db import rows_changed
from authserver.opaque import opaque_hash
from authserver.upstream.models import UpstreamProvider, UpstreamRequest

_MAX_STATE_LENGTH = 100


class ProviderRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, name: str) -> UpstreamProvider | None:
        return self.session.get(UpstreamProvider, name)

    def add(self, provider: UpstreamProvider) -> UpstreamProvider:
        self.session.add(provider)
        self.session.flush()
        return provider

    def delete(self, name: str) -> bool:
        statement = delete(UpstreamProvider).where(col(UpstreamProvider.name) == name)
        return rows_changed(self.session.execute(statement)) == 1

    def list(self) -> Sequence[UpstreamProvider]:
        return self.session.exec(select(UpstreamProvider).order_by(UpstreamProvider.name)).all()


def find_request(db: Session, state: str, now: datetime) -> UpstreamRequest | None:
    """The unexpired sign-in that sent `state` upstream (only its SHA-256 is stored)."""
    if not state or len(state) > _MAX_STATE_LENGTH:
        return None
    request = db.get(UpstreamRequest, opaque_hash(state))
    return request if request is not None and request.expires_at > now else None


def take_request(db: Session, request: UpstreamRequest) -> bool:
    """True for the one caller that took it: a `state` is answered once, however many
    callbacks race with it (the conditional DELETE decides)."""
    statement = delete(UpstreamRequest).where(col(UpstreamRequest.state_hash) == request.state_hash)
    return rows_changed(db.execute(statement)) == 1


def purge_requests(db: Session, now: datetime) -> int:
    statement = delete(UpstreamRequest).where(col(UpstreamRequest.expires_at) <= now)
    return rows_changed(db.execute(statement))
