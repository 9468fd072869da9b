"""Revocation (RFC 7009) and introspection (RFC 7662), as Authlib endpoints with our rules.

Departures from Authlib's defaults, each deliberate (CONTRACT.md, SECURITY-CHECKLIST):
- revoking another client's token answers 200 and revokes nothing (Authlib: 400), so
  the answer does not tell whether the token exists;
- an unknown `token_type_hint` is ignored, not `unsupported_token_type`: both token
  types can be revoked here, so RFC 7009 §2.2.1's case never arises;
- introspection is open to a client for its own tokens and to `--introspect` clients
  for every token; anyone else, and any inactive token, gets exactly {"active": false}.
"""

from datetime import UTC, datetime
from typing import Any, ClassVar

from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint

from authserver.audit import record_event
from authserver.clock import utcnow
from authserver.dpop import DPOP_TOKEN_TYPE
from authserver.errors import InvalidRequestError
from authserver.statuslists.revocation import revoke_token_status
from authserver.tokens.lookup import (
    FoundAccessToken,
    FoundRefreshToken,
    FoundToken,
    find_token,
    timestamp,
)
from authserver.tokens.repository import DenyList, FamilyRepository

CONFIDENTIAL = ["client_secret_basic", "client_secret_post"]


def _find(endpoint: Any, request: Any) -> FoundToken | None:
    value = request.form.get("token")
    if not value:
        raise InvalidRequestError("The token parameter is required.")
    prefetched = request.prefetched_token
    if prefetched is not None and prefetched[0] == value:
        return prefetched[1]  # read on the event loop (`tokens.event_loop`)
    server = endpoint.server
    return find_token(request.db, server.keyring, server.settings, value, utcnow())


class RevocationEndpoint(_RevocationEndpoint):
    # RFC 7009 §2.1: a public client identifies itself with its client_id.
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = [*CONFIDENTIAL, "none"]

    def authenticate_token(self, request: Any, client: Any) -> FoundToken | None:
        found = _find(self, request)
        return found if found is not None and found.client_id == client.client_id else None

    def revoke_token(self, token: FoundToken, request: Any) -> None:
        now = utcnow()
        if isinstance(token, FoundRefreshToken):
            # A refresh token ends its whole family, access tokens included.
            FamilyRepository(request.db).revoke(token.family.id, now)
            record_event(
                request.db,
                "token.revoked",
                client_id=token.client_id,
                user_id=token.family.user_id,
                kind="family",
                family_id=token.family.id,
            )
        elif token.claims["exp"] > timestamp(now):
            DenyList(request.db).add(token.claims["jti"], _from_timestamp(token.claims["exp"]))
            revoke_token_status(request.db, self.server.settings.issuer, token.claims, now)
            record_event(
                request.db,
                "token.revoked",
                client_id=token.client_id,
                kind="access_token",
                jti=token.claims["jti"],
                family_id=token.claims.get("fid"),
            )


class IntrospectionEndpoint(_IntrospectionEndpoint):
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = CONFIDENTIAL

    def authenticate_token(self, request: Any, client: Any) -> FoundToken | None:
        found = _find(self, request)
        if found is None or not found.active:
            return None
        allowed = client.can_introspect or found.client_id == client.client_id
        return found if allowed else None

    def create_introspection_payload(self, token: FoundToken | None) -> dict[str, Any]:
        if token is None:
            return {"active": False}
        if isinstance(token, FoundAccessToken):
            claims = token.claims
            payload = {k: claims[k] for k in ("scope", "client_id", "sub", "aud") if k in claims}
            payload.update(iss=claims["iss"], exp=claims["exp"], iat=claims["iat"])
            payload.update(jti=claims["jti"], token_type="Bearer")  # noqa: S106 - RFC 6750
            if "cnf" in claims:
                # RFC 9449 §6.2: the key the token is bound to, and its type DPoP.
                payload.update(cnf=claims["cnf"], token_type=DPOP_TOKEN_TYPE)
            return {"active": True, **payload}
        family = token.family
        payload = {
            "scope": family.scope,
            "client_id": family.client_id,
            "sub": str(family.user_id),
            "iss": self.server.settings.issuer,
            "exp": timestamp(token.expires_at),
            "iat": timestamp(token.token.created_at),
            "token_type": "refresh_token",
        }
        return {"active": True, **payload}


def _from_timestamp(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
