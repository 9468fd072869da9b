"""`JwtValidator`: one set of rules, applied in the order RFC 8725 and RFC 9068 §4 give."""

from collections.abc import Callable
from typing import Any

from authserver.jose.claims import JwtRules, check_claims
from authserver.jose.compact import CompactJws, read_token
from authserver.jose.errors import JwtRejected
from authserver.jose.keys import VerificationKey, verify_signature

KeyLookup = Callable[[str], VerificationKey | None]


class JwtValidator:
    """Validates tokens against `rules`, with keys found by `kid` only among the caller's
    published keys (RFC 8725 §3.10: never a key the token names or carries).

    `validate` does it all at once; `read` then `finish` let a caller find the key in
    between (say, fetching a JWKS without blocking an event loop).
    """

    __slots__ = ("rules",)

    def __init__(self, rules: JwtRules) -> None:
        self.rules = rules

    def validate(self, token: object, keys: KeyLookup, now: int) -> dict[str, Any]:
        parsed = self.read(token)
        return self.finish(parsed, keys(parsed.kid), now)

    def read(self, token: object) -> CompactJws:
        """The token decoded, its header checked: nothing else is looked at before."""
        rules = self.rules
        return read_token(token, rules.algorithms, rules.typ, rules.max_bytes)

    def finish(self, token: CompactJws, key: VerificationKey | None, now: int) -> dict[str, Any]:
        """The claims, once the signature verifies with `key` and the claims pass."""
        if key is None:
            raise JwtRejected("the token's kid names no published key")
        return check_claims(verify_signature(token, key), self.rules, now)
