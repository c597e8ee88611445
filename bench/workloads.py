"""The requests of the throughput table: what each sends and which answer counts.

Every request maker returns fresh bytes where the endpoint must not see a repeat (serials,
e-mail addresses, Hue device types), so the server does the work a new client causes.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from bench.http import request_bytes


@dataclass(frozen=True)
class Workload:
    """One row of the throughput table."""

    name: str
    label: str
    target: str  # which server: "homepair" or "hello"
    # Built per run: (host) -> (make_request, expect)
    build: Callable[[str], tuple[Callable[[], bytes], Callable[[int, bytes], bool]]]
    # Hue: the link button must be pressed (True), released (False) or is irrelevant (None).
    link_button: bool | None = None
    # Run on a fresh server of its own each run: its side effects would slow the other rows
    # (see README, "flask-limiter's in-memory storage never forgets a key").
    isolated: bool = False


def _fixed(raw: bytes) -> Callable[[], bytes]:
    return lambda: raw


def _hue_register(host: str, path: str) -> Callable[[], bytes]:
    """A Hue app's ``POST`` of ``{"devicetype":"bench#n"}``, n counting up (no Content-Type,
    as Hue apps send it)."""
    counter = itertools.count()

    def make() -> bytes:
        body = json.dumps({"devicetype": f"bench#{next(counter)}"}).encode()
        return request_bytes("POST", path, host, body)

    return make


def _is_101(status: int, body: bytes) -> bool:
    return status == 200 and b'"type":101' in body


def hello(host: str):
    """The ceiling: Hue's ``POST`` body to ``/`` of bench/hello.py, parsed, answered with the
    type-101 list, on the same gunicorn/gevent settings as homepair."""
    return _hue_register(host, "/"), _is_101


def failed_register(host: str):
    """``POST /api/register`` with a well-formed code that cannot exist (it has a 0 and a 1,
    which entry keys never contain): spec row 7, a failed claim counted by the limits."""
    body = b'{"code":"0B1ENCH","userId":"bench"}'
    raw = request_bytes("POST", "/api/register", host, body, ("Content-Type: application/json",))
    return _fixed(raw), lambda s, b: s == 200 and b.startswith(b'{"success":false')


def passphrase(host: str):
    """``GET /nest/passphrase`` for a serial never seen before: a device row and a new key."""
    run = secrets.token_hex(3).upper()
    counter = itertools.count()

    def make() -> bytes:
        serial = f"B{run}{next(counter):010d}"
        token = base64.b64encode(f"d.{serial}.x:pw".encode()).decode()
        return request_bytes(
            "GET", "/nest/passphrase", host, headers=(f"Authorization: Basic {token}",)
        )

    return make, lambda s, b: s == 200 and b.startswith(b'{"value":"')


def hue_101(host: str):
    """``POST /api`` with the link button not pressed: the type 101 error."""
    return _hue_register(host, "/api"), _is_101


def hue_success(host: str):
    """``POST /api`` within the link window: a new generated username per request."""
    return _hue_register(
        host, "/api"
    ), lambda s, b: s == 200 and b.startswith(b'[{"success":{"username":"')


def ruuvi_register(host: str):
    """``POST /register`` with a new address each time: a code, an outbox row, a console mail."""
    run = secrets.token_hex(3)
    counter = itertools.count()

    def make() -> bytes:
        body = f'{{"email":"b{run}{next(counter)}@bench.example"}}'.encode()
        return request_bytes("POST", "/register", host, body, ("Content-Type: text/plain",))

    return make, lambda s, b: s == 200 and b.startswith(b'{"result":"success"')


def failed_verify(host: str):
    """``GET /verify`` with a well-formed code that matches nothing: 403, counted by limits."""
    counter = itertools.count()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

    def make() -> bytes:
        n = next(counter)
        code = "".join(alphabet[(n // 36**i) % 36] for i in range(4))
        return request_bytes("GET", f"/verify?token={code}", host)

    # Codes of the register rows are expired by then (RUUVI_CODE_TTL_SECONDS=1), so none match.
    return make, lambda s, b: s == 403 and b'"ER_FORBIDDEN"' in b


# Order matters: the verify rows run long (> RUUVI_CODE_TTL_SECONDS) after the register rows,
# so no code issued by the benchmark is still live and every verify is a miss; the Hue rows
# need the link button released, then pressed.
WORKLOADS = (
    Workload("hello", "ceiling: bench.hello POST / (Hue 101)", "hello", hello),
    Workload(
        "nest_register_failed", "Nest POST /api/register (failed)", "homepair", failed_register
    ),
    Workload("nest_passphrase", "Nest GET /nest/passphrase (new serial)", "homepair", passphrase),
    Workload("ruuvi_verify_failed", "Ruuvi GET /verify (failed, 403)", "homepair", failed_verify),
    Workload(
        "ruuvi_register",
        "Ruuvi POST /register (console mail)",
        "homepair",
        ruuvi_register,
        isolated=True,
    ),
    Workload("hue_api_101", "Hue POST /api (101, button not pressed)", "homepair", hue_101, False),
    Workload("hue_api_success", "Hue POST /api (success, new user)", "homepair", hue_success, True),
)

# Limits raised for the throughput runs so they never cap them. A one-second window keeps
# flask-limiter's moving-window logs as short as the defaults keep them (a few hundred to a
# few thousand entries); see README "Rate limits during the benchmark".
UNCAPPED = "1000000 per 1 second"
LIMIT_ENV = {
    "NEST_REGISTER_LIMIT_PER_IP": UNCAPPED,
    "NEST_REGISTER_LIMIT_TOTAL": UNCAPPED,
    "RUUVI_REGISTER_LIMIT_PER_EMAIL": UNCAPPED,
    "RUUVI_REGISTER_LIMIT_PER_IP": UNCAPPED,
    "RUUVI_REGISTER_LIMIT_TOTAL": UNCAPPED,
    "RUUVI_VERIFY_LIMIT_PER_IP": UNCAPPED,
    "RUUVI_VERIFY_LIMIT_TOTAL": UNCAPPED,
    # Codes issued by the register rows expire before the verify rows run (see WORKLOADS).
    "RUUVI_CODE_TTL_SECONDS": "1",
    # Long enough that the success phase never runs past the window, and as many apps as it
    # registers.
    "HUE_LINK_WINDOW_SECONDS": "3600",
    "HUE_LINK_MAX_REGISTRATIONS": "10000",
    "MAIL_BACKEND": "console",
}
