"""Password hashing with argon2id (RFC 9106; OWASP: at least 19 MiB, t=2, p=1).

The parameters come from settings (AUTHSERVER_PASSWORD_*); a stored hash made with
weaker ones is upgraded at the user's next successful sign-in.
"""

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

MAX_PASSWORD_LENGTH = 1024
MIN_MEMORY_KIB = 19 * 1024
MIN_TIME_COST = 2


class PasswordHashing:
    def __init__(
        self,
        memory_kib: int = MIN_MEMORY_KIB,
        time_cost: int = MIN_TIME_COST,
        parallelism: int = 1,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # For unknown users: the same work as a real verification, against no account.
        self.dummy_hash = self._hasher.hash("a password no account has")

    def hash(self, password: str) -> str:
        if not password or len(password) > MAX_PASSWORD_LENGTH:
            raise ValueError(f"a password has 1 to {MAX_PASSWORD_LENGTH} characters")
        return self._hasher.hash(password)

    def verify(self, password: str, password_hash: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the stored hash is weaker than the current parameters (never when it
        is stronger: lowering the settings does not weaken existing hashes)."""
        try:
            stored = extract_parameters(password_hash)
        except InvalidHashError:
            return True
        current = self._hasher
        return stored.type is not Type.ID or (
            stored.memory_cost < current.memory_cost or stored.time_cost < current.time_cost
        )
