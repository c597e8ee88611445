"""Ruuvi account settings (POST /settings)

Revision ID: 0008_ruuvi_setting
Revises: 0007_nest_sent_at
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_ruuvi_setting"
down_revision = "0007_nest_sent_at"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ruuvi_setting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=1024), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["ruuvi_user.id"],
            name=op.f("fk_ruuvi_setting_user_id_ruuvi_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ruuvi_setting")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_ruuvi_setting_user_id")),
    )


def downgrade():
    op.drop_table("ruuvi_setting")
