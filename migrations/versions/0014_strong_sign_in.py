"""strong sign-in: second factors (TOTP, recovery codes, passkeys), sign-ins waiting for
one, upstream OpenID providers; what a session proved (`amr`) and where it signed in from;
a code's `amr`/`acr`; a client's `require_mfa`

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _moment(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _user_id(nullable: bool = False) -> sa.Column:
    return sa.Column(
        "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=nullable
    )


def upgrade() -> None:
    with op.batch_alter_table("login_sessions") as sessions:
        sessions.add_column(sa.Column("amr", sa.String(100), nullable=False, server_default="pwd"))
        sessions.add_column(sa.Column("user_agent", sa.String(300), nullable=True))
        sessions.add_column(sa.Column("address", sa.String(64), nullable=True))
    with op.batch_alter_table("authorization_codes") as codes:
        codes.add_column(sa.Column("amr", sa.String(100), nullable=True))
        codes.add_column(sa.Column("acr", sa.String(100), nullable=True))
    with op.batch_alter_table("clients") as clients:
        clients.add_column(
            sa.Column("require_mfa", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    op.create_table(
        "totp_factors",
        _user_id(),
        sa.Column("sealed_secret", sa.String(400), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        _moment("created_at"),
        _moment("confirmed_at", nullable=True),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        _user_id(),
        _moment("created_at"),
        _moment("used_at", nullable=True),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])
    op.create_table(
        "pending_sign_ins",
        sa.Column("secret_hash", sa.String(64), nullable=False),
        _user_id(),
        sa.Column("amr", sa.String(100), nullable=False),
        _moment("created_at"),
        _moment("expires_at"),
        sa.PrimaryKeyConstraint("secret_hash"),
    )
    op.create_index("ix_pending_sign_ins_user_id", "pending_sign_ins", ["user_id"])
    op.create_index("ix_pending_sign_ins_expires_at", "pending_sign_ins", ["expires_at"])

    op.create_table(
        "passkeys",
        sa.Column("credential_id", sa.String(1400), nullable=False),
        _user_id(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("public_key", sa.String(2000), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", sa.String(200), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
        _moment("created_at"),
        _moment("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("credential_id"),
    )
    op.create_index("ix_passkeys_user_id", "passkeys", ["user_id"])
    op.create_table(
        "webauthn_challenges",
        sa.Column("challenge_hash", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("binding", sa.String(64), nullable=False),
        _user_id(nullable=True),
        _moment("expires_at"),
        sa.PrimaryKeyConstraint("challenge_hash"),
    )
    op.create_index("ix_webauthn_challenges_expires_at", "webauthn_challenges", ["expires_at"])

    op.create_table(
        "upstream_providers",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("sealed_client_secret", sa.String(1000), nullable=True),
        sa.Column("scope", sa.String(500), nullable=False),
        sa.Column("link_by_verified_email", sa.Boolean(), nullable=False),
        _moment("created_at"),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "upstream_links",
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        _user_id(),
        sa.Column("provider", sa.String(64), nullable=False),
        _moment("created_at"),
        _moment("last_used_at"),
        sa.PrimaryKeyConstraint("issuer", "subject"),
    )
    op.create_index("ix_upstream_links_user_id", "upstream_links", ["user_id"])
    op.create_table(
        "upstream_requests",
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column(
            "provider",
            sa.String(64),
            sa.ForeignKey("upstream_providers.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("binding", sa.String(64), nullable=False),
        sa.Column("next_path", sa.String(4000), nullable=True),
        _moment("expires_at"),
        sa.PrimaryKeyConstraint("state_hash"),
    )
    op.create_index("ix_upstream_requests_expires_at", "upstream_requests", ["expires_at"])


def downgrade() -> None:
    for table in (
        "upstream_requests",
        "upstream_links",
        "upstream_providers",
        "webauthn_challenges",
        "passkeys",
        "pending_sign_ins",
        "recovery_codes",
        "totp_factors",
    ):
        op.drop_table(table)
    with op.batch_alter_table("clients") as clients:
        clients.drop_column("require_mfa")
    with op.batch_alter_table("authorization_codes") as codes:
        codes.drop_column("acr")
        codes.drop_column("amr")
    with op.batch_alter_table("login_sessions") as sessions:
        sessions.drop_column("address")
        sessions.drop_column("user_agent")
        sessions.drop_column("amr")
