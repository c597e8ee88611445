"""The e-mail outbox and the per-worker loop that sends it.

A caller adds a message with :func:`queue` inside the transaction that needs it sent,
commits, then calls :func:`wake`. Under gunicorn (gunicorn.conf.py) one sender process per
host runs beside the workers (``flask --app wsgi mail send``): the workers wake it through a
pipe the master made (``HOMEPAIR_MAIL_WAKE_FD``), so building, sealing-off and sending mail
costs no request worker any time. Anywhere else (``flask run``, a worker whose sender process
is gone) each process runs the same loop itself (a daemon thread, which gunicorn's gevent
worker turns into a greenlet). The loop leases a due row with a conditional UPDATE of
``locked_until``, sends it, and marks it sent, so two senders never send one row at once and
nothing is lost while SMTP is down.

Bodies are stored encrypted with Fernet under a key derived from ``SECRET_KEY``: they carry
sign-in codes, which the database must never hold in clear.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import os
import select as select_module
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from flask import Flask, current_app
from sqlalchemy import case, delete, false, func, insert, select, update

from app import metrics, process
from app.clock import now_s
from app.dbutil import affected, after_commit, run, table
from app.extensions import db, the_app
from app.models import MailOutbox

log = logging.getLogger(__name__)

LEASE_SECONDS = 60
# Wake-ups arriving within this long are served by one pass (mail is not that urgent).
COALESCE_SECONDS = 0.1
HOUSEKEEPING_SECONDS = 60.0
POLL_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 60
GIVE_UP_AFTER_SECONDS = 24 * 3600
# Sent rows are only useful for a while (debugging a complaint); their bodies are sealed.
SENT_RETENTION_SECONDS = 7 * 24 * 3600
SMTP_TIMEOUT_SECONDS = 10
BATCH = 20
_EXTENSION = "homepair.mail"
_KEY_CONTEXT = b"homepair mail outbox v1"


# --- sealing ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _fernet(secret_key: str) -> Fernet:
    key = hmac.new(secret_key.encode("utf-8"), _KEY_CONTEXT, hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(text: str) -> str:
    """Encrypt a message body for the outbox (key derived from ``SECRET_KEY``)."""
    return _fernet(current_app.config["SECRET_KEY"]).encrypt(text.encode("utf-8")).decode("ascii")


def unseal(token: str) -> str:
    """Decrypt an outbox body; raises :class:`cryptography.fernet.InvalidToken`."""
    return _fernet(current_app.config["SECRET_KEY"]).decrypt(token.encode("ascii")).decode("utf-8")


# --- queueing -----------------------------------------------------------------------------


_OUTBOX = table(MailOutbox)
# ``given_up`` as SQL, not its Python default: the statement then needs no execution-time
# defaults and runs on the DBAPI cursor (dbutil.run).
_QUEUE = insert(_OUTBOX).values(given_up=false()).returning(_OUTBOX.c.id)


def queue(to_addr: str, subject: str, body: str) -> int:
    """Add a message to the outbox in the current transaction; its id. The caller commits,
    then wakes."""
    now = now_s()
    return run(
        _QUEUE,
        to_addr=to_addr,
        subject=subject,
        body=seal(body),
        created_at=now,
        next_attempt_at=now,
        locked_until=0,
        attempts=0,
        given_up=False,
    ).scalar_one()


def wake_after_commit() -> None:
    """Wake this process's sender once the current transaction (which queued mail) commits."""
    app = the_app()
    after_commit("mail", lambda: _wake(app))


# The write end of the pipe to this host's sender process (gunicorn.conf.py), if any.
WAKE_FD_VARIABLE = "HOMEPAIR_MAIL_WAKE_FD"


def _wake_fd() -> int | None:
    raw = os.environ.get(WAKE_FD_VARIABLE, "")
    return int(raw) if raw.isdigit() else None


