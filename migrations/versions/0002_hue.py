"""Hue whitelist

Revision ID: 0002_hue
Revises: 0001_core_nest
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_hue"
down_revision = "0001_core_nest"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "hue_whitelist",
        sa.Column("username", sa.String(length=40), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_used_at", sa.BigInteger(), nullable=False),
        sa.Column("clientkey", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_hue_whitelist")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_hue_whitelist_key_hash")),
    )

    op.create_table(
        "hue_whitelist_pair",
        sa.Column("username", sa.String(length=40), nullable=False),
        sa.Column("devicetype", sa.String(length=160), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["username"],
            ["hue_whitelist.username"],
            name=op.f("fk_hue_whitelist_pair_username_hue_whitelist"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("username", "devicetype", name=op.f("pk_hue_whitelist_pair")),
    )


def downgrade():
    op.drop_table("hue_whitelist_pair")
    op.drop_table("hue_whitelist")
