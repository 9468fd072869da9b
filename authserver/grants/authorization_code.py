"""The authorization code grant (RFC 6749 §4.1) with PKCE, families and replay detection.

A code is stored as its SHA-256, lives AUTHSERVER_AUTHORIZATION_CODE_TTL (60 s), and is
consumed by one conditional UPDATE in the transaction that mints its tokens. A second
use fails and revokes the token family the first use started (RFC 6749 §4.1.2). The row
stays, consumed, until `db purge`, so that a late replay is still recognised.
"""

from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import grants

from authserver.audit import record_event
from authserver.clock import utcnow
from authserver.dpop.server import require_bound_key
from authserver.errors import InvalidGrantError
from authserver.factors.policy import acr_of
from authserver.grants.resource import resolve_audience
from authserver.grants.scope import resolve_scope
from authserver.login.repository import SessionRepository
from authserver.opaque import new_opaque_secret, opaque_hash
from authserver.profiles.fapi2 import code_lifetime
from authserver.tokens.models import AuthorizationCode
from authserver.tokens.repository import CodeRepository, FamilyRepository
from authserver.users.models import User


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]

    # --- the authorization endpoint -------------------------------------------------

    def validate_requested_scope(self) -> None:
        self.request.scope = resolve_scope(self.request.client, self.request.payload.scope)

    def generate_authorization_code(self) -> str:
        return new_opaque_secret()

    def save_authorization_code(self, code: str, request: Any) -> None:
        login_session = request.login_session
        data = request.payload.data
        now = utcnow()
        CodeRepository(request.db).add(
            AuthorizationCode(
                code_hash=opaque_hash(code),
                client_id=request.client.client_id,
                user_id=login_session.user_id,
                session_id=login_session.sid,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                nonce=data.get("nonce"),
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                auth_time=login_session.auth_time,
                expires_at=now + code_lifetime(request.client, self.server.settings),
                requested_claims=request.claims_request.stored(),
                amr=login_session.amr,
                acr=acr_of(login_session.amr) if request.acr_requested else None,
                # RFC 9449 §10: the key the token request's DPoP proof must use.
                dpop_jkt=data.get("dpop_jkt"),
            )
        )

    # --- the token endpoint ---------------------------------------------------------

    def query_authorization_code(self, code: str, client: Any) -> AuthorizationCode | None:
        found = CodeRepository(self.request.db).find(opaque_hash(code))
        if found is None or found.client_id != client.client_id:
            return None
        if found.consumed_at is not None:
            self._revoke_replayed(found)
        if found.expires_at <= utcnow():
            return None
        return found

    def create_token_response(self) -> tuple[int, Any, Any]:
        code: AuthorizationCode = self.request.authorization_code
        # RFC 9449 §10: checked before the code is spent, which a wrong key must not do.
        require_bound_key(code.dpop_jkt, self.request.dpop, "authorization code")
        if not CodeRepository(self.request.db).consume(code.code_hash, utcnow()):
            # A concurrent request with the same code got there first.
            self._revoke_replayed(code)
        return super().create_token_response()

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
        """The user, if still enabled and still signed in to the session the code came from
        (a logout within the code's lifetime must not leave a code that starts a family)."""
        db = self.request.db
        user = db.get(User, authorization_code.user_id)
        if user is None or user.disabled:
            return None
        if authorization_code.session_id is not None:
            login_session = SessionRepository(db).find_by_sid(authorization_code.session_id)
            if login_session is None or login_session.ended_at is not None:
                raise InvalidGrantError("The sign-in this code came from has ended.")
        return user

    def generate_token(
        self, user: User, scope: str, include_refresh_token: bool = False, **_: Any
    ) -> dict[str, Any]:
        settings = self.server.settings
        client = self.request.client
        code: AuthorizationCode = self.request.authorization_code
        resources = self.request.payload.datalist.get("resource", [])
        audience = resolve_audience(client, resources, settings.audience)
        family, body = self.server.new_family_tokens(
            self.request,
            user_id=user.id,
            session_id=code.session_id,
            scope=scope,
            auth_time=code.auth_time,
            audience=audience,
            include_refresh_token=include_refresh_token,
            requested_claims=code.requested_claims,
        )
        CodeRepository(self.request.db).record_family(code.code_hash, family.id)
        return body

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Kept, marked consumed, so that a replay is recognised until the code is purged."""

    def _revoke_replayed(self, code: AuthorizationCode) -> None:
        db = self.request.db
        # Re-read: the family id was written by the request that consumed the code.
        current = db.get(AuthorizationCode, code.code_hash, populate_existing=True)
        if current is not None and current.family_id:
            FamilyRepository(db).revoke(current.family_id, utcnow())
        record_event(
            db,
            "code.reuse_detected",
            client_id=code.client_id,
            user_id=code.user_id,
            family_id=current.family_id if current else None,
        )
        # RFC 6749 §4.1.2: a code used twice is refused, and its tokens are revoked.
        raise InvalidGrantError("The authorization code was already used.")
