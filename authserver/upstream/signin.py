"""Signing in with an upstream OpenID provider: the authorization code flow with PKCE
(S256), `state` and `nonce` (OIDC Core §3.1), through Authlib's client.

`begin` stores the sign-in in flight (the `state`'s SHA-256, the `nonce`, the PKCE
verifier, the browser it belongs to, where to return) for REQUEST_TTL and gives the
provider's authorization URL. `finish` takes that sign-in back exactly once, from the
browser that began it, then exchanges the code and validates the id_token; linking the
identity to a local user and starting the session follow (`sign_in_linked`), in the
caller's transaction.
"""

import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from sqlmodel import Session

from authserver.audit import record_event
from authserver.clock import utcnow
from authserver.db import Database
from authserver.factors.enrolled import second_factors_of
from authserver.factors.pending import start_pending
from authserver.login.models import LoginSession
from authserver.login.sessions import SignedIn, establish_session
from authserver.login.signin import SignInResult
from authserver.opaque import new_opaque_secret, opaque_hash
from authserver.sealing import Sealer, SealError
from authserver.settings import Settings
from authserver.upstream.errors import UnknownKeyError, UpstreamError
from authserver.upstream.id_token import UpstreamIdentity, verify_id_token
from authserver.upstream.linking import linked_user
from authserver.upstream.metadata import MetadataCache, ProviderMetadata
from authserver.upstream.models import UpstreamProvider, UpstreamRequest
from authserver.upstream.outbound import HTTPError, client_options
from authserver.upstream.repository import ProviderRepository, find_request, take_request

REQUEST_TTL = timedelta(minutes=10)
FEDERATED = "fed"  # RFC 8176 §2: the `amr` of a sign-in at another provider
CALLBACK_PATH = "/login/upstream/callback"
# OIDC Core §5.5: ask for the claims that name a new user in the id_token itself, where
# the provider takes the `claims` parameter; what the e-mail links by must be signed.
_CLAIMS = json.dumps(
    {"id_token": {"preferred_username": None, "email": None, "email_verified": None}}
)
_EXPIRED = "This sign-in has expired or was already used. Please sign in again."
_OTHER_BROWSER = "This sign-in was started in another browser. Please sign in again here."


@dataclass(frozen=True)
class CallbackAnswer:
    """The provider's answer at the callback, each parameter given at most once."""

    state: str | None
    code: str | None
    error: str | None
    # RFC 9207: the `iss` of the authorization response, where the provider sends it.
    issuer: str | None


@dataclass(frozen=True)
class Verified:
    provider: UpstreamProvider
    identity: UpstreamIdentity
    next_path: str | None


