"""Real gunicorn servers for tests where timing, held connections or raw bytes matter."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# Variables of the spec that must not leak from the developer's shell into a test server.
from app.config import KNOWN  # noqa: E402

_template_db: Path | None = None
# Servers told to stop by a fixture's teardown, still shutting down (see stop_in_background).
_stopping: list[threading.Thread] = []


def children(pid: int) -> dict[int, bytes]:
    """The child processes of ``pid`` with their command lines (gunicorn's master: its forked
    workers run the master's own command line, its mail sender ``flask … mail send``)."""
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        pids = [int(child) for child in listing.read().split()]
    lines = {}
    for child in pids:
        try:
            with open(f"/proc/{child}/cmdline", "rb") as source:
                lines[child] = source.read()
        except OSError:  # gone (or a zombie, whose cmdline reads ESRCH) since the listing
            lines[child] = b""
    return lines


def worker_pids(master: int) -> set[int]:
    """gunicorn's workers: the master's children running the master's command line."""
    own = children(master)
    with open(f"/proc/{master}/cmdline", "rb") as source:
        line = source.read()
    return {pid for pid, cmd in own.items() if cmd == line}


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**overrides) -> dict:
    """The test process's environment without homepair settings, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if k not in KNOWN and not k.startswith("GUNICORN")}
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def template_database() -> Path:
    """A SQLite file migrated once per test session with ``flask db upgrade``."""
    global _template_db
    if _template_db is None:
        folder = Path(tempfile.mkdtemp(prefix="homepair-template-"))
        path = folder / "template.db"
        env = clean_env(DATABASE_URL=f"sqlite:///{path}", SECRET_KEY="template")
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        _template_db = path
    return _template_db


def fresh_sqlite_url(folder: Path) -> str:
    """A copy of the migrated template database in ``folder``."""
    target = folder / f"homepair-{time.monotonic_ns()}.db"
    shutil.copy(template_database(), target)
    return f"sqlite:///{target}"


class LiveServer:
    """gunicorn with the gevent worker, started from the repo's gunicorn.conf.py."""

    def __init__(self, folder: Path, workers: int = 1, **env):
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Thousands of test devices come from loopback; tests of that limit set it back.
        settings = {
            "SECRET_KEY": "live-test-secret",
            "PORT": self.port,
            "NEST_NEW_DEVICES_LIMIT_PER_IP": "1000000/hour",
        }
        settings.update(env)
        if "DATABASE_URL" not in settings:
            settings["DATABASE_URL"] = fresh_sqlite_url(folder)
        self.env = clean_env(
            GUNICORN_BIND=f"127.0.0.1:{self.port}", WEB_CONCURRENCY=workers, **settings
        )
        self.log_path = folder / f"gunicorn-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> LiveServer:
        """Start and wait until ``/healthz`` answers 200."""
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log()}")
            try:
                # Connection: close: no idle keep-alive connection of the probe's stays open
                # into the test (a graceful stop or reload would wait on it).
                ready = requests.get(
                    self.url + "/healthz", timeout=1, headers={"Connection": "close"}
                )
                if ready.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gunicorn did not become healthy:\n{self.log()}")

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, signum: int) -> None:
        """Send a signal to the gunicorn master."""
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self) -> None:
        """Stop the server at once (QUIT: gunicorn's quick shutdown), KILL after 5 s."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGQUIT)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def stop_in_background(self) -> None:
        """:meth:`stop` without waiting for the exit, for a fixture's teardown (the test is
        over and nothing more is asked of the server): the quick shutdown takes a second or
        more, which the next test need not wait for. :func:`wait_for_stopped` reaps them."""
        if self.process is None or self.process.poll() is not None:
            return
        process = self.process
        os.killpg(process.pid, signal.SIGQUIT)

        def reap() -> None:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

        thread = threading.Thread(target=reap, name=f"stop-gunicorn-{self.port}", daemon=True)
        thread.start()
        _stopping.append(thread)

    def flask(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``flask --app wsgi ARGS`` with this server's settings (a separate process)."""
        return subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            check=check,
            capture_output=True,
            text=True,
            timeout=120,
        )


def wait_for_stopped() -> None:
    """Wait until every server stopped with :meth:`LiveServer.stop_in_background` is gone."""
    while _stopping:
        _stopping.pop().join()


def make_run_on_a_clone(folder: Path, **env) -> tuple[subprocess.Popen, Path, str]:
    """``make run`` on a fresh clone of this checkout; ``(process, clone, base URL)``.

    The clone reuses this checkout's virtual environment (CI's own fresh clone proves the
    install step): its requirements files keep this checkout's times, so make sees the
    environment as installed for them, as it does here, instead of running pip again. The
    process leads its own session: stop it with ``os.killpg``.
    """
    clone = folder / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    for name in ("requirements.txt", "requirements-dev.txt"):
        ours = (ROOT / name).stat()
        os.utime(clone / name, ns=(ours.st_atime_ns, ours.st_mtime_ns))
    port = free_port()
    process = subprocess.Popen(
        ["make", "run", f"VENV={ROOT / '.venv'}"],
        cwd=clone,
        env=clean_env(PORT=port, GUNICORN_BIND=f"127.0.0.1:{port}", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, clone, f"http://127.0.0.1:{port}"
