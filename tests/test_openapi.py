"""``GET /openapi.json``: a valid OpenAPI 3 document whose schemas match the real answers."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app import openapi
from app.envelopes import json_bytes
from tests.hue.conftest import press
from tests.nest.factories import auth, claim, new_serial

DOC_URI = "urn:homepair:openapi"


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class Doc:
    """The served document, with JSON Schema validation of bodies against it."""

    def __init__(self, document: dict):
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOC_URI, resource)

    def media(self, path: str, method: str, status: int | str) -> dict:
        """The ``application/json`` media object of one documented response."""
        return self.document["paths"][path][method.lower()]["responses"][str(status)]["content"][
            "application/json"
        ]

    def validator(self, path: str, method: str, status: int | str) -> Draft202012Validator:
        """A validator for that response's schema; ``$ref``s resolve inside the document."""
        pointer = _pointer(
            "paths", path, method.lower(), "responses", str(status), "content", "application/json"
        )
        schema = {"$ref": f"{DOC_URI}#/{pointer}/schema"}
        return Draft202012Validator(schema, registry=self.registry)

    def check(self, path: str, method: str, status: int, body: bytes) -> None:
        """``body`` (raw bytes of an answer) is valid for the documented response."""
        errors = list(self.validator(path, method, status).iter_errors(json.loads(body)))
        assert not errors, (path, method, status, body, [e.message for e in errors])

    def component(self, name: str) -> dict:
        """A component schema."""
        return self.document["components"]["schemas"][name]


@pytest.fixture
def doc(client) -> Doc:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    # Served in the shared byte form: compact, no trailing newline.
    assert response.data == json_bytes(response.get_json())
    return Doc(response.get_json())


def test_the_document_is_valid_openapi_3(doc):
    validate_openapi(doc.document)
    assert doc.document["openapi"].startswith("3.")
    paths = doc.document["paths"]
    for path, methods in {
        "/api/register": {"post"},
        "/api/devices": {"get"},
        "/api/registered-devices": {"get"},
        "/api/registered-devices/{serial}": {"delete"},
        "/nest/entry": {"get", "post"},
        "/nest/passphrase": {"get"},
        "/nest/transport": {"post"},
        "/nest/transport/put": {"post"},
        "/api": {"post"},
        "/api/config": {"get"},
        "/api/{username}/config": {"get", "put"},
        "/api/{username}/config/whitelist/{key}": {"delete"},
        "/register": {"post"},
        "/verify": {"get"},
        "/user": {"get"},
        "/sessions": {"get", "delete"},
        "/sessions/{id}": {"delete"},
    }.items():
        assert methods <= set(paths[path]), path
    assert set(doc.document["components"]["securitySchemes"]) == {
        "nestControlToken",
        "nestDevice",
        "ruuviToken",
    }


def test_built_once_per_app(app, client):
    first = client.get("/openapi.json").data
    with app.app_context():
        built = openapi.document()
        assert openapi.document() is built  # cached, not rebuilt per call
    assert client.get("/openapi.json").data == first == json_bytes(built)


