"""``flask nest …`` commands."""

import sys

import click

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
