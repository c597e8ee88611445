"""Shared Ruuvi fixtures: one SMTP server and one gunicorn server for the whole package.

Tests keep apart by unique addresses and client IPs (the server trusts one proxy hop, so
each test sends its own ``X-Forwarded-For``); limits stay at their defaults.
"""

from __future__ import annotations

import pytest

from tests.ruuvi.helpers import RuuviClient, mailing_server, start_smtp


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
    with mailing_server(
        tmp_path_factory.mktemp("ruuvi-live"), controller, TRUSTED_PROXY_HOPS=1
    ) as server:
        yield server


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
