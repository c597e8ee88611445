"""Philips Hue bridge API v1: application registration."""

from flask import Blueprint

bp = Blueprint("hue", __name__)

from app.hue import errors, openapi, views  # noqa: E402,F401  (routes, errors, document)
