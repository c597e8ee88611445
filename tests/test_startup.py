"""A configuration that cannot work stops start-up with one line and exit status 2."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.live import BIN, ROOT, clean_env

REFUSED = [
    ({"WEB_CONCURRENCY": "2"}, "homepair: WEB_CONCURRENCY: 2 workers need REDIS_URL"),
    (
        {"DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test"},
        "homepair: SECRET_KEY: must be set (the same on every host) when DATABASE_URL is not",
    ),
    (
        {"FLASK_NEST_SUSPEND_TIME_MAX": "100000"},
        "homepair: FLASK_NEST_SUSPEND_TIME_MAX: set NEST_SUSPEND_TIME_MAX instead",
    ),
    ({"NEST_SUSPEND_TIME_MAX": "abc"}, "homepair: NEST_SUSPEND_TIME_MAX: expected an integer"),
]


def _run(command: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def _one_line(done: subprocess.CompletedProcess, expected: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(expected), done.stderr


@pytest.mark.parametrize(("env", "expected"), REFUSED)
def test_gunicorn_refuses_with_one_line(env, expected, tmp_path):
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", **env}
    done = _run(
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], clean_env(**settings)
    )
    _one_line(done, expected)


@pytest.mark.parametrize(("env", "expected"), REFUSED[1:])
def test_flask_commands_refuse_with_one_line(env, expected, tmp_path):
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", **env}
    done = _run([str(BIN / "flask"), "--app", "wsgi", "db", "current"], clean_env(**settings))
    _one_line(done, expected)


def test_an_unwritable_database_folder_is_named(tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o500)
    if os.geteuid() == 0:
        # root writes through any mode bits: a folder that cannot hold a database is one that
        # is not a folder at all.
        folder.chmod(0o700)
        folder.rmdir()
        folder.write_text("not a folder")
    env = clean_env(DATABASE_URL=f"sqlite:///{folder / 'homepair.db'}")
    for command in (
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
    ):
        _one_line(_run(command, env), f"homepair: DATABASE_URL: {folder} is not writable")


def test_postgresql_url_means_psycopg3(tmp_path):
    from app.config import load

    settings = load({"DATABASE_URL": "postgresql://u:p@h/db"})
    assert settings["DATABASE_URL"] == "postgresql+psycopg://u:p@h/db"
    assert load({"DATABASE_URL": "postgres://h/db"})["DATABASE_URL"] == "postgresql+psycopg://h/db"


def test_flask_commands_say_which_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'said.db'}"
    done = _run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], clean_env(DATABASE_URL=url))
    assert done.returncode == 0, done.stderr
    assert f"homepair: database {url}" in done.stderr
    pw = _run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "current"],
        clean_env(DATABASE_URL="postgresql://postgres:s3cret@127.0.0.1:5432/test", SECRET_KEY="k"),
    )
    assert "homepair: database postgresql+psycopg://postgres:***@127.0.0.1:5432/test" in pw.stderr
    assert "s3cret" not in pw.stdout + pw.stderr
