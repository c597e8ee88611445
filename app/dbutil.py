"""Small database helpers that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Hashable
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, event, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from app.extensions import db

log = logging.getLogger(__name__)
_AFTER_COMMIT = "homepair.after_commit"


def after_commit(key: Hashable, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the current transaction has committed; never if it rolls back.

    One callback per ``key`` per transaction (a later one replaces it), so a use case can
    queue its wake-up where it makes the change and the commit decides whether it happens:
    "commit, then publish" cannot be forgotten or done early.
    """
    db.session.info.setdefault(_AFTER_COMMIT, {})[key] = callback


def queued_after_commit(key: Hashable) -> Callable[[], None] | None:
    """The callback queued under ``key`` in the current transaction, if any."""
    return db.session.info.get(_AFTER_COMMIT, {}).get(key)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, {}).values():
        try:
            callback()
        except Exception:  # the data is committed; a lost hint is caught up on later
            log.exception("after-commit callback failed")


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


def affected(statement: Executable) -> int:
    """Execute an UPDATE or DELETE in the session; the number of rows it matched."""
    return cast(CursorResult, db.session.execute(statement)).rowcount


def read(statement: Executable, **params: Any) -> list[Row]:
    """The rows of a prebuilt read, outside the session when it has no transaction open.

    A request that only reads (a Hue app asking while the button is not pressed) then skips
    the session's transaction bookkeeping and its rollback (about a fifth of such an answer).
    Inside an open transaction the read joins it, so it sees what the transaction wrote.
    """
    if db.session().in_transaction():
        return list(run(statement, **params))
    with db.engine.connect() as connection:
        return list(connection.execute(statement, params))


def table(model: type) -> Table:
    """The Core table of a mapped class (typed: ``__table__`` is a plain FromClause)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def run(statement: Executable, **params: Any) -> CursorResult:
    """Execute a prebuilt Core statement with ``params`` in the session's transaction.

    For the hot paths (a passphrase, a claim, a registration): a statement built once at
    import with bind parameters, run on the session's connection, skips building the
    expression and the ORM's execution layer on every call (measured on SQLite: 88 µs for
    an ORM ``select`` built per call, 13 µs this way). Nothing the ORM holds is flushed or
    refreshed, so use it for tables the request does not also handle as ORM objects.
    """
    return db.session.connection().execute(statement, params)


def insert_ignore(model: type, **values: Any) -> int:
    """INSERT a row unless it violates a unique constraint; return the rows inserted (0/1).

    Used where workers may race to create the same row: the database decides, without a
    savepoint (pysqlite's are unreliable).
    """
    return insert_ignore_many(model, [values])


def insert_ignore_many(model: type, rows: list[dict]) -> int:
    """:func:`insert_ignore` for many rows in one statement; returns the rows inserted."""
    return len(inserted_of(model, rows))


def inserted_of(model: type, rows: list[dict], returning: str | None = None) -> list[Any]:
    """INSERT ``rows`` in one statement, skipping those that violate a unique constraint;
    the value of column ``returning`` of each row inserted (1 for each without it)."""
    if not rows:
        return []
    names = tuple(rows[0])
    mapped = table(model)
    statement = _insert_ignore_text(mapped, names, len(rows), returning)
    defaults = _scalar_defaults(mapped, names)
    params: dict[str, Any] = {}
    for number, row in enumerate(rows):
        for name in names:
            params[f"{name}_{number}"] = row[name]
        for column, value in defaults:
            params[f"{column}_{number}"] = value
    # Count returned rows, not rowcount: on PostgreSQL rowcount of an INSERT … RETURNING
    # is not what was inserted under every driver (a lost race once looked like a win).
    return list(db.session.connection().execute(statement, params).scalars())


@functools.lru_cache(maxsize=256)
def _scalar_defaults(table: Table, names: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    defaults = []
    for column in table.columns:
        if column.name in names or column.default is None:
            continue
        if not isinstance(column.default, ScalarElementColumnDefault):
            raise TypeError(f"insert_ignore: {table.name}.{column.name} has a non-scalar default")
        defaults.append((column.name, column.default.arg))
    return tuple(defaults)


@functools.lru_cache(maxsize=256)
def _insert_ignore_text(
    table: Table, names: tuple[str, ...], count: int, returning: str | None = None
) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING 1`` as a text statement, built once.

    SQLAlchemy cannot cache the SQLite and PostgreSQL ``Insert`` constructs (no cache key
    in 2.0), so building and compiling one cost about 200 µs per call, a third of a Hue
    registration; this text is the same SQL for both databases (SQLite ≥ 3.35), typed bind
    parameters keep the columns' conversions, and it compiles once per shape (≈ 30 µs a call).
    """
    quote = _QUOTER.quote
    columns = list(names) + [name for name, _ in _scalar_defaults(table, names)]
    rows = ", ".join(
        "(" + ", ".join(f":{name}_{number}" for name in columns) + ")" for number in range(count)
    )
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in columns)}) "
        f"VALUES {rows} ON CONFLICT DO NOTHING RETURNING {quote(returning) if returning else 1}"
    )
    binds = [
        bindparam(f"{name}_{number}", type_=table.c[name].type)
        for number in range(count)
        for name in columns
    ]
    return text(sql).bindparams(*binds)


