"""The outbox sender (app.mail) against a real SMTP server (aiosmtpd), in process.

Each test drives :meth:`OutboxSender.run_once` (the loop body) directly, or starts the loop
and stops it, so no background thread outlives its test.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import ssl
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select, update

from app import create_app, mail
from app.clock import now_s
from app.extensions import db
from app.models import MailOutbox
from tests.live import free_port
from tests.ruuvi.helpers import Mailbox, start_smtp


@pytest.fixture
def make_app(tmp_path):
    """Factory: an app on a fresh SQLite file with the given settings."""
    apps = []

    def make(**config):
        settings = {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / f'mail{len(apps)}.db'}",
            "SECRET_KEY": "mail-secret",
        }
        settings.update(config)
        app = create_app(settings)
        with app.app_context():
            db.create_all()
        apps.append(app)
        return app

    yield make
    for app in apps:
        mail.sender_of(app).loop.stop()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) for one test: ``(controller, mailbox)``."""
    controller, mailbox = start_smtp()
    yield controller, mailbox
    controller.stop()


def smtp_app(make_app, port: int, **config):
    """An app whose outbox goes to the SMTP server on ``port``."""
    return make_app(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=port, **config)


def enqueue(app, to_addr="someone@example.com", subject="Hello", body="Body text\n") -> int:
    """Queue and commit one message; return its outbox id."""
    with app.app_context():
        row_id = mail.queue(to_addr, subject, body)
        db.session.commit()
        return row_id


def row_of(app, row_id: int) -> MailOutbox:
    """The outbox row as it is now (detached)."""
    with app.app_context():
        row = db.session.get(MailOutbox, row_id)
        db.session.expunge(row)
        return row


def set_row(app, row_id: int, **values) -> None:
    """Move a row in time (the sender reads times from the row, so no clock is faked)."""
    with app.app_context():
        db.session.execute(update(MailOutbox).where(MailOutbox.id == row_id).values(**values))
        db.session.commit()


def test_a_queued_message_is_sent_and_marked(make_app, smtp):
    controller, mailbox = smtp
    app = smtp_app(make_app, controller.port, MAIL_DEFAULT_SENDER="Home <home@pair.example>")
    row_id = enqueue(app, "Someone@Example.com", "Hello", "Hi there\n\nABCD\n")

    mail.sender_of(app).run_once()

    [message] = mailbox.to("Someone@Example.com")
    assert message["From"] == "Home <home@pair.example>"
    assert message["Subject"] == "Hello"
    assert (
        message["Message-ID"]
        == f"<homepair.outbox.{row_id}.{row_of(app, row_id).created_at}@pair.example>"
    )
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content().splitlines() == ["Hi there", "", "ABCD"]
    row = row_of(app, row_id)
    assert row.sent_at is not None and row.attempts == 1 and row.locked_until == 0


def test_bodies_are_sealed_at_rest(make_app):
    app = make_app()
    row_id = enqueue(app, body="secret code QX7Z\n")

    stored = row_of(app, row_id).body

    assert "QX7Z" not in stored
    with app.app_context():
        assert mail.unseal(stored) == "secret code QX7Z\n"


def test_a_body_sealed_under_another_key_is_given_up(make_app, smtp, caplog):
    controller, mailbox = smtp
    app = smtp_app(make_app, controller.port)
    row_id = enqueue(app)
    app.config["SECRET_KEY"] = "rotated"

    with caplog.at_level(logging.ERROR, logger="app.mail"):
        mail.sender_of(app).run_once()

    row = row_of(app, row_id)
    assert row.given_up and row.sent_at is None
    assert "cannot be decrypted" in caplog.text
    assert mailbox.messages == []


def test_failures_back_off_1_2_4_up_to_60_seconds(make_app):
    app = smtp_app(make_app, free_port())  # nothing listens: connection refused
    row_id = enqueue(app)
    sender = mail.sender_of(app)
    delays = []
    for _ in range(8):
        set_row(app, row_id, next_attempt_at=0)  # due now
        sender.run_once()
        row = row_of(app, row_id)
        delays.append(row.next_attempt_at - now_s())
        assert row.sent_at is None and row.locked_until == 0
        assert "ConnectionRefusedError" in row.last_error

    expected = [1, 2, 4, 8, 16, 32, 60, 60]
    assert all(e - 1 <= d <= e for d, e in zip(delays, expected, strict=True)), delays
    assert row_of(app, row_id).attempts == 8


def test_rows_older_than_a_day_are_given_up_and_kept(make_app, smtp, caplog):
    controller, mailbox = smtp
    app = smtp_app(make_app, controller.port)
    old = enqueue(app, "old@example.com")
    set_row(app, old, created_at=now_s() - 24 * 3600 - 1, attempts=9, last_error="timed out")
    fresh = enqueue(app, "fresh@example.com")

    with caplog.at_level(logging.ERROR, logger="app.mail"):
        mail.sender_of(app).run_once()

    assert row_of(app, old).given_up and row_of(app, old).sent_at is None
    assert "given up after 24 h and 9 attempts; last error: timed out" in caplog.text
    assert [m["To"] for m in mailbox.messages] == ["fresh@example.com"]
    assert row_of(app, fresh).sent_at is not None


def test_a_leased_row_is_left_to_its_holder(make_app, smtp):
    controller, mailbox = smtp
    app = smtp_app(make_app, controller.port)
    row_id = enqueue(app)
    set_row(app, row_id, locked_until=now_s() + 60)  # another worker is sending it

    wait = mail.sender_of(app).run_once()

    assert mailbox.messages == []
    assert 55 <= wait <= 60
    assert row_of(app, row_id).sent_at is None


