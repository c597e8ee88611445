"""Shared Ruuvi fixtures: one SMTP server and one gunicorn server for the whole package.

Tests keep apart by unique addresses and client IPs (the server trusts one proxy hop, so
each test sends its own ``X-Forwarded-For``); limits stay at their defaults.
"""

from __future__ import annotations

import pytest

from tests.live import LiveServer
from tests.ruuvi.helpers import RuuviClient, start_smtp


@pytest.fixture(scope="package")
def smtp():
    """A real SMTP server (aiosmtpd) that keeps what it receives: ``(controller, mailbox)``."""
    controller, mailbox = start_smtp()
    yield controller, mailbox
    controller.stop()


@pytest.fixture(scope="package")
def ruuvi_live(tmp_path_factory, smtp):
    """gunicorn (gevent, one worker) sending mail to :func:`smtp`, default limits."""
    controller, _ = smtp
    server = LiveServer(
        tmp_path_factory.mktemp("ruuvi-live"),
        MAIL_BACKEND="smtp",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=controller.port,
        TRUSTED_PROXY_HOPS=1,
    ).start()
    yield server
    # Every request of the package went through this server: none may have hit a 500 path.
    # (Read before stopping: a quick shutdown may print gevent's exit noise.)
    log = server.log()
    server.stop()
    assert "Traceback" not in log, log


@pytest.fixture
def mailbox(smtp):
    """The shared SMTP server's mailbox."""
    return smtp[1]


@pytest.fixture
def ruuvi(ruuvi_live, mailbox):
    """A client of the shared server with a client IP of its own."""
    client = RuuviClient(ruuvi_live.url, mailbox)
    yield client
    # An idle keep-alive connection would hold gunicorn's graceful shutdown for its timeout.
    client.close()
