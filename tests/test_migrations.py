"""The Alembic migrations build the models' schema and tear it down again."""

from __future__ import annotations

import subprocess

from tests.live import BIN, ROOT, clean_env


def flask(env, *args):
    return subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sqlite_upgrade_check_downgrade(tmp_path):
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'm.db'}", SECRET_KEY="s")
    assert flask(env, "upgrade").returncode == 0
    check = flask(env, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    down = flask(env, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert flask(env, "upgrade").returncode == 0
