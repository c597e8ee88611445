"""schemathesis against ``/openapi.json`` of a live gunicorn server.

Cases are generated from the served document for every operation, in positive mode (valid
by the schemas, so they reach the code behind validation) and negative mode (each violating
the schemas somewhere). Every answer must pass the fuzz oracle (no 5xx, no HTML, the
protocol's envelope and byte form); positive-mode answers must also conform to the document
(status, content type, headers, body schema), so the document cannot drift from the wire.

Half the cases carry a real secret instead of a generated one, so authenticated paths are
reached too: a whitelisted Hue key, a live Ruuvi token, a Nest serial showing a key.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.operations import exercise
from tests.nest.factories import auth, new_serial
from tests.ruuvi.helpers import RuuviClient, start_smtp

pytestmark = pytest.mark.live

CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Generous limits: the point is to reach every branch, not to be throttled (the oracle still
# checks any 429 that comes).
LIMITS = {
    "NEST_REGISTER_LIMIT_PER_IP": "100000/minute",
    "NEST_REGISTER_LIMIT_TOTAL": "100000/minute",
    "RUUVI_REGISTER_LIMIT_PER_EMAIL": "100000/hour",
    "RUUVI_REGISTER_LIMIT_PER_IP": "100000/hour",
    "RUUVI_REGISTER_LIMIT_TOTAL": "100000/hour",
    "RUUVI_VERIFY_LIMIT_PER_IP": "100000/hour",
    "RUUVI_VERIFY_LIMIT_TOTAL": "100000/hour",
}
EXAMPLES_PER_OPERATION = 12
TIME_CAP_SECONDS = 60


@pytest.fixture
def server(start_server):
    """A live server (1 s subscribe holds) with an SMTP server for Ruuvi codes."""
    controller, mailbox = start_smtp()
    try:
        live = start_server(
            NEST_SUSPEND_TIME_MAX=5,
            HUE_LINK_WINDOW_SECONDS=3600,
            MAIL_BACKEND="smtp",
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=controller.port,
            **LIMITS,
        )
        live.mailbox = mailbox
        yield live
        # Any 500 path would have logged a traceback.
        assert "Traceback" not in live.log(), live.log()
    finally:
        controller.stop()


class Secrets:
    """Real credentials the generated cases may use instead of random ones."""

    def __init__(self, server):
        self.server = server
        self.http = requests.Session()
        self.serial = new_serial()
        self.http.get(server.url + "/nest/passphrase", headers=auth(self.serial), timeout=5)
        server.flask("hue", "press-link-button")
        created = self.http.post(server.url + "/api", json={"devicetype": "fuzz#st"}, timeout=5)
        self.hue_key = created.json()[0]["success"]["username"]
        self.ruuvi = RuuviClient(server.url, server.mailbox)
        self.token = ""
        self.refresh_token()

    def refresh_token(self) -> None:
        """Sign in again (a case may have revoked every session)."""
        self.token = self.ruuvi.sign_in(f"fuzz.{time.monotonic_ns()}@example.com")["accessToken"]

    def apply(self, case) -> None:
        """Put the real secrets into the places the case's operation reads them from."""
        if "username" in (case.path_parameters or {}):
            case.path_parameters["username"] = self.hue_key
        if case.path.startswith("/nest/"):
            case.headers = {**(case.headers or {}), **auth(self.serial)}
        if case.path in ("/user", "/sessions", "/sessions/{id}"):
            if self.ruuvi.authed("GET", "/user", self.token).status_code == 401:
                self.refresh_token()
            case.headers = {**(case.headers or {}), "Authorization": "Bearer " + self.token}

    def close(self) -> None:
        """Close the sessions."""
        self.http.close()
        self.ruuvi.close()


def _operations(schema):
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25, [op.label for op in operations]
    return operations


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_schemathesis_finds_no_5xx_and_every_answer_in_its_envelope(server, mode):
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = _operations(schema)
    secrets = Secrets(server)

    def checks(answer) -> list:
        # An idle long-poll's empty body is a stream OpenAPI cannot describe (the oracle
        # checked it); every other positive-mode answer must match the document.
        return CONFORMANCE if mode == "positive" and not answer.held else []

    try:
        seen, nothing_to_negate = exercise(
            operations,
            server.url,
            mode,
            secrets.apply,
            checks,
            st.booleans(),
            EXAMPLES_PER_OPERATION,
            TIME_CAP_SECONDS,
        )
    finally:
        secrets.close()
    # Bounded, but not vacuous: most operations that can be exercised were.
    possible = len(operations) - len(nothing_to_negate - seen)
    assert len(seen) >= possible * 3 // 4, (sorted(seen), sorted(nothing_to_negate))


def test_the_served_document_loads_in_schemathesis(server):
    """The loader accepts the document and sees every operation (a schema error is an Err)."""
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    results = list(schema.get_all_operations())
    errors = [r.err() for r in results if not hasattr(r, "ok") or r.__class__.__name__ == "Err"]
    assert not errors, errors
    labels = {r.ok().label for r in results}
    assert {"POST /api/register", "POST /api", "POST /register", "POST /nest/transport"} <= labels
    body = json.loads(requests.get(server.url + "/openapi.json", timeout=5).content)
    assert len(labels) == sum(len(m) for m in body["paths"].values())