class UpstreamSignIn:
    def __init__(self, settings: Settings, database: Database, sealer: Sealer) -> None:
        self._database = database
        self._sealer = sealer
        self._allow_private = settings.outbound_private_allowed
        self._metadata = MetadataCache(self._allow_private)
        self.redirect_uri = settings.issuer + CALLBACK_PATH

    def begin(self, name: str, binding: str, next_path: str | None) -> str:
        """The provider's authorization URL for a new sign-in bound to `binding`."""
        with self._database.reading() as db:
            provider = ProviderRepository(db).get(name)
        if provider is None:
            raise UpstreamError(f"no provider {name!r}", "There is no such way to sign in.", 404)
        metadata = self._metadata.get(provider.issuer)
        state, nonce, code_verifier = (new_opaque_secret() for _ in range(3))
        with self._database.transaction() as db:
            request = UpstreamRequest(
                state_hash=opaque_hash(state),
                provider=provider.name,
                nonce=nonce,
                code_verifier=code_verifier,
                binding=binding,
                next_path=next_path,
                expires_at=utcnow() + REQUEST_TTL,
            )
            db.add(request)
        extra = {"claims": _CLAIMS} if metadata.claims_parameter_supported else {}
        with OAuth2Client(
            provider.client_id,
            scope=provider.scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
        ) as client:
            url, _ = client.create_authorization_url(
                metadata.authorization_endpoint,
                state=state,
                code_verifier=code_verifier,
                nonce=nonce,
                **extra,
            )
        return str(url)

    def finish(self, answer: CallbackAnswer, binding: str) -> Verified:
        request, provider = self._take(answer.state, binding)
        if answer.error is not None:
            raise _refusal(provider, answer.error)
        # RFC 9207 §2.4: an `iss` that is not this provider's is a mix-up attack.
        if answer.issuer is not None and answer.issuer != provider.issuer:
            raise UpstreamError("the answer's iss is not the provider's", _EXPIRED, 400)
        if not answer.code:
            raise UpstreamError("the answer has no code", _EXPIRED, 400)
        metadata = self._metadata.get(provider.issuer)
        id_token = self._exchange(provider, metadata, answer.code, request.code_verifier)
        identity = self._verify(id_token, provider, metadata, request.nonce)
        return Verified(provider, identity, request.next_path)

    def _take(self, state: str | None, binding: str) -> tuple[UpstreamRequest, UpstreamProvider]:
        with self._database.transaction() as db:
            request = find_request(db, state or "", utcnow())
            if request is None:
                raise UpstreamError("an unknown or expired state", _EXPIRED, 400)
            # RFC 6749 §10.12: the answer goes on only in the browser that asked for it.
            if not hmac.compare_digest(request.binding, binding):
                raise UpstreamError("the state belongs to another browser", _OTHER_BROWSER, 400)
            if not take_request(db, request):
                raise UpstreamError("the state was answered already", _EXPIRED, 400)
            provider = ProviderRepository(db).get(request.provider)
        if provider is None:
            raise UpstreamError("the provider was removed", _EXPIRED, 400)
        return request, provider

    def _exchange(
        self, provider: UpstreamProvider, metadata: ProviderMetadata, code: str, verifier: str
    ) -> object:
        """The id_token of the token response (OIDC Core §3.1.3.3)."""
        secret = self._client_secret(provider)
        with OAuth2Client(
            provider.client_id,
            secret,
            token_endpoint_auth_method=_auth_method(secret, metadata),
            redirect_uri=self.redirect_uri,
            **client_options(self._allow_private),
        ) as client:
            try:
                token = client.fetch_token(
                    metadata.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=verifier,
                )
            except OAuthError as error:
                raise UpstreamError(f"the token endpoint refused the code: {error.error}") from None
            except (HTTPError, ValueError) as error:
                raise UpstreamError(f"the token endpoint: {type(error).__name__}") from None
        return token.get("id_token")

    def _verify(
        self, id_token: object, provider: UpstreamProvider, metadata: ProviderMetadata, nonce: str
    ) -> UpstreamIdentity:
        now = int(utcnow().timestamp())
        try:
            return verify_id_token(id_token, metadata, provider.client_id, nonce, now)
        except UnknownKeyError:
            # The provider may have rotated its keys since we fetched them.
            fresh = self._metadata.refetch_keys(provider.issuer)
            if fresh is None:
                raise
            return verify_id_token(id_token, fresh, provider.client_id, nonce, now)

    def _client_secret(self, provider: UpstreamProvider) -> str | None:
        if provider.sealed_client_secret is None:
            return None
        try:
            return self._sealer.open(provider.sealed_client_secret, secret_context(provider.name))
        except SealError as error:
            raise UpstreamError(f"the client secret of {provider.name}: {error}") from None


def sign_in_linked(
    db: Session,
    settings: Settings,
    verified: Verified,
    previous: LoginSession | None,
    now: datetime,
    user_agent: str | None = None,
    address: str | None = None,
) -> SignInResult:
    """The linked user's session (`amr` "fed", RFC 8176); or, for a user with a second
    factor to prove, a pending sign-in (factors/pending.py), as after a password."""
    user = linked_user(db, verified.provider, verified.identity, settings.password_hashing())
    if user.id is None:
        raise UpstreamError("the linked user has no id")
    if settings.mfa != "off" and second_factors_of(db, user.id).any:
        pending = start_pending(db, user.id, FEDERATED, now)
        record_event(
            db, "login.first_factor", user_id=user.id, username=user.username, method=FEDERATED
        )
        return SignInResult(pending=pending)
    signed_in = SignedIn(user.id, user.username, FEDERATED, user_agent, address)
    return SignInResult(
        started=establish_session(db, signed_in, previous, now, settings.session_ttl)
    )


def secret_context(name: str) -> str:
    """What a provider's sealed client secret is bound to (`authserver.sealing`)."""
    return f"upstream:{name}"


def _auth_method(secret: str | None, metadata: ProviderMetadata) -> str:
    """RFC 6749 §2.3.1: HTTP Basic unless the provider takes only the form (RFC 8414 §2)."""
    if secret is None:
        return "none"
    methods = metadata.token_endpoint_auth_methods
    if "client_secret_post" in methods and "client_secret_basic" not in methods:
        return "client_secret_post"
    return "client_secret_basic"


def _refusal(provider: UpstreamProvider, error: str) -> UpstreamError:
    """RFC 6749 §4.1.2.1: the provider said no; `error` is shown only if it is a code."""
    if error == "access_denied":
        public = f"Signing in with {provider.display_name} was cancelled."
        return UpstreamError("the provider answered access_denied", public, 403)
    code = error if error.isascii() and error.replace("_", "").isalpha() and len(error) < 50 else ""
    public = f"{provider.display_name} did not sign you in{f' ({code})' if code else ''}."
    return UpstreamError(f"the provider answered {code or 'an error'}", public, 502)
