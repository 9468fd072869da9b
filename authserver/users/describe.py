"""What `authserver users show` tells of one user."""

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from authserver.factors.enrolled import second_factors_of
from authserver.login.repository import SessionRepository
from authserver.passkeys.models import Passkey
from authserver.upstream.models import UpstreamLink
from authserver.users.models import User


def describe_user(db: Session, user: User, now: datetime, idle_ttl: timedelta) -> dict[str, Any]:
    assert user.id is not None
    factors = second_factors_of(db, user.id)
    passkeys = db.exec(
        select(Passkey).where(Passkey.user_id == user.id).order_by(col(Passkey.created_at))
    ).all()
    links = db.exec(select(UpstreamLink).where(UpstreamLink.user_id == user.id)).all()
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat(),
        "factors": {
            "totp": factors.totp,
            "recovery_codes": factors.recovery_codes,
            "passkeys": [
                {
                    "name": passkey.name,
                    "created_at": passkey.created_at.isoformat(),
                    "last_used_at": _moment(passkey.last_used_at),
                }
                for passkey in passkeys
            ],
        },
        "sessions": [
            {
                "sid": login_session.sid,
                "amr": login_session.amr,
                "user_agent": login_session.user_agent,
                "address": login_session.address,
                "auth_time": login_session.auth_time.isoformat(),
                "last_seen_at": login_session.last_seen_at.isoformat(),
            }
            for login_session in SessionRepository(db).of_user(user.id, now, idle_ttl)
        ],
        "upstream_links": [
            {"issuer": link.issuer, "subject": link.subject, "provider": link.provider}
            for link in links
        ],
    }


def _moment(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
