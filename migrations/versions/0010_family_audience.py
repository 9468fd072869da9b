"""token families remember their audience (RFC 8707 §2.2: refresh keeps or narrows it)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Existing families get NULL: granted before the audience was remembered, they keep the
behaviour they had (a refresh without `resource` gets the default audience).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("token_families") as families:
        families.add_column(sa.Column("audience", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("token_families") as families:
        families.drop_column("audience")
