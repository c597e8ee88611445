"""`make test` installs what the suite needs: proven with nginx and chromium off the PATH."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.live import ROOT

HIDDEN = {"nginx", "chromium"}


def path_without(folder: Path, hidden: set[str]) -> str:
    """A PATH of one folder linking every command of the usual ones, except ``hidden``."""
    folder.mkdir()
    for source in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        if not os.path.isdir(source):
            continue
        for name in os.listdir(source):
            target = folder / name
            if name in hidden or target.exists() or target.is_symlink():
                continue
            target.symlink_to(os.path.join(source, name))
    return str(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="installing Debian packages needs root")
def test_system_deps_installs_what_is_missing_from_path(tmp_path):
    path = path_without(tmp_path / "bin", HIDDEN)
    env = {"PATH": path, "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    assert subprocess.run(["which", "nginx"], env=env, capture_output=True).returncode == 1
    done = subprocess.run(
        ["bash", str(ROOT / ".ci" / "system-deps")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "system-deps: installing nginx chromium" in done.stdout
    for package in sorted(HIDDEN):
        status = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
        )
        assert status.stdout == "install ok installed"


def test_make_test_runs_system_deps_first():
    dry = subprocess.run(
        ["make", "-n", "test", "VENV=/nonexistent-venv"], cwd=ROOT, capture_output=True, text=True
    )
    lines = dry.stdout.splitlines()
    deps = lines.index("bash .ci/system-deps")
    assert any("pytest" in line for line in lines[deps + 1 :]), dry.stdout
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("make test")
