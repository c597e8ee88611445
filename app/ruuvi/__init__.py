"""Ruuvi Cloud User API: e-mail code sign-in, tokens, sessions."""

from flask import Blueprint, Flask

bp = Blueprint("ruuvi", __name__)

from app.ruuvi import cli, errors, models, openapi, views  # noqa: E402,F401  (routes, tables, errors, document, commands)


def init_app(app: Flask) -> None:
    """Serve the Ruuvi Cloud User API on ``app``; add ``flask ruuvi``."""
    app.register_blueprint(bp)
    app.cli.add_command(cli.ruuvi)
