"""list speed: shift indexes for the activity list and API, and the text index for search

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:05:00

The text index (SQLite FTS5 trigram table with its triggers; PostgreSQL pg_trgm GIN index)
is defined in portal/models/search.py, which create_all uses too; it is not part of the
models' metadata, so migrations/env.py leaves it out of autogenerate comparisons.
"""

from alembic import op
import sqlalchemy as sa

from portal.models import search


# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("shifts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_shifts_status_start", ["status", "starts_at", "activity_id"], unique=False
        )
        batch_op.create_index(
            "ix_shifts_activity_status_start",
            ["activity_id", "status", "starts_at", "capacity", "taken_count"],
            unique=False,
        )
    dialect = op.get_bind().dialect.name
    for statement in search.create_statements(dialect):
        op.execute(sa.text(statement))


def downgrade():
    dialect = op.get_bind().dialect.name
    for statement in search.drop_statements(dialect):
        op.execute(sa.text(statement))
    with op.batch_alter_table("shifts", schema=None) as batch_op:
        batch_op.drop_index("ix_shifts_activity_status_start")
        batch_op.drop_index("ix_shifts_status_start")
