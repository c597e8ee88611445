"""homepair: a self-hosted registration server for Nest, Hue and Ruuvi clients."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, cast

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from app import config as config_module

MAX_BODY = 1024 * 1024
# What one host's workers may open to a shared database in all, below PostgreSQL's default
# max_connections (100) with room for psql, migrations and a second host's CLI.
DB_CONNECTIONS_PER_HOST = 60


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application.

    Settings come from the environment (names in the spec's configuration table), then
    ``FLASK_*`` variables, then ``config`` (tests pass their settings here). A bad value
    raises :class:`app.config.ConfigError` naming the variable.
    """
    app = Flask(__name__, instance_relative_config=True)
    config_module.refuse_bypasses(os.environ)
    settings = config_module.load(os.environ, config)
    config_module.check_shared_secret(settings)
    app.config.update(settings)
    app.config.from_prefixed_env()
    if config:
        app.config.update({k: v for k, v in config.items() if k not in config_module.KNOWN})
    _derive(app)

    json_provider = cast(DefaultJSONProvider, app.json)
    json_provider.sort_keys = False
    json_provider.compact = True
    _logging(app.config["LOG_FORMAT"])
    # Alembic announces every plugin it loads at INFO; that is noise in CLI output.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    if app.config["TRUSTED_PROXY_HOPS"]:
        hops = app.config["TRUSTED_PROXY_HOPS"]
        # Flask's documented way to wrap the WSGI app (mypy sees a method being replaced).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    from app import bodies, errors, health, models  # noqa: F401  (models: register tables)
    from app.extensions import db, guard, limiter, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    limiter.init_app(app)
    # Nothing is limited by default or per blueprint: the decorated views (Ruuvi /register,
    # the sign-in form) check and hit their own limits before they run. flask-limiter's
    # per-request hook would only look for default limits on every request (about 60 µs of a
    # 400 µs Hue answer), so it is taken out again.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    # Its after-request hook only applies ``deduct_when`` limits and rate-limit headers (none
    # here: RATELIMIT_HEADERS_ENABLED is off), and its teardown resets a context that dies
    # with the request anyway (creating one first when no limit ran): both go too.
    inject_headers = type(limiter)._Limiter__inject_headers  # type: ignore[attr-defined]
    app.after_request_funcs[None] = [
        hook
        for hook in app.after_request_funcs[None]
        if getattr(hook, "func", None) is not inject_headers
    ]
    app.teardown_request_funcs[None].remove(limiter._Limiter__release_context)  # type: ignore[attr-defined]
    guard.init_app(app)
    errors.init_app(app)
    bodies.init_app(app)

    from app import cli as homepair_cli
    from app import events, hue, mail, metrics, nest, openapi, ruuvi, web

    app.register_blueprint(health.bp)
    # The rooms. Nest first: its static control paths must win over Hue's /api/<username>.
    for room in (nest, hue, ruuvi):
        room.init_app(app)
    app.register_blueprint(openapi.bp)
    # The web pages and their CSRF protection; the protocol APIs' clients send no CSRF token.
    web.init_app(app, exempt=(health.bp, nest.bp, hue.bp, ruuvi.bp))
    mail.init_app(app)
    events.init_app(app)
    metrics.init_app(app)
    _init_push(app)
    app.cli.add_command(homepair_cli.events_command, "events")
    app.cli.add_command(homepair_cli.mail_command, "mail")
    return app


def _logging(form: str) -> None:
    """INFO to stderr, as text or (``LOG_FORMAT=json``) one JSON object per line."""
    if form == "json":
        from app.events import JsonFormatter

        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler])
    else:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )


def _init_push(app: Flask) -> None:
    """In-process wake-ups, fanned out over Redis when ``REDIS_URL`` is set."""
    from app.pushhub import hub

    url = app.config.get("REDIS_URL")
    if not url:
        hub.attach(None)
        return
    from app.pushredis import RedisTransport

    transport = RedisTransport(hub, url)
    hub.attach(transport)
    # Each gunicorn worker starts its listener with its first request (after the fork).
    app.before_request(transport.ensure_started)


def _say_database(url: str) -> None:
    """Under the ``flask`` command, say which database it acts on (password hidden): a
    command run without the server's environment would otherwise act on another one."""
    import click
    from sqlalchemy.engine import make_url

    if click.get_current_context(silent=True) is not None:
        shown = make_url(url).render_as_string(hide_password=True)
        click.echo(f"homepair: database {shown}", err=True)


def _derive(app: Flask) -> None:
    """Settings computed from the environment-level ones."""
    # Owner-only: it holds the database and the generated secret key.
    os.makedirs(app.instance_path, mode=0o700, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config_module.instance_secret_key(app.instance_path)
    url = app.config.get("DATABASE_URL") or "sqlite:///" + os.path.join(
        app.instance_path, "homepair.db"
    )
    config_module.check_writable_database(url)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    _say_database(url)
    if url.startswith("sqlite"):
        # Greenlets queue for connections; SQLite calls never yield, so a modest pool is enough.
        options: dict[str, Any] = {"pool_size": 10, "max_overflow": 20, "pool_timeout": 10}
        from app.dbutil import CooperativeConnection

        # Lock waits happen in Python (cooperatively), not in SQLite's C busy handler.
        options["connect_args"] = {"timeout": 0, "factory": CooperativeConnection}
    else:
        # Every worker of a host shares PostgreSQL's connection limit (100 by default): the
        # host's workers together open at most DB_CONNECTIONS_PER_HOST; a burst waits for a
        # pooled connection instead of being refused by the server.
        workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
        per_worker = max(4, DB_CONNECTIONS_PER_HOST // max(1, workers))
        pool_size = max(2, per_worker // 3)
        options = {
            "pool_size": pool_size,
            "max_overflow": per_worker - pool_size,
            "pool_timeout": 10,
            "pool_pre_ping": True,
        }
    # A failed statement's parameters are entry keys, code digests and Hue keys: SQLAlchemy
    # would put them in the exception text the error log shows.
    options["hide_parameters"] = True
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", options)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    # homepair-memory:// is memory:// without its key leak (app.limits.WindowStorage).
    app.config["RATELIMIT_STORAGE_URI"] = app.config.get("REDIS_URL") or "homepair-memory://"
    if app.config.get("REDIS_URL"):
        from app.limits import redis_storage_options

        # A bounded pool sized for bursts; cost limits fail open (to memory) on errors.
        app.config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS", redis_storage_options(app.config["REDIS_URL"])
        )
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "homepair")
    app.config["RATELIMIT_HEADERS_ENABLED"] = False
    app.config["RATELIMIT_SWALLOW_ERRORS"] = True
    app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
