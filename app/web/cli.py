"""``flask admin …``: who may press the Hue link button and revoke apps on the web pages."""

from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import delete, select

from app.cli import HomepairGroup
from app.clock import now_s
from app.dbutil import affected, insert_ignore
from app.extensions import db
from app.web.models import WebAdmin


@click.group(cls=HomepairGroup)
def admin() -> None:
    """Web administrators."""


@admin.command("add")
@click.argument("email")
def add(email: str) -> None:
    """Make EMAIL an administrator once it signs in on /signin."""
    key = email.strip().lower()
    if "@" not in key:
        raise click.BadParameter("not an e-mail address", param_hint="EMAIL")
    insert_ignore(WebAdmin, email_key=key, added_at=now_s())
    db.session.commit()
    click.echo(f"{key} is an administrator (after signing in at /signin)")


@admin.command("remove")
@click.argument("email")
def remove(email: str) -> None:
    """Take EMAIL's administrator rights (ADMIN_EMAILS entries stay)."""
    key = email.strip().lower()
    gone = affected(delete(WebAdmin).where(WebAdmin.email_key == key))
    db.session.commit()
    click.echo(f"{key} removed" if gone else f"{key} was not added with flask admin add")


@admin.command("list")
def list_admins() -> None:
    """Every administrator: from ADMIN_EMAILS and from flask admin add."""
    for key in current_app.config["ADMIN_EMAILS"]:
        click.echo(f"{key}\t(ADMIN_EMAILS)")
    for key in db.session.execute(
        select(WebAdmin.email_key).order_by(WebAdmin.email_key)
    ).scalars():
        click.echo(f"{key}\t(flask admin add)")
