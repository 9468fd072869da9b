"""The verified claims of an access token (RFC 9068 §2.2) and scope checks (RFC 9068 §4)."""

from collections.abc import Iterator, Mapping
from typing import Any, Self

from authserver.resource.errors import InsufficientScope


class Claims(Mapping[str, Any]):
    """A read-only mapping of the token's claims, with typed shortcuts for the usual ones.

    From `Verifier` every RFC 9068 §2.2 claim is present; from `Introspector` a claim the
    issuer left out of its answer (RFC 7662 §2.2 makes most optional) reads as "" or 0.
    """

    __slots__ = ("_claims", "scopes")

    def __init__(self, claims: Mapping[str, Any]) -> None:
        self._claims = dict(claims)
        scope = self._claims.get("scope")
        # RFC 9068 §2.2.3, RFC 8693 §4.2: space-separated scope tokens.
        self.scopes: frozenset[str] = frozenset(scope.split() if isinstance(scope, str) else ())

    def __getitem__(self, name: str) -> Any:
        return self._claims[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims)

    def __len__(self) -> int:
        return len(self._claims)

    def __repr__(self) -> str:
        return f"Claims(sub={self.sub!r}, client_id={self.client_id!r}, scope={self.scope!r})"

    @property
    def iss(self) -> str:
        return self._text("iss")

    @property
    def sub(self) -> str:
        """The resource owner; for `client_credentials`, the client itself (RFC 9068 §2.2)."""
        return self._text("sub")

    @property
    def client_id(self) -> str:
        return self._text("client_id")

    @property
    def jti(self) -> str:
        return self._text("jti")

    @property
    def scope(self) -> str:
        return self._text("scope")

    @property
    def aud(self) -> tuple[str, ...]:
        audience = self._claims.get("aud")
        return (audience,) if isinstance(audience, str) else tuple(audience or ())

    @property
    def exp(self) -> int:
        return int(self._claims.get("exp", 0))

    @property
    def iat(self) -> int:
        return int(self._claims.get("iat", 0))

    def has_scopes(self, *scopes: str) -> bool:
        return self.scopes.issuperset(scopes)

    def require_scopes(self, *scopes: str) -> Self:
        """Return these claims if they grant every scope named, else raise InsufficientScope.

        RFC 9068 §4 and RFC 6750 §3.1: a valid token without the scope the request needs
        is answered 403 `insufficient_scope`, naming the scope in the challenge.
        """
        if not self.has_scopes(*scopes):
            raise InsufficientScope(scopes)
        return self

    def _text(self, name: str) -> str:
        value = self._claims.get(name, "")
        return value if isinstance(value, str) else str(value)
