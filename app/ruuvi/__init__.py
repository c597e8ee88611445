"""Ruuvi Cloud User API: e-mail code sign-in, tokens, sessions."""

from flask import Blueprint

bp = Blueprint("ruuvi", __name__)

from app.ruuvi import errors, openapi, views  # noqa: E402,F401  (routes, errors, document)
