"""Upstream OpenID providers, the links of their users to ours, and sign-ins in flight."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from authserver.db import moment_column


class UpstreamProvider(SQLModel, table=True):
    """An OpenID provider users may sign in with ("Continue with <display_name>")."""

    __tablename__ = "upstream_providers"

    name: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(max_length=100)
    issuer: str = Field(max_length=500)
    client_id: str = Field(max_length=255)
    # Sealed at rest (`authserver.sealing`); None for a public client (PKCE alone).
    sealed_client_secret: str | None = Field(default=None, max_length=1000)
    scope: str = Field(default="openid profile email", max_length=500)
    # Link a first sign-in to the local user with the same e-mail, if the provider says
    # it is verified. Off unless set: otherwise only `iss` + `sub` link.
    link_by_verified_email: bool = False
    created_at: datetime = Field(sa_column=moment_column())


class UpstreamLink(SQLModel, table=True):
    """A local user is this upstream `sub` at this upstream `iss`."""

    __tablename__ = "upstream_links"

    issuer: str = Field(primary_key=True, max_length=500)
    subject: str = Field(primary_key=True, max_length=255)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    provider: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=moment_column())
    last_used_at: datetime = Field(sa_column=moment_column())


class UpstreamRequest(SQLModel, table=True):
    """An authorization request sent upstream and not yet answered: its `state` (SHA-256
    only), `nonce` and PKCE verifier, the browser it belongs to, where to return."""

    __tablename__ = "upstream_requests"

    state_hash: str = Field(primary_key=True, max_length=64)
    provider: str = Field(foreign_key="upstream_providers.name", ondelete="CASCADE", max_length=64)
    nonce: str = Field(max_length=128)
    code_verifier: str = Field(max_length=128)
    binding: str = Field(max_length=64)
    next_path: str | None = Field(default=None, max_length=4000)
    expires_at: datetime = Field(sa_column=moment_column(index=True))
