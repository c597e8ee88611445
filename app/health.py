"""``GET /healthz``: the database, the migrations and Redis, each reported on its own.

``status`` is ``ok`` when all are well, ``degraded`` (still 200) when Redis is down or the
schema is not at the newest migration, and ``error`` (503) when the database fails: a load
balancer takes the host out only when it cannot serve at all.
"""

from __future__ import annotations

import os

from alembic.script import ScriptDirectory
from flask import Blueprint, current_app
from sqlalchemy import text

from app.envelopes import json_response
from app.extensions import db, guard

bp = Blueprint("health", __name__)

MIGRATIONS = os.path.join(os.path.dirname(__file__), "..", "migrations")
_HEAD = "homepair.migration_head"


def _head() -> str | None:
    # Read once per process: the scripts do not change under a running server.
    if _HEAD not in current_app.extensions:
        current_app.extensions[_HEAD] = ScriptDirectory(MIGRATIONS).get_current_head()
    return current_app.extensions[_HEAD]


def _database() -> tuple[str, str]:
    """``(database, migrations)``: ``ok``/``down`` and ``head``/``behind``/``not migrated``."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        db.session.rollback()
        return "down", "unknown"
    try:
        current = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:
        current = None
    db.session.rollback()
    if current is None:
        return "ok", "not migrated"
    return "ok", "head" if current == _head() else "behind"


@bp.get("/healthz")
def healthz():
    """The health of each part; 503 only when the database fails."""
    database, migrations = _database()
    redis = "not used"
    if current_app.config.get("REDIS_URL"):
        redis = "ok" if guard.storage_ok() else "down"
    if database != "ok":
        status = "error"
    elif redis == "down" or migrations != "head":
        status = "degraded"
    else:
        status = "ok"
    body = {"status": status, "database": database, "migrations": migrations, "redis": redis}
    return json_response(body, 503 if status == "error" else 200)
