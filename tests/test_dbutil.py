"""app.dbutil's prebuilt-statement runner: the DBAPI fast path answers as SQLAlchemy would."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import MultipleResultsFound, NoResultFound, OperationalError

from app import dbutil
from app.dbutil import read, run, table
from app.extensions import db
from app.models import Setting

_SETTINGS = table(Setting)
_BY_NAME = select(_SETTINGS.c.name, _SETTINGS.c.value).where(_SETTINGS.c.name == bindparam("name"))
_ALL = select(_SETTINGS.c.name, _SETTINGS.c.value).order_by(_SETTINGS.c.name)
_IN = select(_SETTINGS.c.value).where(_SETTINGS.c.name.in_(bindparam("names", expanding=True)))
_SET = (
    update(_SETTINGS)
    .where(_SETTINGS.c.name == bindparam("p_name"), _SETTINGS.c.value != "locked")
    .values(value=bindparam("p_value"))
)
_ADD = insert(_SETTINGS).returning(_SETTINGS.c.name)


@pytest.fixture(params=["sqlite", "postgres"])
def any_app(request, make_app):
    """The app on SQLite, then on PostgreSQL (tables from the models)."""
    if request.param == "sqlite":
        return make_app()
    from tests.services import fresh_postgres_database

    url, drop = fresh_postgres_database()
    request.addfinalizer(drop)
    app = make_app(DATABASE_URL=url)
    request.addfinalizer(lambda: _dispose(app))
    return app


def _dispose(app):
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _planned(statement) -> bool:
    return any(key[0] == id(statement) and plan is not None for key, plan in dbutil._PLANS.items())


def test_planned_statements_read_and_write_like_sqlalchemy(any_app):
    with any_app.app_context():
        assert run(_ADD, name="a", value="1").scalar_one() == "a"
        run(_ADD, name="b", value="2")
        run(_ADD, name="c", value="locked")
        assert _planned(_ADD)

        row = run(_BY_NAME, name="a").one()
        assert (row.name, row.value) == ("a", "1")
        assert row == tuple(db.session.execute(_BY_NAME, {"name": "a"}).one())
        assert run(_BY_NAME, name="zz").first() is None
        assert run(_BY_NAME, name="zz").scalar_one_or_none() is None
        with pytest.raises(NoResultFound):
            run(_BY_NAME, name="zz").one()
        with pytest.raises(MultipleResultsFound):
            run(_ALL).scalar_one_or_none()
        assert run(_ALL).scalars().all() == ["a", "b", "c"]
        assert [tuple(r) for r in run(_ALL)] == [tuple(r) for r in db.session.execute(_ALL)]

        # An UPDATE's rowcount is the rows it matched; a literal in the WHERE is bound.
        assert run(_SET, p_name="b", p_value="3").rowcount == 1
        assert run(_SET, p_name="c", p_value="3").rowcount == 0
        assert _planned(_SET)
        db.session.commit()
        # Outside any transaction, read() sees what was committed.
        assert read(_BY_NAME, name="b")[0].value == "3"
        assert not db.session().in_transaction()


def test_what_needs_sqlalchemy_takes_its_path(any_app):
    with any_app.app_context():
        run(_ADD, name="a", value="1")
        run(_ADD, name="b", value="2")
        # An expanding IN is rendered per call: never planned, still answered.
        assert sorted(run(_IN, names=["a", "b"]).scalars()) == ["1", "2"]
        assert not _planned(_IN)
        # An UPDATE without values sets the columns its parameters name: a call naming
        # others than the planned call is compiled by SQLAlchemy for those.
        either = update(_SETTINGS).where(_SETTINGS.c.name == bindparam("p_name"))
        assert run(either, p_name="a", value="5").rowcount == 1
        assert _planned(either)
        assert run(either, p_name="b", name="renamed").rowcount == 1
        assert [tuple(r) for r in run(_ALL)] == [
            ("a", "5"),
            ("renamed", "2"),
        ]
        db.session.rollback()


def test_a_database_error_is_sqlalchemys_without_the_parameters(make_app):
    app = make_app()
    with app.app_context():
        db.drop_all()
        with pytest.raises(OperationalError) as raised:
            run(_BY_NAME, name="the-secret-code")
        assert "no such table" in str(raised.value)
        assert "the-secret-code" not in str(raised.value)
        # SQLAlchemy's own path (an expanding IN) hides them too: the engine is told to.
        db.session.rollback()
        with pytest.raises(OperationalError) as raised:
            run(_IN, names=["the-secret-code"])
        assert "no such table" in str(raised.value)
        assert "the-secret-code" not in str(raised.value)
