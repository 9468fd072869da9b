"""Checking a username and password, alike for unknown users and wrong passwords.

An unknown or disabled user still costs one argon2id verification (against a dummy
hash, made with the current parameters), so neither the answer nor its timing tells
whether the account exists. A user whose hash predates a raise of the parameters (it is
upgraded at their next sign-in) costs the dummy verification too: their cheaper hash
alone would answer faster than an unknown user.
"""

from sqlmodel import Session

from authserver.users.models import User
from authserver.users.passwords import MAX_PASSWORD_LENGTH, PasswordHashing
from authserver.users.repository import UserRepository


def find_user_for_sign_in(db: Session, username: str) -> User | None:
    if not username or len(username) > 150:
        return None
    user = UserRepository(db).find_by_username(username)
    return None if user is None or user.disabled else user


def password_matches(hashing: PasswordHashing, user: User | None, password: str) -> bool:
    """Verify `password` for `user`; spend the same work when there is no such user."""
    stored = user.password_hash if user is not None else hashing.dummy_hash
    if not password or len(password) > MAX_PASSWORD_LENGTH:
        hashing.verify("-", stored)  # never truncated: an over-long password cannot match
        return False
    matches = hashing.verify(password, stored) and user is not None
    if user is not None and hashing.needs_rehash(stored):
        hashing.verify(password, hashing.dummy_hash)  # at least an unknown user's work
    return matches
