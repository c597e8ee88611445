"""Simultaneous requests, as an attacker sends them: every request arrives at the same instant.

:func:`burst` opens one connection per request, sends each request but its last byte, waits
until every connection is open and every partial request sent, then releases all the last
bytes at once. The server has parsed nothing complete before the release, so a limit that
tests first and counts afterwards lets the whole burst through, and one that counts first
lets through exactly its amount.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Answer:
    """One response: status, lower-cased headers and the body (de-chunked)."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        """The body parsed as JSON."""
        return json.loads(self.body)


def request_bytes(
    url: str,
    method: str,
    path: str,
    body: bytes | dict | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """The raw bytes of one HTTP/1.1 request that closes its connection afterwards."""
    parts = urlsplit(url)
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    body = body or b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _parse(raw: bytes) -> Answer:
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body += rest[:size]
            rest = rest[size + 2 :]
        rest = body
    return Answer(status, headers, rest)


async def _burst(
    host: str, port: int, requests: list[bytes], timeout: float, source: str | None
) -> list[Answer | Exception]:
    opened = 0
    all_open = asyncio.Event()
    release = asyncio.Event()
    local = (source, 0) if source else None

    async def one(raw: bytes) -> Answer:
        nonlocal opened
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=local)
            writer.write(raw[:-1])
            await writer.drain()
        finally:
            opened += 1
            if opened == len(requests):
                all_open.set()
        await release.wait()
        try:
            writer.write(raw[-1:])
            await writer.drain()
            data = await reader.read()
        finally:
            writer.close()
        return _parse(data)

    async def run() -> list[Answer | Exception]:
        tasks = [asyncio.ensure_future(one(raw)) for raw in requests]
        await all_open.wait()
        # Let the server read every partial request before the last bytes go out.
        await asyncio.sleep(0.2)
        release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    return await asyncio.wait_for(run(), timeout)


def burst(
    url: str, requests: list[bytes], timeout: float = 60, source: str | None = None
) -> list[Answer]:
    """Send ``requests`` (from :func:`request_bytes`) at once; their answers, in order.

    ``source`` binds the client side to that loopback address (127.0.0.2 …) so a test can be
    several clients. A connection that fails raises here: a burst test wants every answer.
    """
    parts = urlsplit(url)
    answers = asyncio.run(_burst(parts.hostname, parts.port, requests, timeout, source))
    failed = [a for a in answers if isinstance(a, Exception)]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(answers)} requests failed: {failed[0]!r}")
    return answers


def same(url: str, count: int, method: str, path: str, **kwargs) -> list[bytes]:
    """``count`` copies of one request."""
    return [request_bytes(url, method, path, **kwargs)] * count
