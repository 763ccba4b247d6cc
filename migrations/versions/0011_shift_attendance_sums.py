"""shift attendance sums: attended, no-shows and confirmed hours per shift, kept by triggers

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 06:30:00

The dashboard's hours, attended and no-shows come from three columns on ``shifts`` kept by
triggers on ``signups`` (portal/models/participation.py), instead of a pass over a period's
marked sign-ups. Plain ALTER TABLE ADD COLUMN (no batch mode: a table recreated on SQLite would
lose its triggers); the sums are filled here from the data already present.
"""

import sqlalchemy as sa
from alembic import op

from portal.models import participation

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = ("attended_count", "no_show_count", "record_tenths")


def upgrade():
    for name in COLUMNS:
        op.add_column("shifts", sa.Column(name, sa.Integer(), server_default="0", nullable=False))
    bind = op.get_bind()
    for statement in participation.create_statements(bind.dialect.name, "marks"):
        op.execute(sa.text(statement))
    participation.rebuild_marks(bind)


def downgrade():
    bind = op.get_bind()
    for statement in participation.drop_statements(bind.dialect.name, "marks"):
        op.execute(sa.text(statement))
    for name in COLUMNS:
        # SQLite (3.35+) drops a column in place; the table and its triggers stay.
        op.drop_column("shifts", name)
