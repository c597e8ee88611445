"""``flask hue …`` commands."""

import click
from flask.cli import AppGroup

from app.clock import hue_time
from app.extensions import db
from app.hue import service


# AppGroup: commands run in an app context under the test runner too, not only `flask`.
@click.group(cls=AppGroup)
def hue():
    """Philips Hue bridge tools."""


@hue.command("press-link-button")
def press_link_button():
    """Open the registration window for HUE_LINK_WINDOW_SECONDS (every worker sees it)."""
    until = service.press_link_button()
    db.session.commit()
    click.echo(f"Link button pressed; registration open until {hue_time(until)}Z")
