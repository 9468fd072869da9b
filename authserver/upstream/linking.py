"""Which local user an upstream identity is: linked by the provider's `iss` + `sub`.

A first sign-in links the identity to the one local user with the same e-mail address
only where the provider was added with `--link-by-verified-email` and the id_token says
`email_verified: true`; otherwise (and always when no user or several have that address)
it gets a new user. A new user is named after `preferred_username` (made unique) and
has a password nobody knows: the argon2id hash of 256 random bits, never shown.
"""

import secrets

from sqlalchemy import func
from sqlmodel import Session, col, select

from authserver.audit import record_event
from authserver.clock import utcnow
from authserver.db import insert_if_absent
from authserver.opaque import new_opaque_secret
from authserver.upstream.errors import UpstreamError
from authserver.upstream.id_token import UpstreamIdentity
from authserver.upstream.models import UpstreamLink, UpstreamProvider
from authserver.users.models import User
from authserver.users.passwords import PasswordHashing
from authserver.users.registration import create_user
from authserver.users.repository import UserRepository

_MAX_BASE_LENGTH = 140  # of the 150 a username may have: room for "-99"
_DISABLED = "This account is disabled. Ask the administrator of this service."


def linked_user(
    db: Session, provider: UpstreamProvider, identity: UpstreamIdentity, hashing: PasswordHashing
) -> User:
    """The enabled local user `identity` is, linked to it (a new user if need be)."""
    now = utcnow()
    link = db.get(UpstreamLink, (identity.issuer, identity.subject))
    if link is not None:
        link.last_used_at = now
        db.add(link)
        return _enabled(db.get(User, link.user_id))
    user, via = _user_with_verified_email(db, provider, identity), "verified email"
    if user is None:
        user, via = _new_user(db, provider, identity, hashing), "new user"
    user_id = _id(user)
    values = {
        "issuer": identity.issuer,
        "subject": identity.subject,
        "user_id": user_id,
        "provider": provider.name,
        "created_at": now,
        "last_used_at": now,
    }
    insert_if_absent(db, UpstreamLink.__table__, values)  # type: ignore[attr-defined]
    winner = db.exec(
        select(UpstreamLink.user_id).where(
            col(UpstreamLink.issuer) == identity.issuer,
            col(UpstreamLink.subject) == identity.subject,
        )
    ).one()
    if winner != user_id:  # a concurrent first sign-in of the same identity linked first
        if via == "new user":
            db.delete(user)
        return _enabled(db.get(User, winner))
    record_event(
        db,
        "upstream.linked",
        user_id=user_id,
        username=user.username,
        provider=provider.name,
        issuer=identity.issuer,
        subject=identity.subject,
        via=via,
    )
    return _enabled(user)


def _user_with_verified_email(
    db: Session, provider: UpstreamProvider, identity: UpstreamIdentity
) -> User | None:
    if not (provider.link_by_verified_email and identity.email_verified and identity.email):
        return None
    statement = select(User).where(func.lower(User.email) == identity.email.lower()).limit(2)
    found = db.exec(statement).all()
    return found[0] if len(found) == 1 else None


def _new_user(
    db: Session, provider: UpstreamProvider, identity: UpstreamIdentity, hashing: PasswordHashing
) -> User:
    repository = UserRepository(db)
    # Only an address the provider verified, from a provider trusted to link by it: an
    # address stored here could link another provider's sign-in to this user later.
    trusted = provider.link_by_verified_email and identity.email_verified
    email = identity.email if trusted and _looks_like_email(identity.email) else None
    username = _unique_username(repository, _username_base(identity))
    return create_user(repository, username, new_opaque_secret(), email, hashing)


def _username_base(identity: UpstreamIdentity) -> str:
    local_part = identity.email.partition("@")[0] if identity.email else None
    for candidate in (identity.preferred_username, local_part):
        cleaned = "".join(c for c in candidate or "" if c.isprintable() and not c.isspace())
        if cleaned:
            return cleaned[:_MAX_BASE_LENGTH]
    return "user"


def _unique_username(repository: UserRepository, base: str) -> str:
    """`base`, else `base-2`, `base-3` ... (usernames are unique without regard to case)."""
    for candidate in (base, *(f"{base}-{n}" for n in range(2, 100))):
        if repository.find_by_username(candidate) is None:
            return candidate
    return f"{base}-{secrets.token_hex(4)}"


def _looks_like_email(value: str | None) -> bool:
    return value is not None and "@" in value and len(value) <= 320


def _enabled(user: User | None) -> User:
    if user is None or user.disabled:
        raise UpstreamError("the linked user is disabled", _DISABLED, 403)
    return user


def _id(user: User) -> int:
    if user.id is None:
        raise UpstreamError("a user without an id")
    return user.id
