"""What every ``flask …`` command of homepair shares: a database failure is one line.

A command run against a database that is unreachable or was never migrated (``flask db
upgrade``) says so in one line and exits 2, instead of printing SQLAlchemy's traceback.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from flask.cli import AppGroup, ScriptInfo
from sqlalchemy.exc import SQLAlchemyError

from app import events


class HomepairGroup(AppGroup):
    """A command group whose commands run in an app context and fail in one line."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a database error becomes one line and exit status 2.

        Events the command caused (a press, a revocation) are written to the audit table
        before the process ends: no worker's batch writer runs here.
        """
        try:
            result = super().invoke(ctx)
            events.flush(ctx.ensure_object(ScriptInfo).load_app())
            return result
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            click.echo(
                f"homepair: the database refused this ({reason}); is it reachable and migrated"
                " (flask --app wsgi db upgrade)?",
                err=True,
            )
            ctx.exit(2)


@click.group(cls=HomepairGroup, invoke_without_command=True)
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.option("--event", "prefix", help="Only events starting with this, e.g. nest.claim")
@click.pass_context
def events_command(ctx: click.Context, limit: int, prefix: str | None) -> None:
    """The newest pairing events (the audit table): time (UTC), event, client, fields."""
    if ctx.invoked_subcommand is not None:
        return
    for row in events.recent(limit, prefix):
        when = datetime.fromtimestamp(row["at"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        fields = " ".join(f"{name}={value}" for name, value in row["fields"].items())
        click.echo(f"{when}Z\t{row['event']}\t{row['client'] or '-'}\t{fields}")


@click.group(cls=HomepairGroup)
def mail_command() -> None:
    """The e-mail outbox."""


@mail_command.command("send")
@click.option("--wake-fd", type=int, default=None, help="Read end of the workers' wake-up pipe.")
def mail_send_command(wake_fd: int | None) -> None:
    """Send the outbox until stopped (SIGTERM): the sender process gunicorn.conf.py starts
    beside the workers. Safe to run on several hosts at once (rows are leased)."""
    from flask import current_app

    from app import mail

    mail.serve(current_app._get_current_object(), wake_fd)  # type: ignore[attr-defined]
