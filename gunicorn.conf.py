"""gunicorn settings for `make run` and the test suite (see deploy/ for production).

Held Nest subscribes last NEST_SUSPEND_TIME_MAX - 10 seconds; graceful_timeout bounds any
other request still running at a reload. The master reads this file before the workers patch
the standard library for gevent, so it imports only ``app.config`` (the settings checks, run
here so a misconfiguration stops the master with one line and exit status 2); the app itself
is built in each worker, after the patch, and worker methods import app modules lazily.
"""

import os
import re
import shutil
import socket
import sys
import tempfile

import gevent
from gunicorn import util
from gunicorn.glogging import Logger
from gunicorn.workers.ggevent import GeventWorker

# /metrics sums every worker's samples from files in this folder (prometheus_client's
# multiprocess mode); set before any worker imports prometheus_client.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="homepair-metrics-")
    _own_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
else:
    _own_metrics_dir = None

from app.config import ConfigError, check_workers, startup_checks  # noqa: E402

# Refuse what cannot work before any worker starts: one line naming the variable, exit 2.
try:
    startup_checks(os.environ, os.path.join(os.path.dirname(os.path.abspath(__file__)), "instance"))
    workers = check_workers(os.environ)
except ConfigError as _exc:
    print(f"homepair: {_exc}", file=sys.stderr)
    sys.exit(2)

_suspend = int(os.environ.get("NEST_SUSPEND_TIME_MAX", "300") or 300)
_hold = max(1, _suspend - 10)

# One address or several (space- or comma-separated): "0.0.0.0:8082 0.0.0.0:80" also serves
# Hue apps, which only look for a bridge on port 80 (binding it needs root or
# CAP_NET_BIND_SERVICE).
bind = re.split(
    r"[\s,]+", os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8082')}").strip()
)
# One worker unless REDIS_URL fans pushes out across workers (see README, "Scaling out");
# `workers` was read and checked above.
# Held subscribes and keep-alive sockets both take slots; a full pool stops accepting.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "16384"))
timeout = 30
graceful_timeout = _hold + 15
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
# gunicorn 27's runtime control socket defaults to one path per user, which several servers on
# one host (tests, blue/green) would fight over; homepair does not use it.
control_socket_disable = True
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")


# Access logs never carry a secret: a Ruuvi code travels as /verify?token=CODE and a Hue key as
# the path segment after /api/ (and after /config/whitelist/ when one is deleted).
_TOKEN_PARAM = re.compile(r"((?:^|[?&])token=)[^&#\s]*")
_HUE_KEY = re.compile(
    r"(/api/+)(?!(?:register|devices|registered-devices|config)(?:[/?#\s]|$))[^/?#\s]+"
)
_WHITELIST_KEY = re.compile(r"(/config/whitelist/+)[^/?#\s]+")
_SECRET_HEADERS = ("{authorization}i", "{cookie}i")


def redact(text):
    """``text`` with every Ruuvi code and Hue key replaced by ``[redacted]``."""
    if not isinstance(text, str):
        return text
    for pattern in (_TOKEN_PARAM, _HUE_KEY, _WHITELIST_KEY):
        text = pattern.sub(r"\1[redacted]", text)
    return text


class RedactingLogger(Logger):
    """gunicorn's logger, with secrets taken out of every access-log field."""

    def atoms(self, resp, req, environ, request_time):
        """The access-log fields, redacted (request line, path, query, referer, headers)."""
        atoms = super().atoms(resp, req, environ, request_time)
        for name, value in atoms.items():
            atoms[name] = "[redacted]" if name in _SECRET_HEADERS else redact(value)
        return atoms


logger_class = RedactingLogger


def _advertised_port() -> int:
    # Hue apps look for a bridge on port 80: advertise it when it is one of the binds.
    ports = [int(address.rsplit(":", 1)[1]) for address in bind if ":" in address]
    return 80 if 80 in ports else (ports[0] if ports else 8082)


_discovery = None
_mail_sender = None
_HERE = os.path.dirname(os.path.abspath(__file__))


def _flask(*args, **popen):
    import subprocess

    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    return subprocess.Popen([flask, "--app", "wsgi", *args], cwd=_HERE, **popen)


def _start_mail_sender(server):
    """One outbox sender process beside the workers, woken through a pipe: the workers only
    queue mail (a row in their transaction), none spends request time sending it."""
    global _mail_sender
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # a full pipe never blocks a worker: a wake-up is pending
    _mail_sender = _flask("mail", "send", "--wake-fd", str(read_end), pass_fds=(read_end,))
    os.close(read_end)
    # Workers are forked from this process: they inherit the write end and this variable.
    os.environ["HOMEPAIR_MAIL_WAKE_FD"] = str(write_end)
    server.log.info("mail sender process %s started", _mail_sender.pid)


