"""The client table, and the Authlib `ClientMixin` answers it gives (RFC 6749 §2)."""

from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin
from sqlalchemy import JSON, Column, text
from sqlmodel import Field, SQLModel

from authserver.clients.secrets import verify_client_secret
from authserver.clock import utcnow
from authserver.db import moment_column
from authserver.uris import redirect_uri_matches

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"  # RFC 8628 §3.4
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - RFC 8693 §2.1
GRANT_TYPES = (
    "authorization_code",
    "client_credentials",
    "refresh_token",
    DEVICE_CODE,
    TOKEN_EXCHANGE,
)
# What `clients create --grant-type` also accepts for the two long names.
GRANT_TYPE_SHORT_NAMES = {"device_code": DEVICE_CODE, "token-exchange": TOKEN_EXCHANGE}
CONFIDENTIAL_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
# RFC 7523 §2.2, OIDC Core §9: a confidential client without a secret, proving itself
# with JWTs signed by its registered keys (clients/private_key_jwt.py).
PRIVATE_KEY_JWT = "private_key_jwt"
# The algorithms our keys may sign with (AUTHSERVER_SIGNING_ALG, a client's
# id_token_signed_response_alg), and the profiles a client may be held to.
SIGNING_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
PROFILES = ("fapi2",)
MAX_CLIENT_ID_LENGTH = 64


def is_client_id(value: str) -> bool:
    """Whether `value` could name a client: at most 64 characters (the clients table),
    no NUL (PostgreSQL holds none). Anything else is no client, without a lookup."""
    return bool(value) and len(value) <= MAX_CLIENT_ID_LENGTH and "\x00" not in value


class Client(SQLModel, ClientMixin, table=True):
    """A registered client. Rows handed out by the cache are read-only snapshots."""

    __tablename__ = "clients"

    client_id: str = Field(primary_key=True, max_length=MAX_CLIENT_ID_LENGTH)
    name: str = Field(max_length=200)
    secret_hash: str | None = Field(default=None, max_length=64)
    grant_types: list[str] = Field(sa_column=Column(JSON, nullable=False))
    redirect_uris: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    post_logout_redirect_uris: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    audiences: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # RFC 8693: the audiences this client (a resource service) may exchange a user's access
    # token for, to call them on the user's behalf.
    token_exchange_audiences: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=text("'[]'")),
    )
    scope: str = Field(default="", max_length=2000)
    skip_consent: bool = False
    # Its users must have proved a second factor (or a passkey) in the session that
    # authorizes it, whatever AUTHSERVER_MFA says (factors/policy.py).
    require_mfa: bool = False
    can_introspect: bool = False
    # OIDC Back-Channel Logout 1.0 §2.2: where a Logout Token is POSTed when a session
    # this client received tokens in ends; `sid` is always sent, so either value holds.
    backchannel_logout_uri: str | None = Field(default=None, max_length=2000)
    backchannel_logout_session_required: bool = False
    # RFC 7591 §2: how the client authenticates at the token endpoint (client_secret_basic,
    # client_secret_post, private_key_jwt or none), and no other way; None for a client the
    # CLI made without --auth-method, which may use either secret method.
    token_endpoint_auth_method: str | None = Field(default=None, max_length=32)
    # RFC 7592 §3: the SHA-256 of the registration access token of a client registered at
    # /register; None for any other client, which /register/{client_id} never manages.
    registration_access_token_hash: str | None = Field(default=None, max_length=64)
    # RFC 7591 §2: the descriptive metadata it registered (client_uri, contacts, jwks, ...).
    registration_metadata: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # RFC 7523 / OIDC Core §9 private_key_jwt: the client's public keys, as a JWK Set or
    # where to fetch one (never both); None for a client authenticating with a secret.
    jwks: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    jwks_uri: str | None = Field(default=None, max_length=2000)
    # RFC 9126 §6: its authorization requests must be pushed to /par first.
    require_par: bool = False
    # RFC 9449 §5: its access tokens must be DPoP-bound (a token request without a proof
    # is refused).
    require_dpop: bool = False
    # "fapi2": held to the FAPI 2.0 Security Profile (docs/fapi.md); None: the server's
    # AUTHSERVER_PROFILE.
    profile: str | None = Field(default=None, max_length=16)
    # OIDC Dynamic Registration §2: the alg of its id_tokens; None: AUTHSERVER_SIGNING_ALG.
    id_token_signed_response_alg: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())

    @property
    def is_public(self) -> bool:
        """RFC 6749 §2.1: no credentials at all. A private_key_jwt client has keys instead
        of a secret and is confidential."""
        return self.secret_hash is None and self.token_endpoint_auth_method != PRIVATE_KEY_JWT

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # RFC 9700 §2.1: the request must name its redirect_uri; no implicit default.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if scope is None:
            return self.scope
        return " ".join(s for s in scope.split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(redirect_uri_matches(uri, redirect_uri) for uri in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return verify_client_secret(client_secret, self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.token_endpoint_auth_method is not None:
            # RFC 7591 §2: the method it registered, and no other.
            return method == self.token_endpoint_auth_method
        if self.is_public:
            return method == "none"
        return method in CONFIDENTIAL_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types
