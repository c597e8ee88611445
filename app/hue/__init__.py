"""Philips Hue bridge API v1: application registration."""

from flask import Blueprint, Flask

bp = Blueprint("hue", __name__)

from app.hue import cli, errors, models, openapi, views  # noqa: E402,F401  (routes, tables, errors, document, commands)


def init_app(app: Flask) -> None:
    """Serve the Hue bridge API on ``app``; add ``flask hue``."""
    app.register_blueprint(bp)
    app.cli.add_command(cli.hue)
