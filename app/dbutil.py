"""Small database helpers that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, event, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, CursorResult, Dialect, Engine
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.exc import DBAPIError
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
    if in_transaction():
        return list(run(statement, **params))
    with db.engine.connect() as connection:
        return list(_execute(connection, statement, params))


def in_transaction() -> bool:
    """Whether this app context's session has a transaction open (without creating the
    session to ask: a request that never touched it should not build one)."""
    return db.session.registry.has() and db.session().in_transaction()


def roll_back() -> None:
    """End the session's transaction, if this app context has one."""
    if in_transaction():
        db.session.rollback()


def table(model: type) -> Table:
    """The Core table of a mapped class (typed: ``__table__`` is a plain FromClause)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def run(statement: Executable, **params: Any) -> Any:
    """Execute a prebuilt Core statement with ``params`` in the session's transaction.

    For the hot paths (a passphrase, a claim, a registration): a statement built once at
    import with bind parameters, run on the session's connection, skips building the
    expression and the ORM's execution layer on every call (measured on SQLite: 88 µs for
    an ORM ``select`` built per call, 13 µs this way). Nothing the ORM holds is flushed or
    refreshed, so use it for tables the request does not also handle as ORM objects.
    """
    return _execute(db.session.connection(), statement, params)


def _execute(connection: Connection, statement: Executable, params: dict[str, Any]) -> Any:
    plan = _plan_of(statement, connection.dialect, params)
    if plan is None or params.keys() != plan.keys:
        return connection.execute(statement, params)
    return plan.execute(connection, params)


class _Fetched(IteratorResult):
    """SQLAlchemy's own result (``first``, ``one``, ``scalars`` …) over the rows a planned
    statement fetched from the DBAPI cursor, with the cursor's ``rowcount``."""

    def __init__(self, metadata: SimpleResultMetaData, rows: Sequence[Any], rowcount: int):
        super().__init__(metadata, iter(rows))
        self.rowcount = rowcount


class _Plan:
    """A prebuilt statement compiled once for a dialect, run on the DBAPI cursor.

    SQLAlchemy's execution layer (execution context, result metadata, events) costs about
    50 µs per statement on top of SQLite's own 15 (bench/: a third of a Hue registration's
    database time). A statement whose parameters and result columns need no type conversion
    on the dialect runs here instead, with the same SQL, on the same connection and
    transaction (SQLite's cooperative lock waits included). Anything else — an expanding
    ``IN``, a Python-side default, a converted type — keeps SQLAlchemy's path.
    """

    __slots__ = ("statement", "keys", "sql", "binds", "positional", "columns")

    def __init__(
        self, statement: Executable, keys: frozenset, sql: str, binds: list, positional: bool
    ):
        self.statement = statement  # keeps id(statement) from being reused while cached
        # SQLAlchemy compiles an INSERT or UPDATE for the parameter names it is given (the
        # columns to set); a call with other names takes SQLAlchemy's path.
        self.keys = keys
        self.sql = sql
        self.binds = binds  # (compiled name, key in params, default)
        self.positional = positional
        self.columns: SimpleResultMetaData | None = None  # from the first answer's description

    def execute(self, connection: Connection, params: dict[str, Any]) -> _Fetched:
        """Run with ``params`` (by bind key) on ``connection``'s DBAPI connection."""
        values: Any
        if self.positional:
            values = [params.get(key, default) for _, key, default in self.binds]
        else:
            values = {name: params.get(key, default) for name, key, default in self.binds}
        raw = connection.connection.dbapi_connection
        cursor = raw.cursor()  # type: ignore[union-attr]
        try:
            try:
                cursor.execute(self.sql, values)
            except connection.dialect.loaded_dbapi.Error as exc:
                raise self._wrapped(connection, raw, cursor, exc, values) from exc
            if cursor.description is None:
                return _Fetched(_NO_COLUMNS, [], cursor.rowcount)
            if self.columns is None:
                self.columns = SimpleResultMetaData([column[0] for column in cursor.description])
            return _Fetched(self.columns, cursor.fetchall(), cursor.rowcount)
        finally:
            cursor.close()

    def _wrapped(
        self, connection: Connection, raw: Any, cursor: Any, exc: Any, values: Any
    ) -> Exception:
        # As SQLAlchemy's own execution would: its exception classes (callers and the CLI
        # catch those), and a connection the server dropped is not returned to the pool.
        dialect = connection.dialect
        lost = dialect.is_disconnect(exc, raw, cursor)
        if lost:
            connection.invalidate(exc)
        return DBAPIError.instance(
            self.sql,
            values,
            exc,
            dialect.loaded_dbapi.Error,
            hide_parameters=True,  # parameters hold codes and keys: never in a log line
            connection_invalidated=lost,
            dialect=dialect,
        )


_NO_COLUMNS = SimpleResultMetaData([])
_PLANS: dict[tuple[int, str], _Plan | None] = {}
_PLAN_LIMIT = 512  # statements are module constants and cached shapes: a bounded set


def _plan_of(statement: Executable, dialect: Dialect, params: dict[str, Any]) -> _Plan | None:
    key = (id(statement), dialect.name)
    try:
        return _PLANS[key]
    except KeyError:
        pass
    if len(_PLANS) >= _PLAN_LIMIT:
        return None  # no room to keep a plan: SQLAlchemy's own cache, not a compile per call
    plan = _PLANS[key] = _compile_plan(statement, dialect, frozenset(params))
    return plan


def _compile_plan(statement: Executable, dialect: Dialect, keys: frozenset) -> _Plan | None:
    compiled = cast(Any, statement).compile(dialect=dialect, column_keys=sorted(keys))
    if compiled.insert_prefetch or compiled.update_prefetch:
        return None  # Python-side defaults are computed by SQLAlchemy's execution context
    for column in getattr(statement, "exported_columns", ()):
        if column.type.result_processor(dialect, None) is not None:
            return None
    binds = []
    if compiled.positional:
        order = [(compiled.binds[name], name) for name in compiled.positiontup]
    else:
        order = list(compiled.bind_names.items())
    for bind, name in order:
        if bind.expanding or bind.callable is not None:
            return None
        if bind.type.bind_processor(dialect) is not None:
            return None
        escaped = (compiled.escaped_bind_names or {}).get(name, name)
        binds.append((escaped, bind.key, bind.value))
    return _Plan(statement, keys, compiled.string, binds, compiled.positional)


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
    return list(_execute(db.session.connection(), statement, params).scalars())


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