def _wake(app: Flask) -> None:
    sender = app.extensions.get(_EXTENSION)
    if sender is None:
        return
    fd = _wake_fd()
    if fd is not None and not sender.loop.running():
        try:
            os.write(fd, b"!")
            return
        except BlockingIOError:
            return  # the pipe is full: the sender has wake-ups enough to read
        except OSError:
            # The sender process is gone (no reader left): this worker sends its mail itself.
            log.warning("mail: the sender process is gone; this worker sends mail itself")
            os.environ.pop(WAKE_FD_VARIABLE, None)
            sender.loop.ensure_started()
    sender.loop.wake()


def wake() -> None:
    """Tell this process's sender that a commit added mail (other workers poll)."""
    _wake(the_app())


# --- building and delivering ---------------------------------------------------------------


def build_message(
    config: Mapping[str, Any], row_id: int, created_at: int, to_addr: str, subject: str, body: str
) -> EmailMessage:
    """The message for one outbox row: ``text/plain; charset=utf-8``.

    The Message-ID derives from the row, so a resend after a crash is recognisable as a
    duplicate by the recipient's client.
    """
    sender = config["MAIL_DEFAULT_SENDER"]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to_addr
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<homepair.outbox.{row_id}.{created_at}@{domain}>"
    # Plain 7bit keeps short ASCII bodies readable as sent; anything else gets the default.
    plain = body.isascii() and all(len(line) <= 998 for line in body.splitlines())
    message.set_content(body, charset="utf-8", cte="7bit" if plain else None)
    return message


