"""Hue whitelist tables. Dates are epoch seconds (UTC), printed as Hue strings on the wire."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model


class HueWhitelist(Model):
    """A whitelisted application key (the Hue "username")."""

    __tablename__ = "hue_whitelist"

    username: Mapped[str] = mapped_column(String(40), primary_key=True)
    # SHA-256 of the username: requests are matched on it, so the time a lookup takes
    # says nothing about how much of a guessed key is right.
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(160), nullable=False)  # latest devicetype
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_used_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    clientkey: Mapped[str | None] = mapped_column(String(32), nullable=True)


class HueWhitelistPair(Model):
    """Every ``(username, devicetype)`` pair that registered."""

    __tablename__ = "hue_whitelist_pair"

    username: Mapped[str] = mapped_column(
        String(40), ForeignKey("hue_whitelist.username", ondelete="CASCADE"), primary_key=True
    )
    devicetype: Mapped[str] = mapped_column(String(160), primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