def _examples(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                media = response.get("content", {}).get("application/json", {})
                for name, example in media.get("examples", {}).items():
                    yield path, method, status, name, example["value"]


def _absolute(schema):
    """``schema`` with its document-relative ``$ref``s made absolute (for a lone subschema)."""
    if isinstance(schema, dict):
        return {
            k: DOC_URI + v if k == "$ref" and v.startswith("#") else _absolute(v)
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_absolute(item) for item in schema]
    return schema


def _key_orders(schema: dict, doc: Doc, value) -> list[tuple[list[str], list[str]]]:
    """(keys of the example, property order of the schema) for every object in ``value``."""
    if "$ref" in schema:
        return _key_orders(doc.component(schema["$ref"].rsplit("/", 1)[1]), doc, value)
    if "oneOf" in schema:
        matches = [
            s
            for s in schema["oneOf"]
            if Draft202012Validator(_absolute(s), registry=doc.registry).is_valid(value)
        ]
        return _key_orders(matches[0], doc, value) if matches else []
    pairs = []
    if isinstance(value, dict) and "properties" in schema:
        pairs.append((list(value), [k for k in schema["properties"] if k in value]))
        for key, item in value.items():
            if key in schema["properties"]:
                pairs += _key_orders(schema["properties"][key], doc, item)
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            pairs += _key_orders(schema["items"], doc, item)
    return pairs


def test_every_example_in_the_document_is_valid_and_in_wire_key_order(doc):
    examples = list(_examples(doc.document))
    assert len(examples) > 40
    for path, method, status, name, value in examples:
        doc.check(path, method, int(status), json_bytes(value))
        schema = doc.media(path, method, status)["schema"]
        for keys, order in _key_orders(schema, doc, value):
            assert keys == order, (path, method, status, name)


# Bodies copied byte for byte from the wire specification (shared/spec/*.md).
SPEC_BODIES = [
    (
        "/api/register",
        "post",
        200,
        b'{"success":true,"serial":"02AB01AC012345678","message":"Device 02AB01AC012345678'
        b' registered to homeassistant"}',
    ),
    ("/api/register", "post", 429, b'{"success":false,"message":"Too many registration attempts"}'),
    (
        "/nest/transport",
        "post",
        200,
        b'{"objects":[{"object_revision":1,"object_timestamp":1795291295684,"object_key":"user.'
        b'homeassistant","value":{"name":"homeassistant"}},{"object_revision":1,"object_timestamp"'
        b':1795291295684,"object_key":"structure.homeassistant","value":{"name":"Home","devices":'
        b'["02AB01AC012345678"]}}]}',
    ),
    ("/nest/passphrase", "get", 400, b'{"error":"Device serial required"}'),
    (
        "/api",
        "post",
        200,
        b'[{"error":{"type":7,"address":"/username","description":"invalid value, burges, for '
        b'parameter, username"}},{"error":{"type":2,"address":"/","description":"body contains '
        b'invalid json"}}]',
    ),
    ("/api", "post", 200, b'[{"success":{"username":"burgestrand"}}]'),
    (
        "/api/config",
        "get",
        200,
        b'{"name":"homepair","datastoreversion":"126","swversion":"1967054020","apiversion":'
        b'"1.67.0","mac":"00:17:88:4a:15:15","bridgeid":"001788FFFE4A1515","factorynew":false,'
        b'"replacesbridgeid":null,"modelid":"BSB002","starterkitid":""}',
    ),
    (
        "/register",
        "post",
        400,
        b'{"result":"error","error":"Invalid e-mail address: nope","code":"ER_INVALID",'
        b'"sub_code":"ER_INVALID_EMAIL_ADDRESS"}',
    ),
    (
        "/sessions",
        "get",
        200,
        b'{"result":"success","data":{"sessions":[{"id":984231,"createdAt":1764412800,'
        b'"lastAccessed":1764448800,"current":true}]}}',
    ),
]


@pytest.mark.parametrize("path, method, status, body", SPEC_BODIES)
def test_spec_bodies_validate_against_their_schemas(doc, path, method, status, body):
    doc.check(path, method, status, body)


def test_wrong_bodies_do_not_validate(doc):
    # The schemas are tight enough to catch a drifting answer.
    for path, method, status, body in [
        ("/api/register", "post", 200, b'{"success":true}'),
        ("/register", "post", 400, b'{"result":"error","error":"x","code":"ER_INVALID"}'),
        ("/api", "post", 200, b'[{"error":{"type":"7","address":"/","description":"x"}}]'),
        ("/nest/passphrase", "get", 200, b'{"value":"A3XR7M2","expires":"1795294895684"}'),
    ]:
        assert not doc.validator(path, method, status).is_valid(json.loads(body)), body


def test_real_answers_match_the_document(app, client, doc):
    """A pairing flow of each protocol, every answer checked against its documented schema."""
    serial = new_serial()
    key = client.get("/nest/passphrase", headers=auth(serial))
    doc.check("/nest/passphrase", "get", 200, key.data)
    status = client.get("/nest/passphrase/status", headers=auth(serial))
    doc.check("/nest/passphrase/status", "get", 200, status.data)
    doc.check("/nest/entry", "get", 200, client.get("/nest/entry").data)
    doc.check("/nest/ping", "get", 200, client.get("/nest/ping").data)
    doc.check("/api/register", "post", 400, client.post("/api/register", data=b"[]").data)
    claimed = claim(client, key.get_json()["value"])
    doc.check("/api/register", "post", 200, claimed.data)
    doc.check("/api/register", "post", 200, claim(client, key.get_json()["value"]).data)
    doc.check("/nest/passphrase/status", "get", 200, status.data)
    subscribe = client.post(
        "/nest/transport",
        json={"objects": [{"object_key": f"device.{serial}"}]},
        headers=auth(serial),
    )
    doc.check("/nest/transport", "post", 200, subscribe.data)
    assert b"structure.homeassistant" in subscribe.data
    put = client.post(
        "/nest/transport/put",
        json={"objects": [{"object_key": f"shared.{serial}", "value": {"t": 21.5}}]},
        headers=auth(serial),
    )
    doc.check("/nest/transport/put", "post", 200, put.data)
    doc.check("/nest/transport", "post", 400, client.post("/nest/transport", json={}).data)
    doc.check("/api/devices", "get", 200, client.get("/api/devices").data)
    doc.check("/api/registered-devices", "get", 200, client.get("/api/registered-devices").data)
    deleted = client.delete(f"/api/registered-devices/{serial}")
    doc.check("/api/registered-devices/{serial}", "delete", 200, deleted.data)
    doc.check(
        "/api/registered-devices/{serial}",
        "delete",
        400,
        client.delete("/api/registered-devices/a.b").data,
    )

    doc.check("/api", "post", 200, client.post("/api", json={"devicetype": "x"}).data)
    press(client)
    created = client.post("/api", json={"devicetype": "x", "generateclientkey": True})
    doc.check("/api", "post", 200, created.data)
    username = created.get_json()[0]["success"]["username"]
    doc.check("/api/config", "get", 200, client.get("/api/config").data)
    for who in (username, "notwhitelisted1"):
        doc.check("/api/{username}/config", "get", 200, client.get(f"/api/{who}/config").data)
        doc.check("/api/{username}", "get", 200, client.get(f"/api/{who}").data)
        doc.check("/api/{username}/{collection}", "get", 200, client.get(f"/api/{who}/lights").data)
    for body in (b'{"linkbutton":false}', b'{"linkbutton":1,"x":2}', b"{}", b"nope"):
        answer = client.put(f"/api/{username}/config", data=body)
        doc.check("/api/{username}/config", "put", 200, answer.data)
    for who in (username, "notwhitelisted1"):
        answer = client.delete(f"/api/{who}/config/whitelist/{username}")
        doc.check("/api/{username}/config/whitelist/{key}", "delete", 200, answer.data)

    from tests.fuzz.helpers import ruuvi_code_for

    doc.check("/register", "post", 400, client.post("/register", data=b"x").data)
    doc.check("/register", "post", 200, client.post("/register", json={"email": "a@b"}).data)
    doc.check("/verify", "get", 400, client.get("/verify").data)
    doc.check("/verify", "get", 403, client.get("/verify?token=zzzz").data)
    verified = client.get("/verify?token=" + ruuvi_code_for(app, "a@b"))
    doc.check("/verify", "get", 200, verified.data)
    bearer = {"Authorization": "Bearer " + verified.get_json()["data"]["accessToken"]}
    doc.check("/user", "get", 200, client.get("/user", headers=bearer).data)
    sessions = client.get("/sessions", headers=bearer)
    doc.check("/sessions", "get", 200, sessions.data)
    doc.check("/sessions/{id}", "delete", 404, client.delete("/sessions/0", headers=bearer).data)
    doc.check("/sessions", "delete", 200, client.delete("/sessions", headers=bearer).data)
    doc.check("/user", "get", 401, client.get("/user", headers=bearer).data)
    doc.check("/healthz", "get", 200, client.get("/healthz").data)


def test_the_document_uses_the_services_patterns(client):
    from app.nest import service as nest

    doc = client.get("/openapi.json").get_json()
    text = json.dumps(doc)
    assert json.dumps(nest.SERIAL_PATTERN) in text
    assert "{10,32}" not in text  # the old drift
    delete = doc["paths"]["/api/registered-devices/{serial}"]["delete"]
    [serial] = [p for p in delete["parameters"] if p["name"] == "serial"]
    assert serial["schema"]["pattern"] == f"^{nest.SERIAL_PATH_RE.pattern}$"
    # The pattern the document gives is the one the service enforces.
    import re

    assert re.match(nest.SERIAL_PATTERN, "A" * 64) and nest.sanitize_serial("A" * 64)
    assert not re.match(nest.SERIAL_PATTERN, "A" * 65) and nest.sanitize_serial("A" * 65) is None
    assert not re.match(nest.SERIAL_PATTERN, "A" * 9) and nest.sanitize_serial("A" * 9) is None
