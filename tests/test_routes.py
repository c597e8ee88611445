"""``flask routes`` reads like the API: each path once, with the methods it serves (issue 13)."""

from __future__ import annotations

import subprocess

from tests.live import BIN, ROOT, clean_env


def test_flask_routes_lists_each_path_once_with_its_methods(tmp_path):
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "routes"],
        cwd=ROOT,
        env=clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'routes.db'}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[2:] if line.strip()]
    paths = [row[-1] for row in rows]
    assert len(paths) == len(set(paths)), sorted(p for p in paths if paths.count(p) > 1)
    # Every row names its methods (HEAD and OPTIONS are left out by flask routes).
    assert all(len(row) >= 3 for row in rows), [row for row in rows if len(row) < 3]
    by_path = {row[-1]: " ".join(row[1:-1]) for row in rows}
    assert by_path["/sessions"] == "DELETE, GET"
    assert by_path["/api/register"] == "POST"
    assert by_path["/api"] == "DELETE, GET, PATCH, POST, PUT"
    assert by_path["/api/registered-devices/<path:serial>"] == "DELETE"
