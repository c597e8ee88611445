"""``flask nest …`` commands."""

import sys

import click
from flask.cli import with_appcontext

from app.nest import simulator


@click.group()
def nest():
    """Nest (NoLongerEvil) tools."""


@nest.command("simulate")
@click.option(
    "--server", required=True, help="Base URL of a homepair server, e.g. http://127.0.0.1:8082"
)
@click.option("--serial", required=True, help="Device serial (10+ letters and digits)")
@click.option("--timeout", default=900.0, show_default=True, help="Seconds to wait for pairing")
def simulate(server: str, serial: str, timeout: float):
    """Act as a thermostat: show an entry key, hold subscribes, exit 0 once paired."""
    status = simulator.run(server, serial, timeout, say=lambda line: click.echo(line))
    sys.exit(status)


@nest.command("sweep")
@with_appcontext
def sweep():
    """Delete unpaired devices unseen for NEST_UNPAIRED_DEVICE_MAX_AGE_SECONDS and old keys."""
    from flask import current_app

    from app.extensions import db
    from app.nest import service

    devices, keys = service.sweep(current_app.config["NEST_UNPAIRED_DEVICE_MAX_AGE_SECONDS"])
    db.session.commit()
    click.echo(f"Swept {devices} unpaired devices and {keys} entry keys")
