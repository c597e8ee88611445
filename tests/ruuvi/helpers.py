"""Helpers for the Ruuvi tests: a real SMTP server (aiosmtpd) and an HTTP client per test."""

from __future__ import annotations

import contextlib
import email
import email.policy
import itertools
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import requests
from aiosmtpd.controller import Controller

from tests.live import LiveServer, free_port

CODE_LINE = re.compile(r"[A-Z0-9]{4}")
TOKEN_RE = re.compile(r"^[0-9a-f]+/[A-Za-z0-9]{64}$")
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Max-Age": "86400",
}
BODY_403 = (
    b'{"result":"error","error":"Code used or expired","code":"ER_FORBIDDEN",'
    b'"sub_code":"ER_TOKEN_EXPIRED"}'
)
BODY_401 = (
    b'{"result":"error","error":"Unauthorized request.","code":"ER_UNAUTHORIZED","sub_code":null}'
)
BODY_429 = b'{"result":"error","error":"Too many requests","code":"ER_THROTTLED","sub_code":null}'
BODY_MISSING_TOKEN = (
    b'{"result":"error","error":"Missing token","code":"ER_INVALID",'
    b'"sub_code":"ER_INVALID_ARGUMENT"}'
)
BODY_INVALID_JSON = (
    b'{"result":"error","error":"Invalid JSON","code":"ER_INVALID","sub_code":"ER_INVALID_FORMAT"}'
)
BODY_404 = b'{"result":"error","error":"NOT FOUND","code":"ER_NOT_FOUND","sub_code":null}'

_serial = itertools.count(1)


def unique_email(prefix: str = "user") -> str:
    """An address no other test uses (the servers are shared)."""
    return f"{prefix}.{next(_serial)}.{time.monotonic_ns()}@example.com"


def unique_ip() -> str:
    """A client IP no other test uses, sent as X-Forwarded-For (servers trust one hop)."""
    n = next(_serial) * 7919 + time.monotonic_ns() % 1000
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def invalid_email_body(shown: str) -> bytes:
    """The 400 body for an address shown as ``shown`` (a JSON string inside the body)."""
    text = json.dumps("Invalid e-mail address: " + shown, ensure_ascii=False)
    return (
        '{"result":"error","error":' + text + ',"code":"ER_INVALID",'
        '"sub_code":"ER_INVALID_EMAIL_ADDRESS"}'
    ).encode()


class Mailbox:
    """aiosmtpd handler that keeps every message it receives, parsed."""

    def __init__(self):
        self._cond = threading.Condition()
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        """Store the message; aiosmtpd calls this for each DATA."""
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages received for ``address`` so far."""
        with self._cond:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1, timeout: float = 15) -> list[EmailMessage]:
        """Wait until ``count`` messages for ``address`` arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.messages if m["To"] == address]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(found)} of {count} messages for {address}")
                self._cond.wait(left)


def start_smtp(port: int | None = None, **kwargs) -> tuple[Controller, Mailbox]:
    """A started aiosmtpd server on a loopback port; ``kwargs`` go to the Controller."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port or free_port(), **kwargs)
    controller.start()
    return controller, mailbox


@contextlib.contextmanager
def mailing_server(folder: Path, controller: Controller, **env) -> Iterator[LiveServer]:
    """A started gunicorn mailing through ``controller``; on exit, its log must hold no
    traceback (no request took an unplanned 500 path). The log is read before stopping:
    a quick shutdown may print gevent's exit noise."""
    server = LiveServer(
        folder, MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port, **env
    ).start()
    try:
        yield server
        log = server.log()
    finally:
        server.stop_in_background()
    assert "Traceback" not in log, log


def body_lines(message: EmailMessage) -> list[str]:
    """The decoded text body, line by line (SMTP delivers CRLF line ends)."""
    return message.get_content().splitlines()


def code_of(message: EmailMessage) -> str:
    """The code: the one body line that is exactly four of A-Z0-9."""
    codes = [line for line in body_lines(message) if CODE_LINE.fullmatch(line)]
    assert len(codes) == 1, message.get_content()
    return codes[0]


class RuuviClient:
    """HTTP client for one test: its own client IP, helpers for the sign-in flow."""

    def __init__(self, url: str, mailbox: Mailbox | None = None, ip: str | None = None):
        self.url = url
        self.mailbox = mailbox
        self.http = requests.Session()
        self.http.headers["X-Forwarded-For"] = ip or unique_ip()

    def close(self) -> None:
        """Close the pooled connections."""
        self.http.close()

    def __enter__(self) -> RuuviClient:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        """Any request to the server."""
        kwargs.setdefault("timeout", 15)
        return self.http.request(method, self.url + path, **kwargs)

    def register(self, address: str) -> requests.Response:
        """``POST /register`` the way the web app does (JSON text, ``text/plain``)."""
        body = '{"email":"' + address + '"}'
        return self.request(
            "POST", "/register", data=body, headers={"Content-Type": "text/plain;charset=UTF-8"}
        )

    def verify(self, code: str) -> requests.Response:
        """``GET /verify?token=<code>`` (not URL-encoded, as the web app sends it)."""
        return self.request("GET", "/verify?token=" + code)

    def code_for(self, address: str, nth: int = 1) -> str:
        """The code of the ``nth`` e-mail to ``address`` (waits for it)."""
        assert self.mailbox is not None
        return code_of(self.mailbox.wait_for(address, nth)[nth - 1])

    def sign_in(self, address: str) -> dict:
        """Register, read the code from the e-mail, verify; return ``data``."""
        count = len(self.mailbox.to(address)) + 1 if self.mailbox else 1
        assert self.register(address).status_code == 200
        response = self.verify(self.code_for(address, count))
        assert response.status_code == 200, response.content
        return response.json()["data"]

    def authed(self, method: str, path: str, token: str) -> requests.Response:
        """A request with ``Authorization: Bearer <token>``."""
        return self.request(method, path, headers={"Authorization": "Bearer " + token})


def sqlite_path(database_url: str) -> str:
    """The file of a ``sqlite:///`` URL."""
    assert database_url.startswith("sqlite:///")
    return database_url[len("sqlite:///") :]


def read_rows(database_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Run a read-only query on a live server's SQLite database."""
    connection = sqlite3.connect(f"file:{sqlite_path(database_url)}?mode=ro", uri=True)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()
