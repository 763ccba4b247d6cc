"""dashboard speed: the data version of the dashboard's result cache; a covering sign-up index

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 03:40:00

``dashboard_versions`` (portal/dashboard/freshness.py): a few rows of random tokens, one of
them rewritten in every transaction that writes a table the dashboard reads; the cached
board is keyed by them. ``ix_signups_dashboard`` lets the board's pass over a period's
sign-ups (places, attendance, confirmed hours, people) read the index alone.
"""

import random

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "dashboard_versions",
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shard", name=op.f("pk_dashboard_versions")),
    )
    # A first version, so a district loaded before this migration is cached from the start
    # (a table without rows means "never cache": nothing vouches for what is there).
    op.execute(
        sa.text(
            f"INSERT INTO dashboard_versions (shard, token) VALUES (0, {random.randrange(1, 2**62)})"
        )
    )
    with op.batch_alter_table("signups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_signups_dashboard",
            ["shift_id", "status", "user_id", "attendance", "hours", "hours_confirmed_at"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("signups", schema=None) as batch_op:
        batch_op.drop_index("ix_signups_dashboard")
    op.drop_table("dashboard_versions")
