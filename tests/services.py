"""The machine's PostgreSQL and Redis for integration tests.

Without them a test is skipped on a developer's machine, but with HOMEPAIR_REQUIRE_SERVICES=1
(set by .ci/run) a missing service fails the run instead of hiding tests.
"""

from __future__ import annotations

import os
import secrets
import time

import psycopg
import pytest
import redis

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_HOST = "127.0.0.1"


def _unavailable(what: str, exc: Exception):
    message = f"{what} is not reachable: {exc}"
    if os.environ.get("HOMEPAIR_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _drop(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_postgres_database() -> tuple[str, callable]:
    """Create an empty database; returns its SQLAlchemy URL and a function dropping it."""
    name = f"homepair_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        _unavailable("PostgreSQL", exc)

    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", lambda: _drop(name)


_template: str | None = None


def _migrated_template() -> str:
    """The name of a PostgreSQL database migrated once per session with ``flask db upgrade``."""
    global _template
    if _template is None:
        from tests.test_postgres import flask_db

        url, _ = fresh_postgres_database()
        upgrade = flask_db(url, "upgrade")
        assert upgrade.returncode == 0, upgrade.stderr
        _template = url.rsplit("/", 1)[1]
    return _template


def drop_migrated_template() -> None:
    """Drop the session's migrated template database, if one was made."""
    global _template
    if _template is not None:
        _drop(_template)
        _template = None


def migrated_postgres_database() -> tuple[str, callable]:
    """A database as ``flask db upgrade`` leaves it: a copy of the session's migrated template
    (``CREATE DATABASE ... TEMPLATE``), not a migration run per test. Returns its SQLAlchemy
    URL and a function dropping it."""
    template = _migrated_template()
    name = f"homepair_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
        for attempt in range(50):
            try:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                break
            except psycopg.errors.ObjectInUse:
                # The upgrade's own connection may take a moment to be gone.
                if attempt == 49:
                    raise
                time.sleep(0.1)

    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", lambda: _drop(name)


_next_db = iter(range(1, 16))


def fresh_redis_url() -> str:
    """A flushed Redis logical database (1..15, one per test in a session)."""
    number = next(_next_db, None)
    if number is None:
        number = 15
    try:
        client = redis.Redis(host=REDIS_HOST, db=number, socket_connect_timeout=2)
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        _unavailable("Redis", exc)
    return f"redis://{REDIS_HOST}:6379/{number}"
