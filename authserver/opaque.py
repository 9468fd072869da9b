"""Opaque secrets (codes, refresh tokens, session ids): 256 random bits, stored as SHA-256.

A 256-bit random value cannot be guessed, so a fast unsalted hash is enough to keep a
database leak from handing out usable secrets, and lets the hash be the lookup key.
"""

import hashlib
import secrets

OPAQUE_BYTES = 32


def new_opaque_secret() -> str:
    return secrets.token_urlsafe(OPAQUE_BYTES)


def new_identifier() -> str:
    """A public, unguessable name (a family id, a session's `sid`): 128 random bits."""
    return secrets.token_urlsafe(16)


def opaque_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
