"""core tables (settings, mail outbox) and Nest

Revision ID: 0001_core_nest
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_core_nest"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "setting",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_setting")),
    )

    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("to_addr", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("locked_until", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.BigInteger(), nullable=True),
        sa.Column("given_up", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mail_outbox_next_attempt_at"), ["next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_mail_outbox_sent_at"), ["sent_at"], unique=False)

    op.create_table(
        "nest_device",
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_nest_device")),
    )

    op.create_table(
        "nest_entry_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=7), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nest_entry_key")),
    )
    with op.batch_alter_table("nest_entry_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nest_entry_key_serial"), ["serial"], unique=False)
        batch_op.create_index(
            "uq_nest_entry_key_pending_code",
            ["code"],
            unique=True,
            sqlite_where=sa.text("claimed_by IS NULL"),
            postgresql_where=sa.text("claimed_by IS NULL"),
        )
        batch_op.create_index(
            "uq_nest_entry_key_pending_serial",
            ["serial"],
            unique=True,
            sqlite_where=sa.text("claimed_by IS NULL"),
            postgresql_where=sa.text("claimed_by IS NULL"),
        )

    op.create_table(
        "nest_bucket",
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.String(length=255), nullable=False),
        sa.Column("object_revision", sa.BigInteger(), nullable=False),
        sa.Column("object_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("serial", "object_key", name=op.f("pk_nest_bucket")),
    )

    op.create_table(
        "nest_ownership",
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_nest_ownership")),
    )
    with op.batch_alter_table("nest_ownership", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nest_ownership_user_id"), ["user_id"], unique=False)

    op.create_table(
        "nest_last_sent",
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.String(length=255), nullable=False),
        sa.Column("object_timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("serial", "object_key", name=op.f("pk_nest_last_sent")),
    )


def downgrade():
    op.drop_table("nest_last_sent")
    op.drop_table("nest_ownership")
    op.drop_table("nest_bucket")
    op.drop_table("nest_entry_key")
    op.drop_table("nest_device")
    op.drop_table("mail_outbox")
    op.drop_table("setting")
