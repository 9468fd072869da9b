"""status lists (draft-ietf-oauth-status-list): lists, blocks, assignments, revocations

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _moment(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _list_id() -> sa.Column:
    return sa.Column(
        "list_id",
        sa.String(length=32),
        sa.ForeignKey("status_lists.id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "status_lists",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("permutation_key", sa.String(length=64), nullable=False),
        sa.Column("next_sequence", sa.Integer(), nullable=False),
        _moment("created_at"),
        _moment("open_until"),
        _moment("expires_at"),
    )
    op.create_index("ix_status_lists_expires_at", "status_lists", ["expires_at"])
    op.create_table(
        "status_blocks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "list_id",
            sa.String(length=32),
            sa.ForeignKey("status_lists.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("first", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        _moment("reserved_at"),
    )
    op.create_index("ix_status_blocks_client_id", "status_blocks", ["client_id"])
    op.create_table(
        "status_assignments",
        _list_id(),
        sa.Column("idx", sa.Integer(), primary_key=True),
        sa.Column(
            "family_id",
            sa.String(length=64),
            sa.ForeignKey("token_families.id", ondelete="CASCADE"),
            nullable=False,
        ),
    )
    op.create_index("ix_status_assignments_family_id", "status_assignments", ["family_id"])
    op.create_table(
        "status_revocations",
        _list_id(),
        sa.Column("idx", sa.Integer(), primary_key=True),
        _moment("revoked_at"),
    )


def downgrade() -> None:
    op.drop_table("status_revocations")
    op.drop_table("status_assignments")
    op.drop_table("status_blocks")
    op.drop_table("status_lists")
