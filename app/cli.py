"""What every ``flask …`` command of homepair shares: a database failure is one line.

A command run against a database that is unreachable or was never migrated (``flask db
upgrade``) says so in one line and exits 2, instead of printing SQLAlchemy's traceback.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError


class HomepairGroup(AppGroup):
    """A command group whose commands run in an app context and fail in one line."""

    def invoke(self, ctx: click.Context):
        """Run the command; a database error becomes one line and exit status 2."""
        try:
            return super().invoke(ctx)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            click.echo(
                f"homepair: the database refused this ({reason}); is it reachable and migrated"
                " (flask --app wsgi db upgrade)?",
                err=True,
            )
            ctx.exit(2)
