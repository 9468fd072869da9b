"""Starting a token family and issuing its refresh tokens (RFC 9700 §4.14.2).

A family is one authorization: what one code gave out, and every refresh token rotated
from it. Its absolute expiry is fixed when it starts; rotation never extends it.
"""

from datetime import datetime, timedelta

from sqlmodel import Session

from authserver.opaque import new_identifier, new_opaque_secret, opaque_hash
from authserver.tokens.models import RefreshToken, TokenFamily
from authserver.tokens.repository import FamilyRepository, FamilyRow, RefreshTokenRepository


def start_family(
    db: Session,
    *,
    client_id: str,
    user_id: int,
    session_id: str | None,
    scope: str,
    auth_time: datetime,
    now: datetime,
    ttl: timedelta,
    audience: str | list[str] | None = None,
    requested_claims: dict[str, list[str]] | None = None,
    dpop_jkt: str | None = None,
) -> TokenFamily:
    """`dpop_jkt`: the DPoP key its refresh tokens are bound to (RFC 9449 §5), if any."""
    family = TokenFamily(
        id=new_identifier(),
        client_id=client_id,
        user_id=user_id,
        session_id=session_id,
        scope=scope,
        audience=[audience] if isinstance(audience, str) else audience,
        requested_claims=requested_claims,
        auth_time=auth_time,
        dpop_jkt=dpop_jkt,
        created_at=now,
        expires_at=now + ttl,
    )
    return FamilyRepository(db).add(family)


def issue_refresh_token(
    db: Session,
    family: TokenFamily | FamilyRow,
    now: datetime,
    idle_ttl: timedelta | None,
    parent_hash: str | None = None,
) -> str:
    """A new refresh token of `family`; only its hash is stored. Returns the token."""
    token = new_opaque_secret()
    expires_at = family.expires_at
    if idle_ttl is not None:
        expires_at = min(expires_at, now + idle_ttl)
    RefreshTokenRepository(db).add(
        RefreshToken(
            token_hash=opaque_hash(token),
            family_id=family.id,
            parent_hash=parent_hash,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return token
