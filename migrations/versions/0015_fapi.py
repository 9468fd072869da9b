"""FAPI 2.0: pushed authorization requests (RFC 9126), single-use `jti`s (RFC 7523,
RFC 9449), DPoP bindings of codes and token families, and a client's keys
(private_key_jwt), PAR/DPoP requirements, profile and id_token alg

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _moment(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("clients") as clients:
        clients.add_column(sa.Column("jwks", sa.JSON(), nullable=True))
        clients.add_column(sa.Column("jwks_uri", sa.String(2000), nullable=True))
        clients.add_column(
            sa.Column("require_par", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        clients.add_column(
            sa.Column("require_dpop", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        clients.add_column(sa.Column("profile", sa.String(16), nullable=True))
        clients.add_column(sa.Column("id_token_signed_response_alg", sa.String(16), nullable=True))
    with op.batch_alter_table("authorization_codes") as codes:
        codes.add_column(sa.Column("dpop_jkt", sa.String(64), nullable=True))
    with op.batch_alter_table("token_families") as families:
        families.add_column(sa.Column("dpop_jkt", sa.String(64), nullable=True))

    op.create_table(
        "pushed_authorization_requests",
        sa.Column("reference_hash", sa.String(64), nullable=False),
        sa.Column(
            "client_id",
            sa.String(64),
            sa.ForeignKey("clients.client_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("parameters", sa.JSON(), nullable=False),
        _moment("created_at"),
        _moment("expires_at"),
        sa.PrimaryKeyConstraint("reference_hash"),
    )
    op.create_index(
        "ix_pushed_authorization_requests_expires_at",
        "pushed_authorization_requests",
        ["expires_at"],
    )
    op.create_table(
        "used_jtis",
        sa.Column("key_hash", sa.String(64), nullable=False),
        _moment("expires_at"),
        sa.PrimaryKeyConstraint("key_hash"),
    )
    op.create_index("ix_used_jtis_expires_at", "used_jtis", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_used_jtis_expires_at", table_name="used_jtis")
    op.drop_table("used_jtis")
    op.drop_index(
        "ix_pushed_authorization_requests_expires_at", table_name="pushed_authorization_requests"
    )
    op.drop_table("pushed_authorization_requests")
    with op.batch_alter_table("token_families") as families:
        families.drop_column("dpop_jkt")
    with op.batch_alter_table("authorization_codes") as codes:
        codes.drop_column("dpop_jkt")
    with op.batch_alter_table("clients") as clients:
        for column in (
            "id_token_signed_response_alg",
            "profile",
            "require_dpop",
            "require_par",
            "jwks_uri",
            "jwks",
        ):
            clients.drop_column(column)
