"""Web tables: administrators added with ``flask admin add`` (besides ``ADMIN_EMAILS``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model


class WebAdmin(Model):
    """An address whose signed-in web session may act as an administrator."""

    __tablename__ = "web_admin"

    email_key: Mapped[str] = mapped_column(String(254), primary_key=True)  # lower-cased
    added_at: Mapped[int] = mapped_column(BigInteger, nullable=False)  # epoch seconds
