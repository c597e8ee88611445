"""The gunicorn worker (gunicorn.conf.py's HomepairWorker): gunicorn's own refusals in the
protocol's envelope, and a shutdown that answers every held subscribe."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest
import requests

from tests.live import make_run_on_a_clone
from tests.nest.factories import new_serial
from tests.rawhttp import subscribe

pytestmark = pytest.mark.live

PATHS = [
    ("POST", "/api/register"),
    ("POST", "/nest/transport"),
    ("GET", "/verify"),
    ("POST", "/api"),
]


def raw(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` on a fresh connection; the status, headers and body of the answer.

    Reads until the server closes the connection (which every case here must do)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def assert_envelope(path: str, status: int, expected_status: int, headers: dict, body: bytes):
    assert headers["content-type"] == "application/json", (path, body)
    value = json.loads(body)
    if path == "/api":  # Hue: always 200, the outcome in a result array
        assert status == 200
        assert list(value[0]["error"]) == ["type", "address", "description"]
        return
    assert status == expected_status, (path, body)
    if path == "/api/register":
        assert value["success"] is False and list(value) == ["success", "message"]
    elif path == "/verify":
        assert list(value) == ["result", "error", "code", "sub_code"]
        assert headers["access-control-allow-origin"] == "*"
    else:
        assert list(value) == ["error"]


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_gunicorn_refusals_come_in_the_protocol_envelope(live, method, path):
    port = live.port
    long_url = f"{method} {path}?pad={'A' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    status, headers, body = raw(port, long_url)
    assert_envelope(path, status, 414, headers, body)
    assert headers["connection"] == "close"
    assert "A" * 100 not in body.decode()

    big_header = f"{method} {path} HTTP/1.1\r\nHost: x\r\nX-Pad: {'B' * 9000}\r\n\r\n".encode()
    status, headers, body = raw(port, big_header)
    assert_envelope(path, status, 431, headers, body)

    bad_length = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".encode()
    status, headers, body = raw(port, bad_length)
    assert_envelope(path, status, 400, headers, body)

    bad_chunks = (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n"
    ).encode()
    # Raised while the app reads the body: gunicorn writes its own Connection header, but
    # the app shuts the socket (raw() reads to the end).
    status, headers, body = raw(port, bad_chunks)
    assert_envelope(path, status, 400, headers, body)


def test_sigterm_to_make_run_answers_a_thousand_holds_and_exits(tmp_path):
    # A thousand devices from one address: more than the default new-device budget.
    process, _, base = make_run_on_a_clone(tmp_path, NEST_NEW_DEVICES_LIMIT_PER_IP="5000/hour")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                # The readiness probe closes its connection: the shutdown measured below is
                # the holds', not an idle keep-alive connection's (gunicorn's keepalive, 5 s).
                ready = requests.get(base + "/healthz", timeout=1, headers={"Connection": "close"})
                if ready.status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        streams = [subscribe(base, new_serial()) for _ in range(1000)]
        for stream in streams:
            assert stream.read_head(timeout=10)[0] == 200
        started = time.monotonic()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    assert took < 10
    # Every hold got its whole answer: the terminating chunk, no reset.
    for stream in streams:
        assert stream.read_chunk(timeout=5) is None
        stream.close()


def test_a_tls_probe_on_the_plain_port_is_no_warning(start_server):
    import ssl

    server = start_server()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock,
        pytest.raises(ssl.SSLError),
    ):
        context.wrap_socket(sock)  # what aiohue's HTTPS attempt does first
    time.sleep(0.3)
    assert "Invalid request" not in server.log()
    assert requests.get(server.url + "/api/config", timeout=5).status_code == 200
