"""shift counters: places taken and people waiting, kept on the shift

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:30:00

Lists and feeds read these instead of counting sign-ups on every request. The session keeps
them (portal.models.signups); this revision adds them and fills them from the sign-ups.
"""

from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("shifts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("taken_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("waitlist_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint(
            "counters_not_negative", "taken_count >= 0 AND waitlist_count >= 0"
        )
    op.execute(
        "UPDATE shifts SET "
        "taken_count = (SELECT count(*) FROM signups WHERE signups.shift_id = shifts.id "
        "AND signups.status IN ('pending', 'confirmed')), "
        "waitlist_count = (SELECT count(*) FROM signups WHERE signups.shift_id = shifts.id "
        "AND signups.status = 'waitlisted')"
    )


def downgrade():
    with op.batch_alter_table("shifts", schema=None) as batch_op:
        batch_op.drop_constraint("counters_not_negative", type_="check")
        batch_op.drop_column("waitlist_count")
        batch_op.drop_column("taken_count")
