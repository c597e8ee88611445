"""``flask hue …`` commands."""

import click


@click.group()
def hue():
    """Philips Hue bridge tools."""