class SlowMailbox(Mailbox):
    """Takes its time over each message, so two senders overlap."""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        """Store the message after a pause."""
        await asyncio.sleep(0.1)
        return await super().handle_DATA(server, session, envelope)


def test_two_senders_never_send_one_row_twice(make_app):
    mailbox = SlowMailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        app = smtp_app(make_app, controller.port)
        addresses = [f"r{n}@example.com" for n in range(6)]
        for address in addresses:
            enqueue(app, address)
        senders = [mail.OutboxSender(app), mail.OutboxSender(app)]
        threads = [threading.Thread(target=s.run_once) for s in senders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        controller.stop()

    assert sorted(m["To"] for m in mailbox.messages) == addresses


def test_the_loop_is_woken_by_a_commit(make_app, smtp):
    controller, mailbox = smtp
    app = smtp_app(make_app, controller.port)
    loop = mail.sender_of(app).loop
    loop.ensure_started()
    time.sleep(0.2)  # let the first pass find nothing and settle into its 5 s wait
    started = time.monotonic()

    with app.app_context():
        mail.queue("woken@example.com", "Hello", "Body\n")
        db.session.commit()
        mail.wake()
    mailbox.wait_for("woken@example.com", timeout=4)

    assert time.monotonic() - started < mail.POLL_SECONDS / 2
    loop.stop()
    assert loop._thread is None


def test_the_loop_starts_once_per_process(make_app):
    app = make_app()
    loop = mail.sender_of(app).loop

    loop.ensure_started()
    first = loop._thread
    loop.ensure_started()

    assert loop._thread is first and first.is_alive()
    loop.stop()
    assert not first.is_alive()


def test_the_console_backend_logs_the_whole_message(make_app, caplog):
    app = make_app()  # MAIL_BACKEND defaults to console
    row_id = enqueue(app, "console@example.com", "Your verification code", "Code:\n\nK3Y9\n")

    with caplog.at_level(logging.INFO, logger="app.mail"):
        mail.sender_of(app).run_once()

    assert "To: console@example.com" in caplog.text
    assert "Subject: Your verification code" in caplog.text
    assert "\nK3Y9\n" in caplog.text
    assert row_of(app, row_id).sent_at is not None


def test_sent_rows_are_purged_after_a_week(make_app):
    app = make_app()
    kept, purged = enqueue(app), enqueue(app)
    sender = mail.sender_of(app)
    sender.run_once()
    set_row(app, purged, sent_at=now_s() - mail.SENT_RETENTION_SECONDS - 1)
    sender.run_once()  # housekeeping ran in the first pass: nothing purged before a minute
    with app.app_context():
        assert sorted(db.session.scalars(select(MailOutbox.id)).all()) == sorted([kept, purged])

    sender.housekeeping_every = 0
    sender.run_once()

    with app.app_context():
        assert db.session.scalars(select(MailOutbox.id)).all() == [kept]


# --- TLS and login -------------------------------------------------------------------------


@pytest.fixture
def tls_files(tmp_path, monkeypatch):
    """A self-signed certificate for 127.0.0.1 that the client trusts (SSL_CERT_FILE)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "homepair test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    return server


class Logins:
    """aiosmtpd authenticator accepting one user; records every attempt."""

    def __init__(self, user: bytes, password: bytes):
        self.user, self.password, self.seen = user, password, []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        """Accept the configured user and password only."""
        self.seen.append((mechanism, auth_data.login))
        ok = auth_data.login == self.user and auth_data.password == self.password
        # handled=False: aiosmtpd answers a refusal with 535 itself.
        return AuthResult(success=ok, handled=ok)


def test_starttls_and_login(make_app, tls_files):
    logins = Logins(b"mailer", b"s3cret")
    controller, mailbox = start_smtp(
        tls_context=tls_files,
        require_starttls=True,
        authenticator=logins,
        auth_require_tls=True,
    )
    try:
        good = smtp_app(
            make_app,
            controller.port,
            MAIL_USE_TLS=True,
            MAIL_USERNAME="mailer",
            MAIL_PASSWORD="s3cret",
        )
        bad = smtp_app(
            make_app,
            controller.port,
            MAIL_USE_TLS=True,
            MAIL_USERNAME="mailer",
            MAIL_PASSWORD="wrong",
        )
        sent, refused = enqueue(good, "tls@example.com"), enqueue(bad, "nope@example.com")

        mail.sender_of(good).run_once()
        mail.sender_of(bad).run_once()
    finally:
        controller.stop()

    assert [m["To"] for m in mailbox.messages] == ["tls@example.com"]
    assert row_of(good, sent).sent_at is not None
    assert "SMTPAuthenticationError" in row_of(bad, refused).last_error
    assert {login for _, login in logins.seen} == {b"mailer"}


def test_implicit_tls(make_app, tls_files):
    controller, mailbox = start_smtp(ssl_context=tls_files)
    try:
        app = smtp_app(make_app, controller.port, MAIL_USE_SSL=True)
        row_id = enqueue(app, "ssl@example.com")

        mail.sender_of(app).run_once()
    finally:
        controller.stop()

    assert [m["To"] for m in mailbox.messages] == ["ssl@example.com"]
    assert row_of(app, row_id).sent_at is not None


def test_an_untrusted_certificate_is_refused(make_app, tls_files, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE")
    controller, mailbox = start_smtp(ssl_context=tls_files)
    try:
        app = smtp_app(make_app, controller.port, MAIL_USE_SSL=True)
        row_id = enqueue(app, "mitm@example.com")

        mail.sender_of(app).run_once()
    finally:
        controller.stop()

    assert mailbox.messages == []
    assert "CERTIFICATE_VERIFY_FAILED" in row_of(app, row_id).last_error
