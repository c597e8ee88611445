"""`make lint`'s checks, run by the suite so CI enforces them: ruff, the import contracts
in setup.cfg (protocols apart, shared modules below them, web above them) and mypy on app/."""

from __future__ import annotations

import subprocess

from tests.live import BIN, ROOT


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_contracts_are_kept():
    done = _run(str(BIN / "lint-imports"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 4 kept, 0 broken." in done.stdout


def test_ruff_finds_nothing():
    checked = _run(str(BIN / "ruff"), "check", "app", "tests", "bench", "migrations")
    assert checked.returncode == 0, checked.stdout
    formatted = _run(str(BIN / "ruff"), "format", "--check", "app", "tests")
    assert formatted.returncode == 0, formatted.stdout


def test_mypy_finds_nothing():
    checked = _run(str(BIN / "mypy"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Success: no issues found" in checked.stdout
