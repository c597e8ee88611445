"""A lean HTTP/1.1 keep-alive client on gevent sockets.

Generic clients (requests, urllib3) spend more CPU per request than the server under test on
some endpoints; on a 2-core machine that CPU is taken from the server. This one builds request
bytes with string formatting and parses only what it needs (status, Content-Length or
chunked framing).
"""

from __future__ import annotations

import socket as _stdsocket

from gevent import socket

_CRLF2 = b"\r\n\r\n"


def request_bytes(
    method: str, path: str, host: str, body: bytes = b"", headers: tuple[str, ...] = ()
) -> bytes:
    """One HTTP/1.1 request, keep-alive, ready to send."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *headers]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class ClosedError(ConnectionError):
    """The server closed the connection."""


class Connection:
    """One keep-alive connection; ``request`` sends and reads one whole response."""

    __slots__ = ("sock", "buf", "port")

    def __init__(self, address: tuple[str, int], timeout: float = 30.0):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY, 1)
        self.buf = b""
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        """Drop the connection."""
        self.sock.close()

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ClosedError("connection closed by server")
        self.buf += data

    def read_head(self) -> tuple[int, bytes]:
        """Status code and the raw header block (lower-cased)."""
        while (end := self.buf.find(_CRLF2)) < 0:
            self._more()
        head, self.buf = self.buf[:end], self.buf[end + 4 :]
        return int(head[9:12]), head.lower()

    def read_chunk(self) -> bytes | None:
        """The next chunk's payload; None for the terminating zero-size chunk."""
        while (end := self.buf.find(b"\r\n")) < 0:
            self._more()
        size = int(self.buf[:end].split(b";", 1)[0], 16)
        need = end + 2 + size + 2
        while len(self.buf) < need:
            self._more()
        payload, self.buf = self.buf[end + 2 : end + 2 + size], self.buf[need:]
        return payload if size else None

    def read_body(self, head: bytes) -> bytes:
        """The body framed as ``head`` says (Content-Length or chunked)."""
        if b"transfer-encoding: chunked" in head:
            parts = []
            while (chunk := self.read_chunk()) is not None:
                parts.append(chunk)
            return b"".join(parts)
        at = head.find(b"content-length:")
        if at < 0:
            return b""
        end = head.find(b"\r\n", at)
        length = int(head[at + 15 : end if end >= 0 else len(head)])
        while len(self.buf) < length:
            self._more()
        body, self.buf = self.buf[:length], self.buf[length:]
        return body

    def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send ``raw`` and return ``(status, body)``."""
        self.sock.sendall(raw)
        status, head = self.read_head()
        return status, self.read_body(head)
