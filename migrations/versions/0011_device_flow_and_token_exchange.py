"""device authorizations (RFC 8628), and the audiences a client may exchange tokens for
(RFC 8693)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as clients:
        clients.add_column(
            sa.Column(
                "token_exchange_audiences",
                sa.JSON(),
                nullable=False,
                server_default=sa.text("'[]'"),
            )
        )
    op.create_table(
        "device_authorizations",
        sa.Column("device_code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_code", sa.String(length=8), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=2000), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=True),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("family_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["clients.client_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("device_code_hash"),
    )
    with op.batch_alter_table("device_authorizations") as devices:
        devices.create_index("ix_device_authorizations_user_code", ["user_code"], unique=True)
        devices.create_index("ix_device_authorizations_client_id", ["client_id"], unique=False)
        devices.create_index("ix_device_authorizations_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("device_authorizations")
    with op.batch_alter_table("clients") as clients:
        clients.drop_column("token_exchange_audiences")
