"""Nest tables: devices, entry keys, buckets, ownership and last-sent records.

Times are epoch milliseconds, as on the wire. Bucket values are stored as JSON text so their
key order survives (PostgreSQL ``jsonb`` would sort it).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model


class NestDevice(Model):
    """A serial that has talked to homepair."""

    __tablename__ = "nest_device"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_seen: Mapped[int] = mapped_column(BigInteger, nullable=False)


class NestEntryKey(Model):
    """A 7-character code shown on a device's pairing screen."""

    __tablename__ = "nest_entry_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(7), nullable=False)
    serial: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    expires_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        # At most one unclaimed key per serial, and an unclaimed code is never issued twice:
        # the database settles races between workers.
        Index(
            "uq_nest_entry_key_pending_serial",
            "serial",
            unique=True,
            sqlite_where=text("claimed_by IS NULL"),
            postgresql_where=text("claimed_by IS NULL"),
        ),
        Index(
            "uq_nest_entry_key_pending_code",
            "code",
            unique=True,
            sqlite_where=text("claimed_by IS NULL"),
            postgresql_where=text("claimed_by IS NULL"),
        ),
    )


class NestBucket(Model):
    """One bucket of one device: ``(serial, object_key)`` → revision, timestamp, value."""

    __tablename__ = "nest_bucket"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    object_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    object_revision: Mapped[int] = mapped_column(BigInteger, nullable=False)
    object_timestamp: Mapped[int] = mapped_column(BigInteger, nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class NestOwnership(Model):
    """Which user owns a device (at most one)."""

    __tablename__ = "nest_ownership"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class NestLastSent(Model):
    """The newest owner-bucket timestamp written to a device, per bucket key, and when."""

    __tablename__ = "nest_last_sent"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    object_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    object_timestamp: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # Epoch ms of that write: a device that does not list its owner buckets gets them again,
    # at most once per hold period (NULL: written before the column existed).
    sent_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