def deliver(config: Mapping[str, Any], message: EmailMessage) -> None:
    """Hand ``message`` to the configured backend; raises on failure."""
    if config["MAIL_BACKEND"] == "console":
        # Development only (gunicorn says so at start-up): the body may carry a sign-in code.
        log.warning("mail NOT sent (MAIL_BACKEND=console):\n%s", message.as_string())
        return
    host, port = config["MAIL_SERVER"], config["MAIL_PORT"]
    context = ssl.create_default_context()
    if config["MAIL_USE_SSL"]:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            host, port, timeout=SMTP_TIMEOUT_SECONDS, context=context
        )
    else:
        smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_SECONDS)
    with smtp:
        if config["MAIL_USE_TLS"]:
            smtp.starttls(context=context)
        if config["MAIL_USERNAME"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
        smtp.send_message(message)


# --- the per-process loop -----------------------------------------------------------------


class BackgroundLoop:
    """Run ``step`` over and over in one daemon thread per process, started lazily.

    ``step`` returns the seconds until it wants to run again; the loop waits that long (at
    most ``max_wait``) or until :meth:`wake`. gunicorn forks workers, so "started" is
    remembered with the pid: :meth:`ensure_started` is cheap enough for every request and
    starts the loop once in each worker that serves one.
    """

    def __init__(
        self, name: str, step: Callable[[], float], max_wait: float, coalesce: float = 0.0
    ):
        self.name = name
        self.max_wait = max_wait
        self.coalesce = coalesce
        self._step = step
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()

    def ensure_started(self) -> None:
        """Start the loop in this process unless it already runs here."""
        if self._pid == process.pid():
            return
        with self._lock:
            if self._pid == process.pid():
                return
            # Events created before a fork belong to the parent's hub; make fresh ones.
            self._wake = threading.Event()
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._pid = process.pid()
            self._thread.start()

    def running(self) -> bool:
        """Whether the loop runs in this process."""
        return self._pid == process.pid()

    def wake(self) -> None:
        """Run the step now rather than after the current wait."""
        if self._pid == process.pid():
            self._wake.set()

    def stop(self, timeout: float = 15) -> None:
        """Stop the loop after its current step and wait for it."""
        thread = self._thread
        if thread is None or self._pid != process.pid():
            return
        self._stop.set()
        self._wake.set()
        thread.join(timeout)
        self._thread = None
        self._pid = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self._step()
            except Exception:  # the database may be down; try again later
                log.exception("%s: step failed", self.name)
                delay = self.max_wait
            woken = self._wake.wait(max(0.0, min(delay, self.max_wait)))
            if woken and self.coalesce and not self._stop.is_set():
                # A burst of wake-ups (one per committed request) becomes one pass.
                time.sleep(self.coalesce)
            self._wake.clear()


_STARTERS = "homepair.start_in_workers"


def start_in_workers(app: Flask, start: Callable[[], None]) -> None:
    """Call ``start`` in each worker process before its first request (never under TESTING:
    in-process tests drive the loops themselves).

    Every per-process loop (the mail sender, the audit writer, the sweepers) registers here,
    so a request pays one check of the process id, not one hook per loop.
    """
    starters = app.extensions.get(_STARTERS)
    if starters is None:
        starters = app.extensions[_STARTERS] = []
        started_in: list[int] = []

        @app.before_request
        def _start_in_this_process() -> None:
            if started_in and started_in[-1] == process.pid():
                return
            started_in.append(process.pid())
            if not app.testing:
                for call in starters:
                    call()

    starters.append(start)


_PENDING = (MailOutbox.sent_at.is_(None), MailOutbox.given_up.is_(False))


class OutboxSender:
    """Sends the outbox rows of one app; :meth:`run_once` is one pass of the loop."""

    def __init__(self, app: Flask):
        self.app = app
        self.loop = BackgroundLoop(
            "mail-outbox", self.run_once, POLL_SECONDS, coalesce=COALESCE_SECONDS
        )
        self.housekeeping_every = HOUSEKEEPING_SECONDS
        self._housekept_at = float("-inf")

    def run_once(self) -> float:
        """Give up stale rows, send the due ones; return seconds until the next is due."""
        with self.app.app_context():
            try:
                # Housekeeping is about hours-old rows: once a minute is plenty, and it keeps
                # two write transactions off every pass under a burst of registrations.
                if time.monotonic() - self._housekept_at >= self.housekeeping_every:
                    self._housekept_at = time.monotonic()
                    self._give_up_stale()
                    db.session.execute(
                        delete(MailOutbox).where(
                            MailOutbox.sent_at < now_s() - SENT_RETENTION_SECONDS
                        )
                    )
                    db.session.commit()
                for row_id in self._due_ids():
                    self._send(row_id)
                return self._seconds_to_next_due()
            finally:
                db.session.remove()

    def _give_up_stale(self) -> None:
        now = now_s()
        stale = db.session.execute(
            select(MailOutbox.id, MailOutbox.to_addr, MailOutbox.attempts, MailOutbox.last_error)
            .where(*_PENDING, MailOutbox.created_at <= now - GIVE_UP_AFTER_SECONDS)
            .where(MailOutbox.locked_until <= now)
        ).all()
        for row_id, to_addr, attempts, last_error in stale:
            db.session.execute(
                update(MailOutbox)
                .where(MailOutbox.id == row_id, *_PENDING)
                .values(given_up=True, locked_until=0)
            )
            log.error(
                "mail %s to %s given up after 24 h and %d attempts; last error: %s",
                row_id,
                to_addr,
                attempts,
                last_error,
            )
        db.session.commit()

    def _due_ids(self) -> list[int]:
        now = now_s()
        ids = db.session.scalars(
            select(MailOutbox.id)
            .where(*_PENDING, MailOutbox.next_attempt_at <= now, MailOutbox.locked_until <= now)
            .order_by(MailOutbox.next_attempt_at, MailOutbox.id)
            .limit(BATCH)
        ).all()
        db.session.commit()
        return list(ids)

    def _send(self, row_id: int) -> None:
        now = now_s()
        # The lease: only one worker's UPDATE matches, so only one sends.
        leased = affected(
            update(MailOutbox)
            .where(
                MailOutbox.id == row_id,
                *_PENDING,
                MailOutbox.next_attempt_at <= now,
                MailOutbox.locked_until <= now,
            )
            .values(locked_until=now + LEASE_SECONDS)
        )
        db.session.commit()
        if leased != 1:
            return
        row = db.session.execute(
            select(
                MailOutbox.to_addr,
                MailOutbox.subject,
                MailOutbox.body,
                MailOutbox.created_at,
                MailOutbox.attempts,
            ).where(MailOutbox.id == row_id)
        ).one()
        # End the transaction before network I/O so no DB connection waits on SMTP.
        db.session.commit()
        config = self.app.config
        try:
            body = unseal(row.body)
        except InvalidToken:
            self._finish(row_id, given_up=True, last_error="cannot decrypt (SECRET_KEY changed?)")
            log.error("mail %s to %s given up: body cannot be decrypted", row_id, row.to_addr)
            return
        message = build_message(config, row_id, row.created_at, row.to_addr, row.subject, body)
        try:
            deliver(config, message)
        except Exception as exc:  # any SMTP, socket or TLS failure: retry later
            metrics.MAIL_FAILURES.inc()
            attempts = row.attempts + 1
            delay = min(BACKOFF_CAP_SECONDS, 2 ** (attempts - 1))
            self._finish(
                row_id,
                attempts=attempts,
                next_attempt_at=now_s() + delay,
                last_error=f"{type(exc).__name__}: {exc}"[:1000],
            )
            log.warning(
                "mail %s to %s failed (attempt %d), retry in %d s: %s",
                row_id,
                row.to_addr,
                attempts,
                delay,
                exc,
            )
            return
        self._finish(row_id, sent_at=now_s(), attempts=row.attempts + 1, last_error=None)
        if config["MAIL_BACKEND"] == "console":
            log.info("mail %s to %s written to the log (console backend)", row_id, row.to_addr)
        else:
            log.info("mail %s sent to %s", row_id, row.to_addr)

    def _finish(self, row_id: int, **values: Any) -> None:
        db.session.execute(
            update(MailOutbox).where(MailOutbox.id == row_id).values(locked_until=0, **values)
        )
        db.session.commit()

    def _seconds_to_next_due(self) -> float:
        due_at = case(
            (MailOutbox.locked_until > MailOutbox.next_attempt_at, MailOutbox.locked_until),
            else_=MailOutbox.next_attempt_at,
        )
        earliest = db.session.execute(select(func.min(due_at)).where(*_PENDING)).scalar()
        db.session.commit()
        if earliest is None:
            return POLL_SECONDS
        return max(0.0, earliest - time.time())


def sender_of(app: Flask) -> OutboxSender:
    """The outbox sender bound to ``app``."""
    return app.extensions[_EXTENSION]


def init_app(app: Flask) -> None:
    """Bind an outbox sender to ``app``; it starts with the first request of each worker.

    Under ``TESTING`` it does not start by itself: in-process tests drive
    :meth:`OutboxSender.run_once` or start the loop explicitly.
    """
    sender = OutboxSender(app)
    app.extensions[_EXTENSION] = sender

    def start_sender() -> None:
        # Under gunicorn the host's sender process sends (see the module's docstring).
        if _wake_fd() is None:
            sender.loop.ensure_started()

    start_in_workers(app, start_sender)


def serve(app: Flask, wake_fd: int | None) -> None:
    """Run ``app``'s sender in the foreground until SIGTERM: the host's sender process.

    ``wake_fd`` is the read end of the workers' wake-up pipe; without it the loop polls.
    """
    import signal

    sender = sender_of(app)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    log.info("mail sender process %d started (backend %s)", os.getpid(), app.config["MAIL_BACKEND"])
    while not stopping:
        try:
            delay = sender.run_once()
        except Exception:  # the database may be down; try again later
            log.exception("mail-outbox: step failed")
            delay = POLL_SECONDS
        wait = max(0.0, min(delay, POLL_SECONDS))
        if wake_fd is None:
            time.sleep(wait)
            continue
        try:
            ready, _, _ = select_module.select([wake_fd], [], [], wait)
        except InterruptedError:
            continue
        if ready:
            # A burst of wake-ups (one per committed request) becomes one pass.
            time.sleep(COALESCE_SECONDS)
            if not os.read(wake_fd, 65536):
                # End of file: the master and every worker are gone, so is the reason to run.
                log.info("mail sender process %d: the server is gone; stopping", os.getpid())
                return
