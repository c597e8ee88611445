"""Small database helpers that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3

from sqlalchemy import event, literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from app.extensions import db


def insert_ignore(model, **values) -> int:
    """INSERT a row unless it violates a unique constraint; return the rows inserted (0/1).

    Used where workers may race to create the same row: the database decides, without a
    savepoint (pysqlite's are unreliable).
    """
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(model).values(**values).on_conflict_do_nothing()
    # Count returned rows, not rowcount: on PostgreSQL SQLAlchemy adds an implicit RETURNING
    # for an autoincrement key and rowcount then reads -1 (a lost race looked like a win).
    return len(db.session.execute(stmt.returning(literal_column("1"))).all())


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers run while one worker writes; busy_timeout makes writers queue
    # instead of failing at once; foreign keys make ON DELETE CASCADE real.
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
