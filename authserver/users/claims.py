"""A user's claims (OIDC Core §5.1) and the scopes that release them (§5.4).

These are the user claims this server knows. A scope value is shorthand for a set of
them (§5.4); the `claims` request parameter asks for them one by one (§5.5). Either
way, the values come from here, for /userinfo and for the id_token alike.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

# OIDC Core §5.4: what each scope value asks for; `openid` alone gives only `sub`.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("preferred_username", "name", "updated_at"),
    "email": ("email", "email_verified"),
}
USER_CLAIMS: tuple[str, ...] = tuple(name for names in SCOPE_CLAIMS.values() for name in names)
SCOPE_OF_CLAIM: dict[str, str] = {
    name: scope for scope, names in SCOPE_CLAIMS.items() for name in names
}


def claims_of_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The user claims the scope values ask for (OIDC Core §5.4)."""
    return frozenset(name for scope in scopes for name in SCOPE_CLAIMS.get(scope, ()))


class ClaimSource(Protocol):
    """What the claims are made of: a `User`, or a row with these columns of `users`."""

    @property
    def username(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def updated_at(self) -> datetime: ...


def user_claims(user: ClaimSource, names: Iterable[str]) -> dict[str, Any]:
    """The values of the claims named, those the user has (OIDC Core §5.3.2: a claim
    without a value is left out, not sent as null); unknown names are ignored."""
    wanted = set(names)
    values: dict[str, Any] = {
        "preferred_username": user.username,
        "name": user.username,
        "updated_at": int(user.updated_at.timestamp()),
    }
    if user.email:
        values["email"] = user.email
        values["email_verified"] = False  # this server never verifies addresses
    return {name: values[name] for name in USER_CLAIMS if name in wanted and name in values}
