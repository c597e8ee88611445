"""``GET /healthz``: the process answers and the database does a round trip."""

from flask import Blueprint
from sqlalchemy import text

from app.envelopes import json_response
from app.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 ``{"status":"ok"}`` after ``SELECT 1``; 503 ``{"status":"error"}`` if it fails."""
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except Exception:
        db.session.rollback()
        return json_response({"status": "error"}, 503)
    return json_response({"status": "ok"})
