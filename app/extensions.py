"""Module-level extension objects, bound to an app by ``create_app``."""

from typing import TYPE_CHECKING

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from app.limits import Guard, client_ip

# Stable constraint names so Alembic can alter and drop them on SQLite and PostgreSQL alike.
_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base of every table (mapped columns, typed for mypy)."""

    metadata = MetaData(naming_convention=_NAMING)


db = SQLAlchemy(model_class=Base)
# The models' base class: Flask-SQLAlchemy builds ``db.Model`` at run time, so mypy is told
# it is the declarative base it extends.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
# Cost limits (flask-limiter decorators, failing open); nothing is limited by default.
limiter = Limiter(key_func=client_ip)
# Guess budgets (counted first, failing closed), spent explicitly by the views.
guard = Guard()


def the_app() -> Flask:
    """The app behind ``current_app``, for work that outlives the request context (streamed
    bodies, background loops)."""
    # current_app is a werkzeug LocalProxy that Flask's typing presents as the app itself.
    return current_app._get_current_object()  # type: ignore[attr-defined]
