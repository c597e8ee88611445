"""A real nginx running the repository's deploy/nginx site, for scale-out tests.

The site and its proxy snippet are used as shipped; only the listen ports, the upstream
address, the include path and the certificate paths are rewritten for the test.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.live import ROOT, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class Nginx:
    """nginx in the foreground with its own prefix folder."""

    def __init__(self, folder: Path, upstream: str, tls: bool = True):
        self.folder = folder
        self.port = free_port()
        self.tls_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tls_url = f"https://127.0.0.1:{self.tls_port}"
        (folder / "logs").mkdir(exist_ok=True)
        self._certificate()
        snippet = (ROOT / "deploy/nginx/homepair-proxy.conf").read_text()
        (folder / "homepair-proxy.conf").write_text(snippet)
        # The plain-HTTP site, and (tls) the HTTPS site beside it, as the README enables them.
        site = (ROOT / "deploy/nginx/homepair.conf").read_text()
        if tls:
            site += "\n" + (ROOT / "deploy/nginx/homepair-tls.conf").read_text()
        site = (
            site.replace("server 127.0.0.1:8082;", f"server {upstream};")
            .replace("listen [::]:80 default_server;", "")
            .replace("listen [::]:443 ssl;", "")
            .replace("listen 80 default_server;", f"listen 127.0.0.1:{self.port};")
            .replace("listen 443 ssl;", f"listen 127.0.0.1:{self.tls_port} ssl;")
            .replace("/etc/nginx/snippets/homepair-proxy.conf", str(folder / "homepair-proxy.conf"))
            .replace("/etc/homepair/tls/fullchain.pem", str(folder / "cert.pem"))
            .replace("/etc/homepair/tls/privkey.pem", str(folder / "key.pem"))
            .replace("/var/log/nginx/homepair.access.log", str(folder / "logs/access.log"))
        )
        (folder / "site.conf").write_text(site)
        (folder / "nginx.conf").write_text(
            f"""daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/logs/error.log warn;
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/site.conf;
}}
"""
        )
        self.process: subprocess.Popen | None = None

    def _certificate(self) -> None:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                str(self.folder / "key.pem"),
                "-out",
                str(self.folder / "cert.pem"),
            ],
            check=True,
            capture_output=True,
        )

    def start(self) -> Nginx:
        """Start nginx and wait until it proxies ``/healthz``."""
        if not Path(NGINX).exists():
            pytest.fail("nginx is not installed (.ci/run installs it with apt)")
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError((self.folder / "logs/error.log").read_text())

    def stop(self) -> None:
        """Stop nginx."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)


class RedisServer:
    """A private redis-server on a free port, so a test can stop and restart it."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        """Start and wait for PONG."""
        import redis

        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                if client.ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Kill it (as an outage would)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused server must be able to die
            self.process.kill()
            self.process.wait(5)

    def start_again(self) -> RedisServer:
        """Start a new, empty server on the same port (after :meth:`stop`)."""
        return self.start()

    def pause(self) -> None:
        """Freeze it (SIGSTOP): connections open, nothing answers, like an overloaded server."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Unfreeze it (SIGCONT); it keeps everything it knew."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
