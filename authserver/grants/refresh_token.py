"""The refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).

Everything happens in the request's one transaction, under a row lock on the family
(`SELECT ... FOR UPDATE`; SQLite serialises writers anyway), so a refresh and a
revocation of the same family, or two refreshes, never interleave:

- the family and user must be good by the one rule (`tokens.validity`): not revoked,
  not past its absolute expiry, user not disabled; the token not past its idle expiry;
- a family bound to a DPoP key (a public client's, RFC 9449 §5) is refreshed only with a
  proof of that key: anything else is `invalid_grant` and consumes nothing;
- the presented token is consumed by a compare-and-set (`consumed_at IS NULL`): of N
  concurrent requests exactly one wins, and gets a new token of the same family;
- a consumed token presented again is theft: the family is revoked, so the newest
  token stops working too, and the family's access tokens become inactive;
- a FAPI 2.0 client's refresh token is not rotated (FAPI 2.0 §5.3.2.1 item 10): checked
  by the same rules, never consumed, and the response carries no new one (RFC 6749 §6);
- except, with AUTHSERVER_REFRESH_REUSE_GRACE > 0, a retry after a lost response: the
  token is the immediate predecessor of the family's live token, was consumed within
  the grace period, and the request arrived at least a second after its successor was
  minted (a client retries after a timeout; a burst of duplicates arrives at once).
  Then the unreceived successor is consumed and a fresh one minted, once. A duplicate
  of a request still in flight, or a second retry, gets `invalid_grant` and leaves the
  family alone; anything older is theft.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import grants

from authserver.audit import record_event
from authserver.clock import utcnow
from authserver.dpop.server import require_bound_key
from authserver.errors import InvalidGrantError, InvalidScopeError
from authserver.grants.resource import refreshed_audience
from authserver.login.sessions import end_session_by_sid
from authserver.opaque import new_opaque_secret, opaque_hash
from authserver.profiles.fapi2 import rotates_refresh_tokens
from authserver.scopes import parse_scope
from authserver.settings import Settings
from authserver.statuslists.allocation import StatusReference
from authserver.tokens.families import issue_refresh_token
from authserver.tokens.models import RefreshToken, TokenFamily
from authserver.tokens.repository import (
    FamilyRepository,
    FamilyRow,
    RefreshTokenRepository,
    RefreshTokenRow,
    Rotation,
    rotation_parameters,
)
from authserver.tokens.validity import family_is_good

MAX_TOKEN_LENGTH = 100
# How long after its successor a retry must come to count as one (see the docstring).
RETRY_NOT_BEFORE = timedelta(seconds=1)


@dataclass(frozen=True)
class Subject:
    """The user a family was granted to, as far as a refresh needs to know."""

    id: int
    disabled: bool


@dataclass
class PresentedRefreshToken:
    """A stored refresh token with its (locked) family and user; `successor` is the new
    refresh token when it was already rotated, in the statement that found it."""

    token: RefreshToken | RefreshTokenRow
    family: TokenFamily | FamilyRow
    user: Subject
    successor: str | None = None

    def check_client(self, client: Any) -> bool:
        return self.family.client_id == client.client_id

    def get_scope(self) -> str:
        return self.family.scope


def rotates_at_once(request: Any, client: Any, settings: Settings) -> bool:
    """Whether the request is the common case that `ROTATE_IN_ONE_STATEMENT` decides.
    Narrowing the scope or the audience needs the family's grant before anything is
    consumed (a bad request must never cost the client its refresh token); a FAPI 2.0
    client's token is not rotated at all."""
    narrowing = request.payload.scope is not None or bool(request.payload.datalist.get("resource"))
    return not narrowing and rotates_refresh_tokens(client, settings)


def rotation_of(
    settings: Settings,
    token_hash: str,
    client_id: str,
    status: StatusReference,
    dpop_jkt: str | None,
) -> tuple[str, dict[str, Any]]:
    """A new successor secret, and the parameters of `ROTATE_IN_ONE_STATEMENT` that
    rotate the presented token into it now."""
    successor, now = new_opaque_secret(), utcnow()
    idle_ttl = settings.refresh_token_idle_ttl
    parameters = rotation_parameters(
        token_hash,
        opaque_hash(successor),
        client_id,
        now,
        now + idle_ttl if idle_ttl else None,
        status,
        dpop_jkt,
    )
    return successor, parameters


