"""A minimal HTTP/1.1 client over a raw socket, to see what a device sees on the wire:
when the headers arrive, and each chunk's exact bytes."""

from __future__ import annotations

import base64
import json
import socket
import time
from urllib.parse import urlsplit


class RawStream:
    """One request on its own connection; read the head, then chunk by chunk."""

    def __init__(self, url: str, method: str, path: str, body: bytes = b"", headers=None):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(body)}")
        self.sent_at = time.monotonic()
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        self.buffer = b""
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.raw_head = b""

    def _fill(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed")
        self.buffer += data

    def read_head(self, timeout: float = 5) -> tuple[int, dict[str, str]]:
        """Status and headers (names lower-cased); raises on timeout."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buffer:
            self._fill(max(0.01, deadline - time.monotonic()))
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        self.raw_head = head
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        return self.status, self.headers

    def read_chunk(self, timeout: float) -> bytes | None:
        """The next chunk's payload; None for the terminating zero-size chunk."""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buffer:
            self._fill(max(0.01, deadline - time.monotonic()))
        size_line, rest = self.buffer.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        while len(rest) < size + 2:
            self._fill(max(0.01, deadline - time.monotonic()))
            size_line, rest = self.buffer.split(b"\r\n", 1)
        payload, self.buffer = rest[:size], rest[size + 2 :]
        return payload if size else None

    def read_body(self, timeout: float = 5) -> bytes:
        """The whole body (chunked or Content-Length)."""
        if self.headers.get("transfer-encoding") == "chunked":
            parts = []
            while (chunk := self.read_chunk(timeout)) is not None:
                parts.append(chunk)
            return b"".join(parts)
        length = int(self.headers.get("content-length", "0"))
        deadline = time.monotonic() + timeout
        while len(self.buffer) < length:
            self._fill(max(0.01, deadline - time.monotonic()))
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return body

    def close(self) -> None:
        """Drop the connection."""
        self.sock.close()


def device_auth(serial: str) -> dict[str, str]:
    """The firmware's Basic credentials (the password is never checked)."""
    token = base64.b64encode(f"d.{serial}.x:secret".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def subscribe(url: str, serial: str, objects=None, chunked: bool = True, **extra) -> RawStream:
    """Open a subscribe as the firmware does (by default listing its device bucket, already
    uploaded: at timestamp 0 an unknown bucket is answered at once with a placeholder)."""
    if objects is None:
        objects = [
            {"object_key": f"device.{serial}", "object_revision": 1, "object_timestamp": 1},
        ]
    body = {"chunked": chunked, "session": "s", "objects": objects, **extra}
    return RawStream(
        url,
        "POST",
        "/nest/transport/v5/subscribe",
        json.dumps(body).encode(),
        {**device_auth(serial), "Content-Type": "application/json"},
    )
