"""Ruuvi: at most one live code per address

Revision ID: 0004_ruuvi_one_live_code
Revises: 0003_ruuvi
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_ruuvi_one_live_code"
down_revision = "0003_ruuvi"
branch_labels = None
depends_on = None


def upgrade():
    # Keep only each address's newest unused code, as a new /register now does.
    op.execute(
        "UPDATE ruuvi_code SET used_at = created_at WHERE used_at IS NULL AND id NOT IN"
        " (SELECT MAX(id) FROM ruuvi_code WHERE used_at IS NULL GROUP BY email_key)"
    )
    with op.batch_alter_table("ruuvi_code", schema=None) as batch_op:
        batch_op.create_index(
            "uq_ruuvi_code_unused_email",
            ["email_key"],
            unique=True,
            sqlite_where=sa.text("used_at IS NULL"),
            postgresql_where=sa.text("used_at IS NULL"),
        )


def downgrade():
    with op.batch_alter_table("ruuvi_code", schema=None) as batch_op:
        batch_op.drop_index("uq_ruuvi_code_unused_email")
