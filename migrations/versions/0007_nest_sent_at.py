"""When owner buckets were last written to each device

Revision ID: 0007_nest_sent_at
Revises: 0006_audit_event
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_nest_sent_at"
down_revision = "0006_audit_event"
branch_labels = None
depends_on = None


def upgrade():
    # Epoch ms of the last write of that owner bucket to the device; NULL: before this column.
    with op.batch_alter_table("nest_last_sent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_at", sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table("nest_last_sent", schema=None) as batch_op:
        batch_op.drop_column("sent_at")
