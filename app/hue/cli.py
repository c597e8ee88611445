"""``flask hue …`` commands."""

import signal
import threading

import click
from flask import current_app

from app.cli import HomepairGroup
from app.clock import hue_time
from app.extensions import db
from app.hue import discovery, service


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


@hue.command("advertise")
@click.option("--port", type=int, required=True, help="The port the Hue API is served on.")
def advertise(port: int) -> None:
    """Advertise this bridge by mDNS and SSDP on HUE_DISCOVERY until TERM or INT (gunicorn's
    master runs this once per host when HUE_DISCOVERY is set)."""
    chosen = discovery.addresses(current_app.config["HUE_DISCOVERY"])
    if not chosen:
        raise click.ClickException("HUE_DISCOVERY names no IPv4 address to advertise on")
    # The bridge's identity is in the database (made once, the same for every worker).
    config = service.short_config()
    db.session.commit()
    db.session.remove()
    bridge = discovery.Bridge(
        config["bridgeid"], config["mac"].replace(":", ""), port, config["apiversion"]
    )
    where = ", ".join(address.ip for address in chosen)
    click.echo(f"Hue discovery: bridge {bridge.bridge_id} on {where}, API port {port}")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    discovery.advertise(bridge, chosen, stop)
