"""participation summary: who took part where, month by month, kept by triggers

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 06:20:00

The dashboard's unique participants per zone, unit and programme are read from
``participation`` instead of a COUNT(DISTINCT) over a period's sign-ups. The triggers that keep
it (on signups, shifts, activities and activity_programmes) are defined in
portal/models/participation.py, which create_all uses too; the table is filled here from the
data already present.
"""

import sqlalchemy as sa
from alembic import op

from portal.models import participation

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "participation",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=1), nullable=False),
        sa.Column("key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "month",
            "kind",
            "key",
            "user_id",
            name=op.f("pk_participation"),
            postgresql_include=["n"],
        ),
        sqlite_with_rowid=False,
    )
    bind = op.get_bind()
    for statement in participation.create_statements(bind.dialect.name):
        op.execute(sa.text(statement))
    participation.rebuild(bind)


def downgrade():
    bind = op.get_bind()
    for statement in participation.drop_statements(bind.dialect.name):
        op.execute(sa.text(statement))
    op.drop_table("participation")