# Both databases quote identifiers with double quotes; PostgreSQL's preparer knows both
# dialects' reserved words well enough for table and column names.
_QUOTER = postgresql.dialect().identifier_preparer


# How long a writer waits for another process's write lock before the error reaches the app.
LOCK_WAIT_SECONDS = 10.0


def _with_lock_retry(connection: sqlite3.Connection, call: Callable[[], Any], restart: bool) -> Any:
    """Run ``call``; while SQLite reports the write lock taken, sleep and try again.

    SQLite's own busy handler sleeps inside the C call, which freezes every greenlet of a
    gevent worker (measured: p99s of hundreds of ms with two workers). Here the wait is
    ``time.sleep``, which gevent makes cooperative. ``restart``: the statement opened the
    transaction itself (pysqlite begins one right before the first INSERT/UPDATE/DELETE),
    so after a refusal nothing is written yet and the transaction starts over; a refusal
    inside an older transaction is raised as before.
    """
    fresh = not connection.in_transaction
    delay = 0.001
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if "database is locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            if restart:
                if not fresh:
                    raise
                connection.rollback()
            time.sleep(delay)
            delay = min(delay * 2, 0.005)  # short: a waiter that sleeps long keeps losing the lock


class CooperativeCursor(sqlite3.Cursor):
    """A cursor whose statements wait for the write lock without blocking the gevent hub."""

    def execute(self, sql, parameters=()):
        """``sqlite3.Cursor.execute``, retried while another writer holds the lock."""
        return _with_lock_retry(
            self.connection, lambda: sqlite3.Cursor.execute(self, sql, parameters), True
        )

    def executemany(self, sql, seq_of_parameters):
        """``sqlite3.Cursor.executemany``, retried while another writer holds the lock."""
        rows = list(seq_of_parameters)
        return _with_lock_retry(
            self.connection, lambda: sqlite3.Cursor.executemany(self, sql, rows), True
        )


class CooperativeConnection(sqlite3.Connection):
    """``sqlite3.connect(factory=...)`` for SQLite under gevent (see ``_with_lock_retry``)."""

    def cursor(self, factory=CooperativeCursor):
        """Cursors retry lock contention cooperatively."""
        return super().cursor(factory)

    def commit(self):
        """A busy COMMIT leaves the transaction open and may simply be retried."""
        return _with_lock_retry(self, lambda: sqlite3.Connection.commit(self), False)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # WAL lets readers run while one worker writes; busy_timeout 0 leaves lock waits to
    # CooperativeConnection; foreign keys make ON DELETE CASCADE real.
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        busy_ms = 0 if isinstance(dbapi_connection, CooperativeConnection) else 10000
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
