"""Fixtures: an app on a fresh database per test, its clients, and live gunicorn servers."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

from app import create_app
from app.extensions import db, limiter
from tests.live import LiveServer, wait_for_stopped

# Property-based and fuzz tests (tests/fuzz): "ci", the default, is deterministic and bounded so
# `make test` takes the same time on every run; HYPOTHESIS_PROFILE=dev explores more, at random.
settings.register_profile(
    "ci",
    derandomize=True,
    # No shrinking: a failure is reported as found, in bounded time (use "dev" to shrink).
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    database=None,
    deadline=None,
    max_examples=30,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def make_app(tmp_path):
    """Factory: ``make_app(**settings)`` → an app on its own fresh SQLite file.

    Tables come from the models (migrations are tested apart); rate-limit counters are reset.
    """
    made = []

    def make(**settings):
        config = {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / f'test-{len(made)}.db'}",
            "SECRET_KEY": "test-secret",
            # The suite makes thousands of devices from one address; the limit's own tests
            # (tests/nest/test_bounds.py) set it back.
            "NEST_NEW_DEVICES_LIMIT_PER_IP": "1000000/hour",
            **settings,
        }
        app = create_app(config)
        with app.app_context():
            db.create_all()
        made.append(app)
        limiter.reset()
        return app

    yield make
    limiter.reset()
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    """The app with default settings on a fresh database."""
    return make_app()


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """Flask CLI runner."""
    return app.test_cli_runner()


@pytest.fixture
def start_server(tmp_path):
    """Factory: ``start_server(workers=1, **env)`` → a started :class:`LiveServer`.

    Each server gets a fresh migrated database unless ``DATABASE_URL`` is given; all are
    stopped when the test ends.
    """
    servers: list[LiveServer] = []

    def start(workers: int = 1, **env) -> LiveServer:
        server = LiveServer(tmp_path, workers=workers, **env).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop_in_background()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One default server shared by a test module (tests use unique serials/usernames)."""
    server = LiveServer(tmp_path_factory.mktemp("live")).start()
    yield server
    server.stop_in_background()


@pytest.fixture(scope="session", autouse=True)
def _servers_gone_at_the_end():
    """Servers stopped in the background by fixtures have all exited when the session ends."""
    yield
    wait_for_stopped()
    from tests.services import drop_migrated_template

    drop_migrated_template()


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    from tests.services import fresh_postgres_database

    url, drop = fresh_postgres_database()
    yield url
    drop()


@pytest.fixture
def migrated_postgres_url():
    """A fresh PostgreSQL database as ``flask db upgrade`` leaves it (dropped afterwards)."""
    from tests.services import migrated_postgres_database

    url, drop = migrated_postgres_database()
    yield url
    drop()


@pytest.fixture
def redis_url():
    """A flushed Redis logical database for one test."""
    from tests.services import fresh_redis_url

    return fresh_redis_url()


@pytest.fixture
def four_workers(migrated_postgres_url, redis_url, start_server):
    """Factory: four gevent workers on a migrated PostgreSQL + Redis (the shared one unless
    ``redis`` is given), as the README's scale-out deployment runs them."""

    def make(redis: str | None = None, **env):
        return start_server(
            workers=4, DATABASE_URL=migrated_postgres_url, REDIS_URL=redis or redis_url, **env
        )

    return make
