"""Tables shared by the protocols: small settings and the mail outbox."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model


class Setting(Model):
    """A named value every worker and host must agree on (Hue MAC, link-button press…)."""

    __tablename__ = "setting"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class MailOutbox(Model):
    """An e-mail waiting to be sent; written in the transaction that needs it sent."""

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    to_addr: Mapped[str] = mapped_column(String(320), nullable=False)
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)  # sealed: app.mail.seal()
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)  # epoch s
    next_attempt_at: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    locked_until: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sent_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    given_up: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditEvent(Model):
    """One pairing event (claim, pairing, app registration, sign-in, limit hit…).

    Written in batches by :mod:`app.events`; pruned after ``AUDIT_RETENTION_DAYS``.
    """

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger, nullable=False)  # epoch ms
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str] = mapped_column(Text, nullable=False)  # compact JSON, no secrets

    __table_args__ = (Index("ix_audit_event_at", "at"),)
