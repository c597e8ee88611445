"""``flask hue …`` commands."""

import click

from app.cli import HomepairGroup
from app.clock import hue_time
from app.extensions import db
from app.hue import service


# An AppGroup: commands run in an app context under the test runner too, not only `flask`.
@click.group(cls=HomepairGroup)
def hue() -> None:
    """Philips Hue bridge tools."""


@hue.command("press-link-button")
def press_link_button() -> None:
    """Open the registration window for HUE_LINK_WINDOW_SECONDS (every worker sees it)."""
    until = service.press_link_button()
    db.session.commit()
    click.echo(f"Link button pressed; registration open until {hue_time(until)}Z")


@hue.command("apps")
def apps() -> None:
    """List the paired apps: key (shortened), name, created and last used (UTC)."""
    for key, entry in service.whitelist().items():
        click.echo(
            f"{key[:6]}…\t{entry['name']}\tcreated {entry['create date']}Z"
            f"\tlast used {entry['last use date']}Z"
        )


@hue.command("revoke")
@click.argument("key")
def revoke(key: str) -> None:
    """Remove the app whose whole key is KEY from the whitelist."""
    if not service.delete_key(key):
        raise click.ClickException("no app has that key")
    db.session.commit()
    click.echo(f"Revoked {key[:6]}…")
