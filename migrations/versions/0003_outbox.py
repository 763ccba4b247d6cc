"""e-mail outbox on notifications

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 09:00:00.000000

Notifications become the e-mail outbox: ``flask deliver`` sends the rows whose
``email_next_try_at`` has come. Existing notifications get no address and no next try, so
upgrading sends no old mail.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_to", sa.String(length=254), nullable=True))
        batch_op.add_column(
            sa.Column("email_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("email_next_try_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("email_error", sa.String(length=500), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_notifications_email_next_try_at"), ["email_next_try_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_email_next_try_at"))
        batch_op.drop_column("email_error")
        batch_op.drop_column("email_next_try_at")
        batch_op.drop_column("email_attempts")
        batch_op.drop_column("email_to")
