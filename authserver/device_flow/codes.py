"""Device codes and user codes (RFC 8628 §6.1).

A device code is an opaque 256-bit secret, stored as its SHA-256 (`authserver.opaque`).
A user code is 8 letters from a 20-letter alphabet without vowels (no words, no 0/O or
1/I confusion), shown as `XXXX-XXXX`: 20^8 ≈ 2^34.6 values, which is why entering one
is throttled. Entry is forgiving: case, spaces and dashes do not matter.
"""

import re
import secrets

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
_USER_CODE = re.compile(f"[{USER_CODE_ALPHABET}]{{{USER_CODE_LENGTH}}}")
_IGNORED = re.compile(r"[\s\-]+")
# Longer than anything a person types for an 8-letter code: not worth reading.
_MAX_ENTRY_LENGTH = 32


def new_user_code() -> str:
    """8 letters as stored (without the dash)."""
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def formatted(user_code: str) -> str:
    """How a user code is shown and sent: `WDJB-MJHT`."""
    return f"{user_code[:4]}-{user_code[4:]}"


def normalized(entry: str) -> str | None:
    """The stored form of what a person typed, or None when it cannot be a user code."""
    if len(entry) > _MAX_ENTRY_LENGTH:
        return None
    candidate = _IGNORED.sub("", entry).upper()
    return candidate if _USER_CODE.fullmatch(candidate) else None