def when_ready(server):
    """Say once, loudly, when e-mails (and the sign-in codes in them) only go to this log;
    start the host's mail sender; start the one Hue discovery advertiser of this host, or
    say how to."""
    global _discovery
    if (os.environ.get("MAIL_BACKEND") or "console").strip().lower() == "console":
        server.log.warning(
            "MAIL_BACKEND=console is for development: e-mails are NOT sent, they are written"
            " to this log with the sign-in codes in them. Set MAIL_BACKEND=smtp to send them."
        )
    _start_mail_sender(server)
    if not (os.environ.get("HUE_DISCOVERY") or "").strip():
        server.log.info(
            "Hue discovery is off: HUE_DISCOVERY=<address, interface or all> advertises this"
            " bridge by mDNS and SSDP (e.g. HUE_DISCOVERY=eth0 make run)"
        )
        return
    _discovery = _flask("hue", "advertise", "--port", str(_advertised_port()))


def _tls_probe(exc) -> bool:
    """Whether gunicorn refused a request because it was a TLS ClientHello (0x16 0x03 …)."""
    tb = exc.__traceback__
    while tb is not None:
        buf = tb.tb_frame.f_locals.get("buf")
        if isinstance(buf, (bytes, bytearray)) and bytes(buf[:2]) == b"\x16\x03":
            return True
        tb = tb.tb_next
    return False


class HomepairWorker(GeventWorker):
    """gunicorn's gevent worker, with two changes for homepair.

    - Shutting down (TERM from a deploy or systemd, INT/QUIT from Ctrl-C) ends every held
      subscribe at once with its normal empty answer, so devices re-subscribe (elsewhere)
      and the worker stops in seconds instead of after the longest hold.
    - A request gunicorn refuses itself (a request line or headers too large, bad framing)
      is answered in the JSON envelope of the protocol its path belongs to, not in HTML.

    The app's modules are imported inside the methods: this file is read by the master,
    before the workers patch the standard library for gevent.
    """

    def _end_holds(self):
        from app.pushhub import hub

        hub.close_all()

    def handle_exit(self, sig, frame):
        """TERM: stop accepting, end the holds; gunicorn then drains what is left."""
        self._end_holds()
        super().handle_exit(sig, frame)

    def handle_quit(self, sig, frame):
        """INT/QUIT (quick shutdown): end the holds, give them a moment to answer, exit."""
        if getattr(self, "_quitting", False):
            return  # the master forwards the signal the process group already got
        self._quitting = True
        self._end_holds()
        gevent.spawn_later(0.5, super().handle_quit, sig, frame)

    def handle_request(self, listener_name, req, sock, addr):
        """gunicorn's request handling, then a turn of the event loop before the next request.

        On a keep-alive connection gunicorn reads the next request as soon as it has answered
        this one. A client on loopback has usually sent it by then (gunicorn still logs and
        closes the response), so the read succeeds without waiting, and the same connection
        is served again and again while other connections' requests wait: measured on a bare
        WSGI app with 16 connections, p99 17 ms with some requests waiting 50-100 ms, against
        p99 7 ms and at most 13 ms with this yield. ``sleep(0)`` lets every other ready
        greenlet run first, so connections are served in turn.
        """
        super().handle_request(listener_name, req, sock, addr)
        gevent.sleep(0)

    def handle_error(self, req, client, addr, exc):
        """gunicorn's own refusals in the protocol's envelope; anything else as gunicorn does."""
        try:
            from app.errors import gunicorn_error_answer

            answer = gunicorn_error_answer(self.wsgi, req, exc)
        except Exception:
            self.log.exception("could not render the error answer; gunicorn's own follows")
            return super().handle_error(req, client, addr, exc)
        if _tls_probe(exc):
            # A TLS handshake on this plain-HTTP port: Hue apps (aiohue) try HTTPS first and
            # fall back to HTTP at once. Expected traffic, not an operator's concern.
            self.log.debug("TLS handshake on a plain-HTTP port from %s", (addr or ("",))[0])
        else:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        try:
            util.write_nonblock(client, answer)
            # Lingering close: closing with the rest of a refused request unread would reset
            # the connection and could destroy the answer before the client reads it.
            client.shutdown(socket.SHUT_WR)
            client.settimeout(1.0)
            for _ in range(16):  # at most 1 MiB, at most a few seconds
                if not client.recv(65536):
                    break
        except Exception:
            self.log.debug("Failed to send error message.")


worker_class = HomepairWorker


def child_exit(server, worker):
    """A worker is gone: its held-subscribe gauge no longer counts in /metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Stop the discovery advertiser and the mail sender; remove the metrics folder this
    server made (an operator's own folder stays)."""
    for helper in (_discovery, _mail_sender):
        if helper is not None and helper.poll() is None:
            helper.terminate()
            try:
                helper.wait(15)
            except Exception:  # subprocess.TimeoutExpired: it did not leave in time
                helper.kill()
    if _own_metrics_dir:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)
