"""Stored grants: authorization codes, token families, refresh tokens, revoked access tokens.

Codes and refresh tokens are stored only as SHA-256 hashes of their value. A family is
everything one authorization gave out: its access tokens carry its id (`fid`), its
refresh tokens point to it, and revoking it ends all of them (RFC 9700 §4.14.2).
"""

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from authserver.clock import utcnow
from authserver.db import moment_column


class AuthorizationCode(SQLModel, table=True):
    __tablename__ = "authorization_codes"

    code_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(foreign_key="clients.client_id", ondelete="CASCADE", max_length=64)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    session_id: str | None = Field(default=None, max_length=64)
    redirect_uri: str = Field(max_length=2000)
    scope: str = Field(default="", max_length=2000)
    nonce: str | None = Field(default=None, max_length=512)
    code_challenge: str = Field(max_length=128)
    code_challenge_method: str = Field(max_length=10)
    auth_time: datetime = Field(sa_column=moment_column())
    expires_at: datetime = Field(sa_column=moment_column(index=True))
    consumed_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
    # The family the code's tokens belong to, so that a replay can revoke them.
    family_id: str | None = Field(default=None, max_length=64)
    # OIDC Core §5.5: the user claims the `claims` parameter asked for, by member
    # (`grants.claims_request`); None without one.
    requested_claims: dict[str, list[str]] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    # OIDC Core §2: how the user signed in (the session's `amr`, space-separated) and the
    # `acr` the id_token states, when the request asked for one (factors/policy.py).
    amr: str | None = Field(default=None, max_length=100)
    acr: str | None = Field(default=None, max_length=100)
    # RFC 9449 §10: the DPoP key (RFC 7638 thumbprint) the code is bound to, from
    # `dpop_jkt` or the proof sent to /par; the token request's proof must use it.
    dpop_jkt: str | None = Field(default=None, max_length=64)

    # Authlib's AuthorizationCodeMixin (RFC 6749, RFC 7636, OIDC Core).
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self) -> list[str] | None:
        return self.amr.split() if self.amr else None


class TokenFamily(SQLModel, table=True):
    __tablename__ = "token_families"

    id: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(
        foreign_key="clients.client_id", ondelete="CASCADE", max_length=64, index=True
    )
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    session_id: str | None = Field(default=None, max_length=64, index=True)
    scope: str = Field(default="", max_length=2000)
    # The access tokens' audience the authorization granted (RFC 8707): a refresh without
    # `resource` gets it back, one with `resource` may narrow it, never widen it. None for
    # families granted before it was remembered (migration 0010): the default audience.
    audience: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The code's `requested_claims`: what /userinfo adds for this family's access tokens.
    requested_claims: dict[str, list[str]] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    auth_time: datetime = Field(sa_column=moment_column())
    # RFC 9449 §5: a public client's refresh tokens are bound to the DPoP key (RFC 7638
    # thumbprint) of the request that started the family; None: not bound.
    dpop_jkt: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
    expires_at: datetime = Field(sa_column=moment_column(index=True))
    revoked_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_tokens"

    token_hash: str = Field(primary_key=True, max_length=64)
    family_id: str = Field(
        foreign_key="token_families.id", ondelete="CASCADE", index=True, max_length=64
    )
    parent_hash: str | None = Field(default=None, max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
    expires_at: datetime = Field(sa_column=moment_column())
    consumed_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))


class RevokedAccessToken(SQLModel, table=True):
    """The deny list: a revoked access token's `jti`, kept until the token expires."""

    __tablename__ = "revoked_access_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_column=moment_column(index=True))
