"""codes and token families remember the claims the `claims` parameter asked for
(OIDC Core §5.5)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08

Only the names of known user claims, by member: `{"id_token": [...], "userinfo": [...]}`;
NULL when the request had no `claims` parameter (and for every row from before).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("authorization_codes", "token_families")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as rows:
            rows.add_column(sa.Column("requested_claims", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as rows:
            rows.drop_column("requested_claims")
