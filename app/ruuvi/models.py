"""Ruuvi tables: users, hashed e-mail codes, hashed access tokens and account settings. Times
in epoch seconds."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model


class RuuviUser(Model):
    """An account, keyed by its lower-cased e-mail."""

    __tablename__ = "ruuvi_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email_key: Mapped[str] = mapped_column(String(254), nullable=False, unique=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False)  # as first given
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class RuuviCode(Model):
    """An e-mailed verification code, stored only as HMAC-SHA256(SECRET_KEY, code)."""

    __tablename__ = "ruuvi_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hmac: Mapped[str] = mapped_column(String(64), nullable=False)
    email_key: Mapped[str] = mapped_column(String(254), nullable=False)
    email: Mapped[str] = mapped_column(String(254), nullable=False)  # as given
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    expires_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        # An unused code is never issued twice, whichever worker issues it: the database
        # settles the race. Expired unused rows are deleted before a colliding insert.
        Index(
            "uq_ruuvi_code_unused_hmac",
            "code_hmac",
            unique=True,
            sqlite_where=text("used_at IS NULL"),
            postgresql_where=text("used_at IS NULL"),
        ),
        # One live code per address: a new /register ends the earlier ones, so an attacker
        # cannot multiply a victim's live codes (each one a target for a guess).
        Index(
            "uq_ruuvi_code_unused_email",
            "email_key",
            unique=True,
            sqlite_where=text("used_at IS NULL"),
            postgresql_where=text("used_at IS NULL"),
        ),
    )


class RuuviToken(Model):
    """One sign-in session; the token itself is stored only as its SHA-256."""

    __tablename__ = "ruuvi_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ruuvi_user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_accessed: Mapped[int] = mapped_column(BigInteger, nullable=False)


class RuuviSetting(Model):
    """One account setting of ``POST /settings`` (at most ``SETTINGS_MAX`` per account)."""

    __tablename__ = "ruuvi_setting"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ruuvi_user.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    value: Mapped[str] = mapped_column(String(1024), nullable=False)
    updated_at: Mapped[int] = mapped_column(BigInteger, nullable=False)

    # One row per name and account: concurrent first writes of a name settle in the database.
    __table_args__ = (UniqueConstraint("user_id", "name"),)
