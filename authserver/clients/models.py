"""The client table, and the Authlib `ClientMixin` answers it gives (RFC 6749 §2)."""

from datetime import datetime

from authlib.oauth2.rfc6749 import ClientMixin
from sqlalchemy import JSON, Column, text
from sqlmodel import Field, SQLModel

from authserver.clients.secrets import verify_client_secret
from authserver.clock import utcnow
from authserver.db import moment_column
from authserver.uris import redirect_uri_matches

GRANT_TYPES = ("authorization_code", "client_credentials", "refresh_token")
CONFIDENTIAL_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


class Client(SQLModel, ClientMixin, table=True):
    """A registered client. Rows handed out by the cache are read-only snapshots."""

    __tablename__ = "clients"

    client_id: str = Field(primary_key=True, max_length=64)
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
    can_introspect: bool = False
    # OIDC Back-Channel Logout 1.0 §2.2: where a Logout Token is POSTed when a session
    # this client received tokens in ends; `sid` is always sent, so either value holds.
    backchannel_logout_uri: str | None = Field(default=None, max_length=2000)
    backchannel_logout_session_required: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None

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
        if self.is_public:
            return method == "none"
        return method in CONFIDENTIAL_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types
