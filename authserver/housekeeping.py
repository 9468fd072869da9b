"""Deleting what can no longer matter: expired codes, sessions, families, deny-list entries,
status lists no live token names, device authorizations, initial access tokens, passkey
challenges, upstream sign-ins in flight, sign-ins that never got their second factor, and
audit events past their retention (AUTHSERVER_AUDIT_RETENTION).

Each is one DELETE on an indexed expiry column, safe while the server runs: a row is
deleted only once nothing could still accept it. A family outlives its own expiry by
the access-token lifetime (plus leeway), since its last access tokens refer to it; a
consumed code stays a day, so that a late replay is still recognised and refused.
"""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlmodel import Session, col

from authserver.audit.models import AuditEvent
from authserver.backchannel.outbox import purge_outbox
from authserver.db import rows_changed
from authserver.device_flow.repository import DeviceAuthorizationRepository
from authserver.factors.pending import purge_pending
from authserver.login.devices import purge_devices
from authserver.login.models import LoginSession
from authserver.login.throttle import purge_throttle
from authserver.par.models import PushedAuthorizationRequest
from authserver.passkeys.challenges import purge_challenges
from authserver.registration.tokens import purge_initial_access_tokens
from authserver.replay.models import UsedJti
from authserver.statuslists.repository import purge_lists
from authserver.tokens.models import AuthorizationCode, TokenFamily
from authserver.tokens.repository import DenyList
from authserver.upstream.repository import purge_requests

CODE_MEMORY = timedelta(days=1)
SESSION_MEMORY = timedelta(days=1)
DELIVERED_MEMORY = timedelta(days=1)
_LEEWAY = timedelta(seconds=60)


@dataclass(frozen=True)
class Purged:
    authorization_codes: int
    sessions: int
    token_families: int
    revoked_access_tokens: int
    login_throttle: int
    known_devices: int
    audit_events: int
    status_lists: int
    outbox_messages: int
    device_authorizations: int
    initial_access_tokens: int
    webauthn_challenges: int
    upstream_requests: int
    pending_sign_ins: int
    pushed_authorization_requests: int
    used_jtis: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def purge_expired(
    db: Session,
    now: datetime,
    access_token_ttl: timedelta,
    audit_retention: timedelta | None = None,
) -> Purged:
    """Delete what has expired; audit events older than `audit_retention` (None: kept)."""
    codes = delete(AuthorizationCode).where(col(AuthorizationCode.expires_at) < now - CODE_MEMORY)
    # An expired session stays a day unless ended: the outbox's sweep ends it first and
    # tells its clients (back-channel logout), which needs the row.
    sessions = delete(LoginSession).where(
        or_(
            col(LoginSession.expires_at) < now - SESSION_MEMORY,
            col(LoginSession.ended_at) < now - _LEEWAY,
        )
    )
    # Refresh tokens go with their family (ON DELETE CASCADE).
    families = delete(TokenFamily).where(
        col(TokenFamily.expires_at) < now - access_token_ttl - _LEEWAY
    )
    return Purged(
        authorization_codes=rows_changed(db.execute(codes)),
        sessions=rows_changed(db.execute(sessions)),
        token_families=rows_changed(db.execute(families)),
        revoked_access_tokens=DenyList(db).purge(now),
        login_throttle=purge_throttle(db, now),
        known_devices=purge_devices(db, now),
        audit_events=_purge_audit(db, now, audit_retention),
        status_lists=purge_lists(db, now),
        outbox_messages=purge_outbox(
            db, now - DELIVERED_MEMORY, now - (audit_retention or timedelta(days=90))
        ),
        # Kept a day past expiry like codes: a late poll is still told it was used.
        device_authorizations=DeviceAuthorizationRepository(db).purge(now - CODE_MEMORY),
        initial_access_tokens=purge_initial_access_tokens(db, now),
        webauthn_challenges=purge_challenges(db, now),
        upstream_requests=purge_requests(db, now),
        pending_sign_ins=purge_pending(db, now),
        pushed_authorization_requests=_purge_expiring(db, PushedAuthorizationRequest, now),
        used_jtis=_purge_expiring(db, UsedJti, now),
    )


def _purge_expiring(
    db: Session, table: type[PushedAuthorizationRequest | UsedJti], now: datetime
) -> int:
    return rows_changed(db.execute(delete(table).where(col(table.expires_at) <= now)))


def _purge_audit(db: Session, now: datetime, retention: timedelta | None) -> int:
    if retention is None:
        return 0
    return rows_changed(
        db.execute(delete(AuditEvent).where(col(AuditEvent.occurred_at) < now - retention))
    )
