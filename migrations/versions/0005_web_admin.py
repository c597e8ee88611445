"""Web administrators added from the command line

Revision ID: 0005_web_admin
Revises: 0004_ruuvi_one_live_code
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_web_admin"
down_revision = "0004_ruuvi_one_live_code"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "web_admin",
        sa.Column("email_key", sa.String(length=254), nullable=False),
        sa.Column("added_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("email_key", name=op.f("pk_web_admin")),
    )


def downgrade():
    op.drop_table("web_admin")
