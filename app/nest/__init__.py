"""Nest (NoLongerEvil firmware): device transport and control API."""

from flask import Blueprint

bp = Blueprint("nest", __name__)

from app.nest import control, device, errors, openapi  # noqa: E402,F401  (routes, errors, document)
