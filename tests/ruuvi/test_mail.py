"""The code e-mail over real SMTP: its text, and delivery across SMTP outages and restarts."""

from __future__ import annotations

import os
import signal
import time

from tests.live import children, free_port
from tests.ruuvi.helpers import (
    RuuviClient,
    body_lines,
    code_of,
    read_rows,
    start_smtp,
    unique_email,
)


def test_the_code_e_mail_reads_as_specified(ruuvi, mailbox):
    address = unique_email("Text")
    assert ruuvi.register(address).status_code == 200

    [message] = mailbox.wait_for(address)

    code = ruuvi.code_for(address)
    assert message["From"] == "homepair@localhost"
    assert message["To"] == address
    assert message["Subject"] == "Your verification code"
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert body_lines(message) == [
        "Your verification code is:",
        "",
        code,
        "",
        "It is valid for 10 minutes and can be used once. If you did not ask for it, ignore"
        " this e-mail.",
    ]


def _attempts(server, address: str) -> int:
    rows = read_rows(
        server.env["DATABASE_URL"], "SELECT attempts FROM mail_outbox WHERE to_addr = ?", (address,)
    )
    return rows[0][0] if rows else 0


def _wait_for_attempts(server, address: str, attempts: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while _attempts(server, address) < attempts:
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)


def test_a_code_sent_while_smtp_is_down_arrives_once_it_is_back(start_server):
    port = free_port()  # nothing listens here yet
    server = start_server(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    address = unique_email("outage")
    with RuuviClient(server.url) as client:
        assert client.register(address).status_code == 200
        _wait_for_attempts(server, address, 2)  # refused twice: retrying with backoff

        controller, mailbox = start_smtp(port)
        try:
            [message] = mailbox.wait_for(address, timeout=10)
            code_answer = client.verify(code_of(message))
            time.sleep(1.0)  # a duplicate would come from the next pass
            assert len(mailbox.to(address)) == 1
        finally:
            controller.stop()

    assert code_answer.status_code == 200
    [(sent_at, given_up, attempts)] = read_rows(
        server.env["DATABASE_URL"],
        "SELECT sent_at, given_up, attempts FROM mail_outbox WHERE to_addr = ?",
        (address,),
    )
    assert sent_at is not None and not given_up and attempts >= 3
    assert "Traceback" not in server.log()


def test_queued_mail_survives_a_restart(start_server):
    port = free_port()
    server = start_server(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    address = unique_email("restart")
    with RuuviClient(server.url) as client:
        assert client.register(address).status_code == 200
    _wait_for_attempts(server, address, 1)
    server.stop()
    # A sender stopped in the middle of an attempt leaves its 60 s lease: by design no other
    # sender touches the row until it expires, so delivery may wait for that.
    [(locked_until,)] = read_rows(
        server.env["DATABASE_URL"],
        "SELECT locked_until FROM mail_outbox WHERE to_addr = ?",
        (address,),
    )
    lease_left = max(0, locked_until - time.time())
    controller, mailbox = start_smtp(port)
    try:
        server.start()  # its health check is the first request: the sender starts

        [message] = mailbox.wait_for(address, timeout=10 + lease_left)
        time.sleep(0.5)
        assert len(mailbox.to(address)) == 1
    finally:
        controller.stop()
    assert message["Subject"] == "Your verification code"


def test_one_sender_process_sends_and_a_worker_takes_over_when_it_is_gone(start_server):
    controller, mailbox = start_smtp()
    try:
        server = start_server(
            MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port
        )
        [sender] = [
            pid
            for pid, line in children(server.process.pid).items()
            if b"\0mail\0send\0--wake-fd\0" in line
        ]
        first = unique_email("sender")
        with RuuviClient(server.url) as client:
            assert client.register(first).status_code == 200
            mailbox.wait_for(first, timeout=10)
            # The worker only queued it: the sender process took it out of the outbox.
            assert "mail sender process" in server.log()

            os.kill(sender, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while sender in children(server.process.pid) and time.monotonic() < deadline:
                time.sleep(0.05)  # polling for the master to reap it, not pacing
            second = unique_email("takeover")
            assert client.register(second).status_code == 200
            [message] = mailbox.wait_for(second, timeout=10)
            assert client.verify(code_of(message)).status_code == 200
        assert "the sender process is gone; this worker sends mail itself" in server.log()
    finally:
        controller.stop()