def presented_token(rotation: Rotation, successor: str) -> PresentedRefreshToken:
    """The token the statement found; its successor when it rotated it."""
    user = Subject(rotation.family.user_id, rotation.user_disabled)
    minted = successor if rotation.rotated else None
    return PresentedRefreshToken(rotation.token, rotation.family, user, minted)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> PresentedRefreshToken | None:
        if len(refresh_token) > MAX_TOKEN_LENGTH:
            return None
        token_hash = opaque_hash(refresh_token)
        prefetched: PresentedRefreshToken | None = self.request.prefetched_refresh
        if prefetched is not None and prefetched.token.token_hash == token_hash:
            return prefetched  # rotated on the event loop (`tokens.event_loop`)
        tokens = RefreshTokenRepository(self.request.db)
        if tokens.rotates_in_one_statement and rotates_at_once(
            self.request, self.request.client, self.server.settings
        ):
            return self._rotate_at_once(tokens, token_hash)
        found = tokens.find_with_locked_family(token_hash)
        if found is None:
            return None
        token, family, user = found
        return PresentedRefreshToken(token, family, Subject(family.user_id, user.disabled))

    def _rotate_at_once(
        self, tokens: RefreshTokenRepository, token_hash: str
    ) -> PresentedRefreshToken | None:
        """The common case on PostgreSQL, in one round trip: if every rule holds, the
        token is consumed and its successor minted; else nothing is, and
        `create_token_response` decides as for any other token."""
        dpop = self.request.dpop
        successor, parameters = rotation_of(
            self.server.settings,
            token_hash,
            self.request.client.client_id,
            self.request.status,
            dpop.jkt if dpop is not None else None,
        )
        rotation = tokens.rotate_in_one_statement(parameters)
        if rotation is None:
            return None
        # The rotation recorded the new access token's status index with it.
        self.request.status_recorded = rotation.rotated
        return presented_token(rotation, successor)

    def _validate_token_scope(self, token: PresentedRefreshToken) -> None:
        """The scope and the audience: both checked before the token is consumed, so that
        a bad request never costs the client its refresh token."""
        resources = self.request.payload.datalist.get("resource", [])
        settings = self.server.settings
        # RFC 8707 §2.2: the granted audience back, or a part of it, never more.
        self.audience = refreshed_audience(
            self.request.client, resources, settings.audience, token.family.audience
        )
        requested = self.request.payload.scope
        if requested is None:
            self.scope = token.family.scope
            return
        scopes = parse_scope(requested)
        # RFC 6749 §6: the scope may be narrowed, never widened beyond the original grant.
        if scopes is None or not set(scopes) <= set(token.family.scope.split()):
            raise InvalidScopeError("The requested scope exceeds the original grant.")
        self.scope = " ".join(scopes)

    def authenticate_user(self, refresh_token: PresentedRefreshToken) -> Subject:
        return refresh_token.user

    def create_token_response(self) -> tuple[int, Any, Any]:
        presented: PresentedRefreshToken = self.request.refresh_token
        if presented.successor is None:
            # RFC 9449 §5: a public client's bound family, before anything is consumed (a
            # rotation in one statement checked it already).
            require_bound_key(presented.family.dpop_jkt, self.request.dpop, "refresh token")
            self._consume(presented)
        return super().create_token_response()

    @property
    def _rotates(self) -> bool:
        return rotates_refresh_tokens(self.request.client, self.server.settings)

    def _consume(self, presented: PresentedRefreshToken) -> None:
        token, family = presented.token, presented.family
        now = utcnow()
        expires_at = min(token.expires_at, family.expires_at)
        if not family_is_good(family.revoked_at, presented.user.disabled, now, expires_at):
            if token.consumed_at is not None and family_is_good(
                family.revoked_at, presented.user.disabled, now, family.expires_at
            ):
                # A rotated token is reuse even past its own idle expiry: its family
                # lives on in the successor, which whoever rotated it holds.
                self._reuse_detected(family, now)
            raise InvalidGrantError("The refresh token is expired or revoked.")
        if not self._rotates and token.consumed_at is None:
            return  # FAPI 2.0: the token stays as it is, valid for the next refresh too
        tokens = RefreshTokenRepository(self.request.db)
        if not tokens.consume(token.token_hash, now) and not self._retry_of_lost_response(
            token, now
        ):
            self._reuse_detected(family, now)

    def _reuse_detected(self, family: TokenFamily | FamilyRow, now: datetime) -> None:
        FamilyRepository(self.request.db).revoke(family.id, now)
        record_event(
            self.request.db,
            "refresh.reuse_detected",
            client_id=family.client_id,
            user_id=family.user_id,
            family_id=family.id,
        )
        if family.session_id is not None:
            # A stolen token of this session: the session ends, its clients are told
            # (Back-Channel Logout 1.0) and its other families stop too.
            end_session_by_sid(
                self.request.db, family.session_id, family.user_id, now, "refresh reuse"
            )
        # RFC 9700 §4.14.2: reuse of a rotated refresh token revokes the family.
        raise InvalidGrantError("The refresh token was already used.")

    def generate_token(
        self, user: Subject, scope: str, include_refresh_token: bool = True, **_: Any
    ) -> dict[str, Any]:
        presented: PresentedRefreshToken = self.request.refresh_token
        family = presented.family
        settings = self.server.settings
        body = self.server.user_bearer_token(
            self.request, user.id, family, self.audience, self.scope
        )
        if presented.successor is not None:
            body["refresh_token"] = presented.successor
            return body
        if not self._rotates:
            return body  # RFC 6749 §6: the client keeps the refresh token it sent
        body["refresh_token"] = issue_refresh_token(
            self.request.db,
            family,
            utcnow(),
            settings.refresh_token_idle_ttl,
            parent_hash=presented.token.token_hash,
        )
        return body

    def revoke_old_credential(self, refresh_token: PresentedRefreshToken) -> None:
        """Already consumed by the compare-and-set in `create_token_response`."""

    def _retry_of_lost_response(self, token: RefreshToken | RefreshTokenRow, now: datetime) -> bool:
        """The grace rule (see the module docstring). Raises for a harmless duplicate."""
        grace = self.server.settings.refresh_reuse_grace
        tokens = RefreshTokenRepository(self.request.db)
        consumed = tokens.find(token.token_hash, fresh=True)
        if not grace or consumed is None or consumed.consumed_at is None:
            return False
        children = tokens.children_of(token.token_hash)
        live = [child for child in children if child.consumed_at is None]
        if now - consumed.consumed_at > grace or not live:
            return False  # too late, or the chain moved on: a grandparent is theft
        arrived_after_successor = self.request.arrived_at >= live[0].created_at + RETRY_NOT_BEFORE
        if (
            len(children) == 1
            and arrived_after_successor
            and tokens.consume(live[0].token_hash, now)
        ):
            return True
        raise InvalidGrantError("The refresh token was already used.")
