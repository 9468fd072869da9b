"""User storage. Flushes, never commits: the caller owns the transaction."""

from collections.abc import Sequence

from sqlmodel import Session, select

from authserver.users.models import User, username_key


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find_by_username(self, username: str) -> User | None:
        statement = select(User).where(User.username_key == username_key(username))
        return self.session.exec(statement).first()

    def add(self, user: User) -> User:
        self.session.add(user)
        self.session.flush()
        return user

    def list(self) -> Sequence[User]:
        return self.session.exec(select(User).order_by(User.id)).all()
