"""Authlib's AuthorizationServer on FastAPI/Starlette: requests in, JSON responses out."""

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

import orjson
from authlib.oauth2 import AuthorizationServer as _AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from sqlmodel import Session
from starlette.responses import Response

from authserver.audit import AuditBuffer, note_event, record_event
from authserver.audit.events import prepare_event
from authserver.clients.assertions import ClientAssertion
from authserver.clients.authentication import authenticate_client, read_credentials
from authserver.clients.cache import ClientCache
from authserver.clients.key_sets import ClientKeySets
from authserver.clients.models import Client, is_client_id
from authserver.clients.private_key_jwt import AssertionVerifier
from authserver.clock import utcnow
from authserver.db import Database, is_storage_outage
from authserver.device_flow.endpoint import DeviceAuthorizationEndpoint
from authserver.device_flow.grant import DeviceCodeGrant
from authserver.dpop import DPOP_TOKEN_TYPE, DPoPProof, confirmation
from authserver.dpop.server import ServerProofs, require_proof
from authserver.errors import (
    InvalidClientError,
    InvalidRequestError,
    OAuth2Error,
    RateLimitedError,
    ServerError,
    TemporarilyUnavailableError,
)
from authserver.grants.authorization_code import AuthorizationCodeGrant
from authserver.grants.client_credentials import ClientCredentialsGrant
from authserver.grants.openid import OpenIDCodeExtension
from authserver.grants.pkce import S256CodeChallenge
from authserver.grants.refresh_token import RefreshTokenGrant
from authserver.grants.token_exchange import TokenExchangeGrant
from authserver.jose import JwtRejected
from authserver.keys.keyring import KeyRing
from authserver.login.models import LoginSession
from authserver.par.endpoint import PushedAuthorizationEndpoint
from authserver.profiles.fapi2 import (
    CLIENT_AUTH_METHOD,
    FAPI2_ALGORITHMS,
    dpop_required,
    held_to_fapi2,
)
from authserver.replay import ReplayGuard
from authserver.settings import Settings
from authserver.statuslists.allocation import StatusAllocator, StatusReference
from authserver.statuslists.repository import record_assignment
from authserver.throttling.clients import ClientRateLimit
from authserver.tokens.access import AccessTokenIssuer
from authserver.tokens.endpoints import IntrospectionEndpoint, RevocationEndpoint
from authserver.tokens.families import issue_refresh_token, start_family
from authserver.tokens.id_token import IdTokenIssuer
from authserver.tokens.lookup import FoundToken
from authserver.tokens.models import TokenFamily
from authserver.tokens.repository import FamilyRow

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class FormPayload(OAuth2Payload):
    """Parameters already checked for repeats; `data` holds the first value of each."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in pairs:
            self._datalist[name].append(value)
        self._data = {name: values[0] for name, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class FormRequest(OAuth2Request):
    """An OAuth request on `uri`, always issuer + path: the transport is checked once, at start-up
    (production mode refuses a non-https issuer), not per request from a Host header."""

    def __init__(
        self, method: str, uri: str, headers: dict[str, str], pairs: Iterable[tuple[str, str]]
    ) -> None:
        # Authlib's __init__ would re-parse `uri` on every request for its transport check.
        self.method = method
        self.uri = uri
        self.headers = headers
        self._body = None
        self.payload = FormPayload(pairs)
        self.client = None
        self.auth_method = None
        self.user = None
        self.authorization_code = None
        self.refresh_token = None
        self.credential = None
        self._scope = None
        # Set by us: the request's transaction, and the browser's sign-in session.
        self.db: Session | None = None
        self.login_session: LoginSession | None = None
        # /authorize: whether `acr_values` was sent (the id_token then states `acr`).
        self.acr_requested = False
        # A user grant's status-list entry, taken before its transaction begins.
        self.status: StatusReference | None = None
        self.status_recorded = False
        self.arrived_at = utcnow()
        # Set on the event loop (`tokens.event_loop`) for the rest of the request: the
        # client it authenticated (never twice: once rate-limited), the introspected
        # token's value and what was found for it, the refresh token it rotated, and the
        # audit rows its transaction inserts when it commits.
        self.authenticated_client: Client | None = None
        self.prefetched_token: tuple[str, FoundToken | None] | None = None
        self.prefetched_refresh: Any = None
        self.deferred_audit: list[dict[str, Any]] | None = None
        # The token request's DPoP proof (RFC 9449 §5), once checked; None without one.
        self.dpop: DPoPProof | None = None

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data


# Grants whose tokens are self-contained: once the client is cached they need no storage.
SELF_CONTAINED_GRANTS = frozenset({"client_credentials"})
# Grants that issue tokens of a user's family (token exchange: when its subject token
# is of one): each token's status index is taken before the grant's transaction, and
# recorded in it.
USER_GRANTS = frozenset(
    {
        "authorization_code",
        "refresh_token",
        DeviceCodeGrant.GRANT_TYPE,
        TokenExchangeGrant.GRANT_TYPE,
    }
)


class AuthorizationServer(_AuthorizationServer):
    def __init__(
        self,
        settings: Settings,
        database: Database,
        clients: ClientCache,
        access_tokens: AccessTokenIssuer,
        id_tokens: IdTokenIssuer,
        keyring: KeyRing,
        rate_limit: ClientRateLimit,
        statuses: StatusAllocator,
        replay: ReplayGuard,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.database = database
        self.keyring = keyring
        self._clients = clients
        self._access_tokens = access_tokens
        self.id_tokens = id_tokens
        self._rate_limit = rate_limit
        self.statuses = statuses
        self.audit = AuditBuffer(database, settings.audit_flush_interval)
        # RFC 7523: client assertions, their `jti`s single-use across replicas.
        self.assertions = AssertionVerifier(
            settings.issuer,
            int(settings.jwt_leeway.total_seconds()),
            replay,
            ClientKeySets(settings.outbound_private_allowed),
        )
        # RFC 9449: DPoP proofs at the token endpoint and /userinfo, their `jti`s too.
        self.dpop = ServerProofs(settings, replay)
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(), OpenIDCodeExtension()])
        self.register_grant(RefreshTokenGrant)
        self.register_grant(DeviceCodeGrant)
        self.register_grant(TokenExchangeGrant)
        self.register_endpoint(RevocationEndpoint)
        self.register_endpoint(IntrospectionEndpoint)
        self.register_endpoint(DeviceAuthorizationEndpoint)
        self.register_endpoint(PushedAuthorizationEndpoint)

    def query_client(self, client_id: str) -> Client | None:
        if not is_client_id(client_id):
            return None
        return self._clients.find(client_id)

    def knows_client_of(self, request: OAuth2Request) -> bool:
        """Whether a token request's client is answered from memory, with its status-list
        block ready: no database read or write, so the request may run in the event loop."""
        held, client_id = self._client_held(request)
        # The client's status-list block, too: reserving one is a database write.
        return held and (client_id is None or self.statuses.ready(client_id))

    def holds_client_of(self, request: OAuth2Request) -> bool:
        """Whether authenticating the request's client reads nothing from the database."""
        return self._client_held(request)[0]

    def _client_held(self, request: OAuth2Request) -> tuple[bool, str | None]:
        """`holds_client_of`, and the cached client's id (None when there is no client to
        read: a request whose credentials cannot be read needs none)."""
        try:
            credentials = read_credentials(request)
        except OAuth2Error:
            return True, None
        if credentials.assertion is not None:
            # RFC 7523 §3: its `jti` is written down, and a `jwks_uri` may be fetched.
            return False, None
        client_id = credentials.client_id
        if not is_client_id(client_id):
            return True, None
        return self._clients.knows(client_id), client_id

    def authenticate_client(
        self, request: OAuth2Request, methods: Collection[str], endpoint: str = "token"
    ) -> Client:
        if isinstance(request, FormRequest) and request.authenticated_client is not None:
            return request.authenticated_client  # on the event loop, with these methods
        client = authenticate_client(
            request, methods, self.query_client, endpoint, self._check_assertion
        )
        if held_to_fapi2(client, self.settings) and request.auth_method != CLIENT_AUTH_METHOD:
            # FAPI 2.0 §5.3.2.1 item 6: private_key_jwt; a secret, or none, is refused.
            raise InvalidClientError(
                status_code=401,
                description="This client must authenticate with private_key_jwt (FAPI 2.0).",
            )
        wait = self._rate_limit.retry_after(client.client_id, endpoint)
        if wait is not None:
            note_event("rate_limit.exceeded", client_id=client.client_id, endpoint=endpoint)
            raise RateLimitedError(retry_after=wait)
        return client

    def _check_assertion(
        self, assertion: ClientAssertion, client: Client, request: OAuth2Request
    ) -> None:
        # FAPI 2.0 §5.4.1: a FAPI 2.0 client's assertions are PS256, ES256 or EdDSA,
        # refused before anything else is checked or its jti is spent.
        if held_to_fapi2(client, self.settings) and assertion.alg not in FAPI2_ALGORITHMS:
            raise JwtRejected(f"a FAPI 2.0 client signs with {', '.join(FAPI2_ALGORITHMS)}")
        self.assertions.verify(assertion, client, request)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """client_credentials access tokens are self-contained JWTs: nothing to store."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Authlib's grants signal the token request's client once it is authenticated."""
        if name == "after_authenticate_client":
            # RFC 9449 §5.2: before the grant reads or spends anything.
            client = kwargs["client"]
            required = dpop_required(client, self.settings)
            require_proof(required, kwargs["grant"].request.dpop)

    def user_bearer_token(
        self,
        request: "FormRequest",
        user_id: int,
        family: TokenFamily | FamilyRow,
        audience: str | list[str],
        scope: str | None = None,
    ) -> dict[str, Any]:
        """The token response for a user's grant; its access token names the family."""
        extra: dict[str, object] = {
            "auth_time": int(family.auth_time.timestamp()),
            "fid": family.id,
        }
        if family.session_id:
            extra["sid"] = family.session_id
        return self.bearer_token(
            request,
            client_id=request.client.client_id,
            subject=str(user_id),
            audience=audience,
            scope=family.scope if scope is None else scope,
            extra=extra,
            user_id=user_id,
        )

    def new_family_tokens(
        self,
        request: "FormRequest",
        *,
        user_id: int,
        session_id: str | None,
        scope: str,
        auth_time: datetime,
        audience: str | list[str],
        include_refresh_token: bool,
        requested_claims: dict[str, list[str]] | None = None,
    ) -> tuple[TokenFamily, dict[str, Any]]:
        """A user's new grant (a code, a device's approval): its token family, started in
        the request's transaction, and the token response that opens it."""
        assert request.db is not None and request.client is not None
        settings = self.settings
        now = utcnow()
        family = start_family(
            request.db,
            client_id=request.client.client_id,
            user_id=user_id,
            session_id=session_id,
            scope=scope,
            auth_time=auth_time,
            now=now,
            ttl=settings.refresh_token_ttl,
            audience=audience,
            requested_claims=requested_claims,
            dpop_jkt=refresh_binding(request),
        )
        body = self.user_bearer_token(request, user_id, family, audience)
        if include_refresh_token:
            body["refresh_token"] = issue_refresh_token(
                request.db, family, now, settings.refresh_token_idle_ttl
            )
        return family, body

    def bearer_token(
        self,
        request: "FormRequest",
        *,
        client_id: str,
        subject: str,
        audience: str | list[str],
        scope: str,
        extra: dict[str, object] | None = None,
        user_id: int | None = None,
        not_after: int | None = None,
    ) -> dict[str, Any]:
        """The RFC 6749 §5.1 token response body for a new access token, audited by its
        `jti` (in the request's transaction, or batched for a grant without one);
        `not_after` caps its `exp`. With a DPoP proof the token is bound to its key."""
        if request.dpop is not None:
            # RFC 9449 §5, §6.1: bound to the proof's key by its thumbprint.
            extra = {**(extra or {}), "cnf": confirmation(request.dpop.jkt)}
        status = request.status if request.status is not None else self.statuses.take(client_id)
        issued = self._access_tokens.issue(
            client_id=client_id,
            subject=subject,
            audience=audience,
            scope=scope,
            extra=extra,
            status=status,
            not_after=not_after,
        )
        event = {
            "client_id": client_id,
            "grant_type": request.payload.grant_type,
            "jti": issued.jti,
            "family_id": extra.get("fid") if extra else None,
            "user_id": user_id,
        }
        if request.deferred_audit is not None:
            # Inserted by the event loop's transaction as it commits (`tokens.event_loop`).
            request.deferred_audit.append(prepare_event("token.issued", **event))
        elif request.db is None:
            self.audit.record("token.issued", **event)
        else:
            if extra and "fid" in extra and not request.status_recorded:
                record_assignment(request.db, status.list_id, status.idx, str(extra["fid"]))
            record_event(request.db, "token.issued", **event)
        body: dict[str, Any] = {
            "access_token": issued.token,
            # RFC 9449 §5: DPoP tells the client the token is bound to its key.
            "token_type": "Bearer" if request.dpop is None else DPOP_TOKEN_TYPE,
            "expires_in": issued.expires_in,
        }
        if scope:
            body["scope"] = scope
        return body

    def create_oauth2_request(self, request: FormRequest) -> FormRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        return json_response(status, body, headers)

    def token_response(self, request: FormRequest) -> Response:
        """The token endpoint (RFC 6749 §3.2); an unexpected failure is a fixed 500.

        Grants with storage run in one transaction, committed before the response is
        sent. An OAuth error commits too (a detected replay must stay revoked); an
        unexpected exception rolls everything back.
        """
        try:
            if not request.payload.grant_type:
                raise InvalidRequestError("The grant_type parameter is required.")
            if request.payload.grant_type in SELF_CONTAINED_GRANTS:
                request.dpop = self.dpop.check(request.headers, request.method, request.uri)
                return self.create_token_response(request)
            if request.payload.grant_type in USER_GRANTS and request.status is None:
                # Taken now: a block reservation is a transaction of its own, which on
                # SQLite must not start inside the grant's. (Taken already by a refresh
                # the event loop handed over: `tokens.event_loop`.)
                request.status = self.statuses.take()
            with self.database.transaction() as db:
                request.db = db
                request.dpop = self.dpop.check(request.headers, request.method, request.uri, db=db)
                return self.create_token_response(request)
        except OAuth2Error as error:
            return error_response(error)
        except Exception as error:  # noqa: BLE001 - turned into a fixed 500 or 503
            return unexpected_error_response("token", error)

    def endpoint_response(self, name: str, request: FormRequest) -> Response:
        """/revoke in one transaction like `token_response`; /introspect, which only
        reads (one indexed statement), outside any (`Database.reading`)."""
        storage = self.database.reading if name == "introspection" else self.database.transaction
        try:
            with storage() as db:
                request.db = db
                return self.create_endpoint_response(name, request)
        except OAuth2Error as error:
            return error_response(error)
        except Exception as error:  # noqa: BLE001 - turned into a fixed 500 or 503
            return unexpected_error_response(name, error)


def refresh_binding(request: FormRequest) -> str | None:
    """RFC 9449 §5: the key a new family's refresh tokens are bound to: a public client's
    proof's (a confidential client's are bound to its authentication instead)."""
    if request.dpop is None or request.auth_method != "none":
        return None
    return request.dpop.jkt


def unexpected_error_response(endpoint: str, error: Exception) -> Response:
    """503 when the database is unreachable (retry soon), else a fixed 500; never details."""
    if is_storage_outage(error):
        log.error("%s endpoint: database unavailable: %s", endpoint, type(error).__name__)
        response = error_response(TemporarilyUnavailableError())
        response.headers["Retry-After"] = "1"
        return response
    log.error("%s endpoint failed", endpoint, exc_info=error)
    return error_response(ServerError())


def json_response(status: int, body: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    content = orjson.dumps(body)
    merged = {**dict(headers), **NO_STORE}
    merged.pop("Content-Type", None)
    return Response(content, status, headers=merged, media_type="application/json")


def error_response(error: OAuth2Error) -> Response:
    """RFC 6749 §5.2: the error JSON, with the headers the error carries."""
    status, body, headers = error()
    return json_response(status, body, headers)
