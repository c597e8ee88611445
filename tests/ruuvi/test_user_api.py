"""Ruuvi's whole user API, as the Station apps call it (issue 14, Ruuvi part).

Right after sign-in the web app reads /subscription, /settings and /sensors-dense; each must
answer in the Ruuvi envelope with CORS, and so must a path nobody serves, so a browser can tell
"no data" from "network down". Then schemathesis runs Ruuvi's own document of the user API
(``ruuvi-openapi/``, an unmodified copy of ruuvi/ruuvi.cloudapi.yaml's files: CI machines may
not have ../shared) against a live server, every operation in positive and negative mode.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.errors import namespace_of
from app.ruuvi import contract
from app.ruuvi.errors import NOT_RUUVI
from tests.fuzz.helpers import ruuvi_code_for
from tests.fuzz.operations import exercise
from tests.ruuvi.helpers import CORS, RuuviClient, start_smtp, unique_email

RUUVI_DOCUMENT = Path(__file__).parent / "ruuvi-openapi" / "userapi" / "openapi.yaml"
MAC = "C6:F1:E7:D3:DA:11"
BODY_404 = b'{"result":"error","error":"NOT FOUND","code":"ER_NOT_FOUND","sub_code":null}'
BODY_405 = b'{"result":"error","error":"Method not allowed","code":"ER_INVALID","sub_code":null}'
# What the Station web app calls right after sign-in.
POST_SIGN_IN = {
    "/subscription": {"subscriptions": []},
    "/settings": {"settings": {}},
    "/sensors-dense": {"sensors": []},
}


def assert_cors(response: requests.Response) -> None:
    for name, value in CORS.items():
        assert response.headers.get(name) == value, (response.request.method, response.url, name)


# --- the web app after sign-in (live) -------------------------------------------------------


@pytest.fixture
def token(ruuvi: RuuviClient) -> str:
    """A real access token: registered, code read from the e-mail, verified."""
    return ruuvi.sign_in(unique_email("station"))["accessToken"]


@pytest.mark.live
@pytest.mark.parametrize("path", sorted(POST_SIGN_IN))
def test_the_web_apps_post_sign_in_calls_answer_in_the_envelope_with_cors(ruuvi, token, path):
    origin = "https://station.ruuvi.com"
    preflight = ruuvi.request(
        "OPTIONS",
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert (preflight.status_code, preflight.content) == (200, b"")
    assert_cors(preflight)
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()

    response = ruuvi.request(
        "GET", path, headers={"Origin": origin, "Authorization": "Bearer " + token}
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"result": "success", "data": POST_SIGN_IN[path]}
    assert_cors(response)


@pytest.mark.live
@pytest.mark.parametrize("path", sorted(POST_SIGN_IN))
def test_without_a_token_they_answer_401_in_the_envelope_with_cors(ruuvi, path):
    response = ruuvi.request("GET", path)
    assert response.status_code == 401
    assert response.json()["code"] == "ER_UNAUTHORIZED"
    assert_cors(response)


@pytest.mark.live
@pytest.mark.parametrize("path", ["/nope", "/sensors", "/v2/whatever", "/user/x/y"])
def test_an_unknown_root_path_gets_the_ruuvi_404_with_cors(ruuvi, path):
    response = ruuvi.request("GET", path)
    assert (response.status_code, response.content) == (404, BODY_404)
    assert response.headers["Content-Type"] == "application/json"
    assert_cors(response)
    # The browser's preflight for it succeeds, so the app reads the 404 itself.
    preflight = ruuvi.request("OPTIONS", path, headers={"Origin": "https://station.ruuvi.com"})
    assert (preflight.status_code, preflight.content) == (200, b"")
    assert_cors(preflight)


@pytest.mark.live
@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("TRACE", "/register", {"POST", "OPTIONS"}),
        ("PUT", "/subscription", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("TRACE", "/sensors-dense", {"GET", "HEAD", "OPTIONS"}),
        ("PATCH", "/sessions/1", {"DELETE", "OPTIONS"}),
    ],
)
def test_an_unsupported_method_gets_405_with_allow_and_cors(ruuvi, method, path, allowed):
    response = ruuvi.request(method, path)
    assert (response.status_code, response.content) == (405, BODY_405)
    assert set(response.headers["Allow"].split(", ")) == allowed
    assert_cors(response)


@pytest.mark.live
@pytest.mark.parametrize(
    "path, body",
    [
        ("/nest/unknown/path", b'{"error":"Not found"}'),
        ("/api/registered-devices/a/b/c", None),
        ("/pair/nope", b'{"error":"Not found"}'),
        ("/assets/nope.css", None),  # the web part answers its own page
    ],
)
def test_the_other_parts_keep_their_own_answers(ruuvi, path, body):
    response = ruuvi.request("GET", path)
    assert "Access-Control-Allow-Origin" not in response.headers
    if body is not None:
        assert (response.status_code, response.content) == (404, body)


# --- in process ------------------------------------------------------------------------------


def _signed_in(app, client) -> dict:
    address = unique_email("settings")
    assert client.post("/register", json={"email": address}).status_code == 200
    verified = client.get("/verify?token=" + ruuvi_code_for(app, address))
    return {"Authorization": "Bearer " + verified.get_json()["data"]["accessToken"]}


def test_settings_are_kept_per_account_and_bounded(app, client):
    mine, theirs = _signed_in(app, client), _signed_in(app, client)
    set_ = client.post("/settings", json={"name": "UNIT_TEMPERATURE", "value": "C"}, headers=mine)
    assert set_.get_json() == {"result": "success", "data": {"action": "added"}}
    again = client.post("/settings", json={"name": "UNIT_TEMPERATURE", "value": "F"}, headers=mine)
    assert again.get_json()["data"] == {"action": "updated"}
    assert client.get("/settings", headers=mine).get_json()["data"] == {
        "settings": {"UNIT_TEMPERATURE": "F"}
    }
    assert client.get("/settings", headers=theirs).get_json()["data"] == {"settings": {}}

    for body in (
        {"name": "", "value": "x"},
        {"name": "n" * (contract.SETTING_NAME_MAX + 1), "value": "x"},
        {"name": "n", "value": "v" * (contract.SETTING_VALUE_MAX + 1)},
        {"name": "n", "value": 1},
        {"name": "n\x00", "value": "x"},
        {"value": "x"},
    ):
        refused = client.post("/settings", json=body, headers=mine)
        assert refused.status_code == 400, body
        assert refused.get_json()["sub_code"] == "ER_INVALID_ARGUMENT", body
    assert client.post("/settings", data=b"nope", headers=mine).get_json()["sub_code"] == (
        "ER_INVALID_FORMAT"
    )
    # The longest name and value are kept whole.
    longest = {"name": "n" * contract.SETTING_NAME_MAX, "value": "v" * contract.SETTING_VALUE_MAX}
    assert client.post("/settings", json=longest, headers=mine).status_code == 200

    for n in range(contract.SETTINGS_MAX - 2):
        added = client.post("/settings", json={"name": f"s{n}", "value": ""}, headers=mine)
        assert added.status_code == 200
    full = client.post("/settings", json={"name": "one more", "value": ""}, headers=mine)
    assert (full.status_code, full.get_json()["error"]) == (400, contract.TOO_MANY_SETTINGS.error)
    # A full account still replaces what it has.
    replaced = client.post("/settings", json={"name": "s0", "value": "x"}, headers=mine)
    assert replaced.get_json()["data"] == {"action": "updated"}
    assert len(client.get("/settings", headers=mine).get_json()["data"]["settings"]) == 100


@pytest.mark.parametrize(
    "method, path, body, status, code",
    [
        ("GET", "/alerts", None, 200, None),
        ("GET", f"/alerts?sensor={MAC}", None, 403, "ER_FORBIDDEN"),
        (
            "POST",
            "/alerts",
            {"sensor": MAC, "type": "temperature", "min": 1.5},
            403,
            "ER_FORBIDDEN",
        ),
        (
            "POST",
            "/alerts",
            {"sensor": MAC, "type": "temperature", "enabled": 1},
            400,
            "ER_INVALID",
        ),
        ("GET", f"/sensor-settings?sensor={MAC.lower()}", None, 404, "ER_NOT_FOUND"),
        ("POST", "/sensor-settings", {"sensor": MAC, "value": [], "type": []}, 404, "ER_NOT_FOUND"),
        ("POST", "/sensor-settings", {"sensor": MAC, "value": "x", "type": []}, 400, "ER_INVALID"),
        ("GET", f"/sensors-dense?sensor={MAC}&measurements=true&mode=dense", None, 200, None),
        ("GET", "/sensors-dense?alerts=yes", None, 400, "ER_INVALID"),
        ("GET", "/sensors-dense?sensor=C6:F1:E7:D3:DA:11%0A", None, 400, "ER_INVALID"),
        ("POST", "/share", {"sensor": MAC, "user": "friend@example.com"}, 403, "ER_FORBIDDEN"),
        ("POST", "/unshare", {"sensor": MAC}, 404, "ER_NOT_FOUND"),
        ("POST", "/unshare", {"sensor": MAC, "user": "x"}, 400, "ER_INVALID"),
        ("POST", "/subscription", {"code": "BCDF-FGHJ"}, 400, "ER_INVALID"),
        ("POST", "/push-register", {"token": "t", "type": "iOS", "name": "n"}, 200, None),
        (
            "POST",
            "/push-register",
            {"token": "t", "type": "iOS", "name": "n", "data": 1},
            400,
            "ER_INVALID",
        ),
        ("GET", "/air_firmwareupdate", None, 200, None),
    ],
)
def test_each_account_operation_answers_as_for_an_account_with_no_sensors(
    app, client, method, path, body, status, code
):
    response = client.open(path, method=method, json=body, headers=_signed_in(app, client))
    assert response.status_code == status, response.data
    value = response.get_json()
    if code is None:
        assert value["result"] == "success"
    else:
        assert value["code"] == code


def test_push_register_stores_nothing_and_answers_a_stable_id(app, client):
    headers = _signed_in(app, client)
    device = {"token": "abc", "type": "Android", "name": "Pixel"}
    first = client.post("/push-register", json=device, headers=headers).get_json()["data"]
    second = client.post("/push-register", json=device, headers=headers).get_json()["data"]
    assert first["id"] == second["id"] and first["name"] == "Pixel"
    other = client.post("/push-register", json={**device, "token": "xyz"}, headers=headers)
    assert other.get_json()["data"]["id"] != first["id"]


def test_every_route_outside_ruuvi_keeps_its_own_namespace(app):
    """:data:`NOT_RUUVI` against the app's routes: a new page or endpoint cannot fall into
    the Ruuvi envelope unseen, and every Ruuvi route is in the Ruuvi namespace."""
    for rule in app.url_map.iter_rules():
        sample = rule.rule.replace("<", "").replace(">", "").replace(":", "")
        if rule.endpoint.startswith("ruuvi."):
            assert namespace_of(sample) == "ruuvi", rule.rule
        else:
            assert namespace_of(sample) != "ruuvi", rule.rule
    segments = {rule.rule.strip("/").split("/")[0] for rule in app.url_map.iter_rules()}
    assert segments | {"static"} >= NOT_RUUVI, NOT_RUUVI - segments
    assert set(contract.PATHS) <= {rule.rule for rule in app.url_map.iter_rules()}


# --- schemathesis with Ruuvi's own document (live) -----------------------------------------

# Ruuvi's document lists every status its backend answers, and nothing else; in negative mode
# a request the document forbids may get a 400 where it lists none (GET /alerts), so the
# status and body conformance is checked on valid requests, as for homepair's own document.
POSITIVE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
NEGATIVE_CHECKS = [not_a_server_error, content_type_conformance]
LIMITS = {
    "RUUVI_REGISTER_LIMIT_PER_EMAIL": "100000/hour",
    "RUUVI_REGISTER_LIMIT_PER_IP": "100000/hour",
    "RUUVI_REGISTER_LIMIT_TOTAL": "100000/hour",
    "RUUVI_VERIFY_LIMIT_PER_IP": "100000/hour",
    "RUUVI_VERIFY_LIMIT_TOTAL": "100000/hour",
}
EXAMPLES_PER_OPERATION = 10
TIME_CAP_SECONDS = 60
OPERATIONS = 16


@pytest.fixture
def server(start_server):
    """A live server with generous sign-in limits and an SMTP server for the codes."""
    controller, mailbox = start_smtp()
    try:
        live = start_server(
            MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port, **LIMITS
        )
        live.mailbox = mailbox
        yield live
        assert "Traceback" not in live.log(), live.log()
    finally:
        controller.stop()


class Bearer:
    """A real token for the operations with ``security``; signs in again once revoked."""

    def __init__(self, server):
        self.ruuvi = RuuviClient(server.url, server.mailbox)
        self.token = ""
        self.refresh()

    def refresh(self) -> None:
        """Sign in again (a case may have deleted every session)."""
        self.token = self.ruuvi.sign_in(f"ruuvi.{time.monotonic_ns()}@example.com")["accessToken"]

    def apply(self, case) -> None:
        """Put the token where the operation reads it, when the operation is secured."""
        if case.operation.definition.raw.get("security") == []:
            return
        if self.ruuvi.authed("GET", "/sessions", self.token).status_code == 401:
            self.refresh()
        case.headers = {**(case.headers or {}), "Authorization": "Bearer " + self.token}


@pytest.mark.live
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_ruuvis_own_document_every_operation_no_failures(server, mode):
    schema = schemathesis.openapi.from_path(str(RUUVI_DOCUMENT))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == OPERATIONS, [op.label for op in operations]
    bearer = Bearer(server)
    try:
        seen, nothing_to_negate = exercise(
            operations,
            server.url,
            mode,
            bearer.apply,
            lambda answer: POSITIVE_CHECKS if mode == "positive" else NEGATIVE_CHECKS,
            # Mostly with the token, so the code behind authentication is reached.
            st.sampled_from([True, True, True, False]),
            EXAMPLES_PER_OPERATION,
            TIME_CAP_SECONDS,
        )
    finally:
        bearer.ruuvi.close()
    labels = {operation.label for operation in operations}
    if mode == "positive":
        assert seen == labels, sorted(labels - seen)
    else:
        assert seen | nothing_to_negate == labels, sorted(labels - seen - nothing_to_negate)
