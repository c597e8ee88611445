"""Module-level extension objects, bound to an app by ``create_app``."""

from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

from app.limits import Guard, client_ip

# Stable constraint names so Alembic can alter and drop them on SQLite and PostgreSQL alike.
_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=_NAMING))
migrate = Migrate()
# Cost limits (flask-limiter decorators, failing open); nothing is limited by default.
limiter = Limiter(key_func=client_ip)
# Guess budgets (counted first, failing closed), spent explicitly by the views.
guard = Guard()
