"""Ruuvi users, codes and tokens

Revision ID: 0003_ruuvi
Revises: 0002_hue
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_ruuvi"
down_revision = "0002_hue"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ruuvi_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_key", sa.String(length=254), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ruuvi_user")),
        sa.UniqueConstraint("email_key", name=op.f("uq_ruuvi_user_email_key")),
    )

    op.create_table(
        "ruuvi_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hmac", sa.String(length=64), nullable=False),
        sa.Column("email_key", sa.String(length=254), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ruuvi_code")),
    )
    with op.batch_alter_table("ruuvi_code", schema=None) as batch_op:
        batch_op.create_index(
            "uq_ruuvi_code_unused_hmac",
            ["code_hmac"],
            unique=True,
            sqlite_where=sa.text("used_at IS NULL"),
            postgresql_where=sa.text("used_at IS NULL"),
        )

    op.create_table(
        "ruuvi_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_accessed", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["ruuvi_user.id"],
            name=op.f("fk_ruuvi_token_user_id_ruuvi_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ruuvi_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_ruuvi_token_token_hash")),
    )
    with op.batch_alter_table("ruuvi_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ruuvi_token_user_id"), ["user_id"], unique=False)


def downgrade():
    op.drop_table("ruuvi_token")
    op.drop_table("ruuvi_code")
    op.drop_table("ruuvi_user")
