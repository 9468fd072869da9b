"""dynamic client registration (RFC 7591, RFC 7592): initial access tokens, and on each
client its registration access token's hash, its token endpoint auth method and its
descriptive metadata

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as clients:
        clients.add_column(sa.Column("token_endpoint_auth_method", sa.String(32), nullable=True))
        clients.add_column(
            sa.Column("registration_access_token_hash", sa.String(64), nullable=True)
        )
        clients.add_column(sa.Column("registration_metadata", sa.JSON(), nullable=True))
    op.create_table(
        "initial_access_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("initial_access_tokens") as tokens:
        tokens.create_index("ix_initial_access_tokens_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("initial_access_tokens")
    with op.batch_alter_table("clients") as clients:
        clients.drop_column("registration_metadata")
        clients.drop_column("registration_access_token_hash")
        clients.drop_column("token_endpoint_auth_method")
