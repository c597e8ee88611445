"""Nest (NoLongerEvil firmware): device transport and control API."""

from flask import Blueprint, Flask

bp = Blueprint("nest", __name__)

from app.nest import cli, control, device, errors, models, openapi  # noqa: E402,F401  (routes, tables, errors, document, commands)


def init_app(app: Flask) -> None:
    """Serve the Nest device transport and control API on ``app``; add ``flask nest``."""
    app.register_blueprint(bp)
    app.cli.add_command(cli.nest)
