"""Scope syntax (RFC 6749 §3.3): space-separated tokens of %x21 / %x23-5B / %x5D-7E."""

import re

# What a consent page says each scope lets an application do.
SCOPE_DESCRIPTIONS = {
    "openid": "Know who you are when you sign in",
    "profile": "See your username",
    "email": "See your email address",
}
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


def parse_scope(scope: str) -> list[str] | None:
    """The scope tokens in order without repeats, or None when the syntax is wrong."""
    tokens = scope.split(" ")
    if any(not _SCOPE_TOKEN.match(token) for token in tokens if token) or not scope.strip():
        return None
    return list(dict.fromkeys(token for token in tokens if token))
