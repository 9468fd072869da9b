"""Creating a user: a valid, unused username and an argon2id password hash."""

from authserver.users.models import User, username_key
from authserver.users.passwords import MAX_PASSWORD_LENGTH, PasswordHashing
from authserver.users.repository import UserRepository


class UserExistsError(ValueError):
    pass


def create_user(
    repository: UserRepository,
    username: str,
    password: str,
    email: str | None = None,
    hashing: PasswordHashing | None = None,
) -> User:
    if not username or len(username) > 150 or not username.isprintable() or " " in username:
        raise ValueError("a username has 1 to 150 printable characters and no spaces")
    if not password or len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"a password has 1 to {MAX_PASSWORD_LENGTH} characters")
    if email is not None and ("@" not in email or len(email) > 320):
        raise ValueError("the email address is malformed")
    if repository.find_by_username(username) is not None:
        raise UserExistsError(f"a user named {username!r} already exists")
    user = User(
        username=username,
        username_key=username_key(username),
        email=email,
        password_hash=(hashing or PasswordHashing()).hash(password),
    )
    return repository.add(user)
