"""Servers under test, started as the README starts them, each in its own temp folder.

homepair: ``flask --app wsgi db upgrade`` on a fresh database, then
``gunicorn -c gunicorn.conf.py wsgi:app``; settings only through the environment. Optionally a
fresh PostgreSQL database and a private redis-server. Every process started here is stopped
by its own pid (gunicorn by its process group); nothing is matched by name.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import procfs

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
# homepair settings (and gunicorn's) from the caller's shell must not leak into the run.
_SCRUB_PREFIXES = ("NEST_", "HUE_", "RUUVI_", "MAIL_", "GUNICORN_", "FLASK_")
_SCRUB = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TRUSTED_PROXY_HOPS", "PORT"}
_SCRUB |= {"WEB_CONCURRENCY", "ADMIN_EMAILS"}


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_affinity() -> None:
    # Runs in the child between fork and exec (``--pin split``); gunicorn's workers inherit it.
    cpus = os.environ.get("BENCH_SERVER_CPUS")
    if cpus:
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})


def base_env(**overrides) -> dict[str, str]:
    """This process's environment without homepair/gunicorn settings, plus ``overrides``."""
    env = {
        k: v for k, v in os.environ.items() if k not in _SCRUB and not k.startswith(_SCRUB_PREFIXES)
    }
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class Redis:
    """A private redis-server on a free port (the machine's Redis is left to the tests)."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> Redis:
        """Start it and wait until it accepts connections."""
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--maxclients", "1000"],
            stdout=subprocess.DEVNULL,
            preexec_fn=_server_affinity,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.02)  # polling for start-up, not pacing load
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Stop it."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)


def fresh_postgres() -> tuple[str, callable]:
    """A new empty PostgreSQL database; its SQLAlchemy URL and a function dropping it."""
    import psycopg

    name = f"homepair_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}", drop


class Server:
    """One gunicorn (master + workers) from the repo's gunicorn.conf.py.

    ``app`` is ``wsgi:app`` (homepair) or ``bench.hello:app``. ``database`` is ``sqlite`` or
    ``postgres``; ``redis`` starts a private redis-server and sets ``REDIS_URL``.
    """

    def __init__(
        self,
        app: str = "wsgi:app",
        workers: int = 1,
        database: str = "sqlite",
        redis: bool = False,
        env: dict | None = None,
        config: str = "gunicorn.conf.py",
    ):
        self.app = app
        self.config = config
        self.workers = workers
        self.database = database
        self.folder = Path(tempfile.mkdtemp(prefix="homepair-bench-"))
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.address = ("127.0.0.1", self.port)
        self.redis = Redis() if redis else None
        self._drop_db = None
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen | None = None
        self.log_path = self.folder / "server.log"
        self.env: dict[str, str] = {}

    def _prepare(self) -> None:
        settings = {
            "PORT": self.port,
            "GUNICORN_BIND": self.host,
            "WEB_CONCURRENCY": self.workers,
            "SECRET_KEY": "bench-secret",
            "GUNICORN_LOGLEVEL": "warning",
            # The load generator is one client making thousands of devices (and the guessing
            # limits' burst behaviour is tested, not benchmarked).
            "NEST_NEW_DEVICES_LIMIT_PER_IP": "100000000/hour",
        }
        if self.app == "wsgi:app":
            if self.database == "postgres":
                url, self._drop_db = fresh_postgres()
            else:
                url = f"sqlite:///{self.folder / 'homepair.db'}"
            settings["DATABASE_URL"] = url
            if self.redis is not None:
                settings["REDIS_URL"] = self.redis.start().url
        settings.update(self.extra_env)
        self.env = base_env(**settings)

    def flask(self, *args: str) -> str:
        """``flask --app wsgi ARGS`` with this server's settings; its output."""
        done = subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.stdout

    def start(self, timeout: float = 30) -> Server:
        """Migrate (homepair), start gunicorn, wait until every worker is up and healthy."""
        self._prepare()
        if self.app == "wsgi:app":
            self.flask("db", "upgrade")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", self.config, self.app],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_server_affinity,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log()}")
            if len(self.worker_pids()) == self.workers and self._healthy():
                return self
            time.sleep(0.05)  # polling for start-up, not pacing load
        self.stop()
        raise RuntimeError(f"gunicorn did not become healthy:\n{self.log()}")

    def _healthy(self) -> bool:
        try:
            with socket.create_connection(self.address, timeout=2) as sock:
                sock.sendall(f"GET /healthz HTTP/1.0\r\nHost: {self.host}\r\n\r\n".encode())
                return sock.recv(64).startswith(b"HTTP/1.0 200") or False
        except OSError:
            return False

    def worker_pids(self) -> list[int]:
        """The gunicorn workers' pids."""
        return procfs.forked_children(self.process.pid) if self.process else []

    def log(self) -> str:
        """What gunicorn printed so far (the tail)."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """Stop gunicorn (QUIT, KILL after 5 s), Redis and the database; remove the folder."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGQUIT)
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
            except ProcessLookupError:
                pass
        if self.redis is not None:
            self.redis.stop()
        if self._drop_db is not None:
            try:
                self._drop_db()
            except Exception as exc:  # a leftover database is worth a line, not a failure
                print(f"bench: could not drop the PostgreSQL database: {exc}", file=sys.stderr)
            self._drop_db = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
