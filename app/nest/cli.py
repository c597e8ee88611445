"""``flask nest …`` commands."""

import sys

import click
from flask import current_app

from app.cli import HomepairGroup
from app.extensions import db
from app.nest import service, simulator


@click.group(cls=HomepairGroup)
def nest():
    """Nest (NoLongerEvil) tools."""


@nest.command("simulate")
@click.option(
    "--server", required=True, help="Base URL of a homepair server, e.g. http://127.0.0.1:8082"
)
@click.option("--serial", required=True, help="Device serial (10+ letters and digits)")
@click.option("--timeout", default=900.0, show_default=True, help="Seconds to wait for pairing")
def simulate(server: str, serial: str, timeout: float) -> None:
    """Act as a thermostat: show an entry key, hold subscribes, exit 0 once paired."""
    status = simulator.run(server, serial, timeout, say=lambda line: click.echo(line))
    sys.exit(status)


@nest.command("sweep")
def sweep():
    """Delete unpaired devices unseen for NEST_UNPAIRED_DEVICE_MAX_AGE_SECONDS and old keys."""
    devices, keys = service.sweep(current_app.config["NEST_UNPAIRED_DEVICE_MAX_AGE_SECONDS"])
    db.session.commit()
    click.echo(f"Swept {devices} unpaired devices and {keys} entry keys")


@nest.command("devices")
@click.option("--user", "user_id", help="Only this user's devices.")
def devices(user_id: str | None) -> None:
    """List the devices (newest first): serial, owner, last seen (epoch ms)."""
    offset = 0
    while True:
        page, total = service.list_devices(user_id, lambda serial: 0, 1000, offset)
        for item in page:
            click.echo(f"{item['serial']}\t{item['userId'] or '-'}\tlast seen {item['lastSeen']}")
        offset += len(page)
        if not page or offset >= total:
            return


@nest.command("remove")
@click.argument("serial")
@click.option("--user", "user_id", required=True, help="The user the device is registered to.")
def remove(serial: str, user_id: str) -> None:
    """Unregister SERIAL from USER (as DELETE /api/registered-devices/SERIAL does)."""
    deleted, _ = service.unregister(serial, user_id)
    if not deleted:
        db.session.rollback()
        raise click.ClickException(f"{user_id} has no device {serial}")
    db.session.commit()  # wakes the user's other devices
    click.echo(f"Device {serial} removed from {user_id}")
