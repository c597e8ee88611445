"""Every text the OpenAPI document shows is the text the service answers (issue 13).

The document is built from each protocol's ``contract`` module; here every documented
example that carries a text (a ``message``, an ``error``, a Hue ``description`` or success
string) is produced by a real request against an app in the state the example describes,
and the answer's bytes must equal the example's. A documented text that no request here
produces fails, and so does a request for an example the document no longer shows.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import gevent
import pytest

from app.envelopes import json_bytes
from app.extensions import db
from app.hue import contract as hue_contract
from app.nest import contract as nest
from app.nest import device as nest_device
from app.nest import entrykeys
from app.ruuvi import contract as ruuvi
from tests.fuzz.helpers import ruuvi_code_for
from tests.hue.conftest import press
from tests.nest.factories import auth

SERIAL = "02AB01AC012345678"
HUE_KEY = "1028d66426293e821ecfd9ef1a0731df"
HUE_USER = "contractuser0001"
TOKEN = "control-token"
TEXT_KEYS = {"message", "error", "description"}
PLACEHOLDERS = {
    "{serial}": SERIAL,
    "{version}": "v5",
    "{username}": "nobody12345",
    "{collection}": "lights",
    "{key}": HUE_KEY,
    "{id}": "0",
}


def _has_text(value) -> bool:
    if isinstance(value, dict):
        if TEXT_KEYS & value.keys() or isinstance(value.get("success"), str):
            return True
        return any(_has_text(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_text(v) for v in value)
    return False


def documented_texts(document: dict) -> dict[tuple[str, str, str, str], object]:
    """``(path, method, status, example) → value`` for every example carrying a text."""
    found = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation.get("responses", {}).items():
                media = answer.get("content", {}).get("application/json", {})
                for name, example in media.get("examples", {}).items():
                    if _has_text(example["value"]):
                        found[(path, method, status, name)] = example["value"]
    return found


class SlowBody:
    """A request body that never arrives (the client stalls after its headers)."""

    def read(self, *_):
        gevent.sleep(30)
        return b""

    readline = read


@dataclass
class Ask:
    """One request. ``settings`` make its app; ``prepare(app, client, monkeypatch)`` brings
    that app to the state the example describes and may return field overrides."""

    settings: dict = field(default_factory=dict)
    prepare: Callable | None = None
    path: str | None = None
    json: object | None = None
    data: bytes | None = None
    headers: dict = field(default_factory=dict)
    query: str = ""
    repeat: int = 1  # the last of ``repeat`` identical requests is the answer
    slow: bool = False
    broken: bool = False


def _ruuvi_bearer() -> dict:
    # A well-formed token: looking it up is the first thing that touches the database.
    return {"Authorization": "Bearer 7531/" + "A" * 64}


def _bearer() -> dict:
    return {"Authorization": f"Bearer {TOKEN}"}


def _claimed(app, client, monkeypatch) -> dict:
    code = client.get("/nest/passphrase", headers=auth(SERIAL)).get_json()["value"]
    return {"json": {"code": code, "userId": nest.DEFAULT_USER}}


def _owned(app, client, monkeypatch) -> None:
    claimed = client.post("/api/register", **_claimed(app, client, monkeypatch))
    assert claimed.get_json()["success"] is True


def _codes_exhausted(app, client, monkeypatch) -> None:
    # Every draw is the alphabet's first letter, and that key is pending for another device.
    monkeypatch.setattr(entrykeys, "random_string", lambda alphabet, length: alphabet[0] * length)
    assert client.get("/nest/passphrase", headers=auth("OTHER0SERIAL1")).status_code == 200


def _hue_app(username: str) -> Callable:
    def prepare(app, client, monkeypatch) -> None:
        press(client)
        created = client.post("/api", json={"devicetype": "contract#test", "username": username})
        assert created.get_json() == [{"success": {"username": username}}]

    return prepare


def _signed_in(app, client, monkeypatch) -> dict:
    assert client.post("/register", json={"email": "user@example.com"}).status_code == 200
    verified = client.get("/verify?token=" + ruuvi_code_for(app, "user@example.com"))
    return {"headers": {"Authorization": "Bearer " + verified.get_json()["data"]["accessToken"]}}


def _entry_fails(app, client, monkeypatch) -> None:
    # /nest/entry reads no table: its 500 is a failure in building the answer.
    def fail() -> str:
        raise RuntimeError("injected")

    monkeypatch.setattr(nest_device, "_origin", fail)


def _another_new_device(app, client, monkeypatch) -> None:
    assert client.get("/nest/passphrase", headers=auth("FIRST0SERIAL1")).status_code == 200


SPECIFIC: dict[tuple[str, str, str, str], Ask] = {
    ("/api/register", "post", "200", "claimed"): Ask(prepare=_claimed),
    ("/api/register", "post", "200", "noLiveKey"): Ask(json={"code": "ABCDEFG", "userId": "u"}),
    ("/api/register", "post", "400", "invalidJson"): Ask(data=b"[]"),
    ("/api/register", "post", "400", "missing"): Ask(json={}),
    ("/api/register", "post", "400", "badCode"): Ask(json={"code": "x", "userId": "u"}),
    ("/api/register", "post", "400", "badUser"): Ask(json={"code": "ABCDEFG", "userId": "\x00"}),
    ("/api/devices", "get", "400", "badPage"): Ask(query="?limit=0"),
    ("/api/registered-devices/{serial}", "delete", "200", "deleted"): Ask(prepare=_owned),
    ("/api/registered-devices/{serial}", "delete", "400", "badSerial"): Ask(
        path="/api/registered-devices/bad.serial"
    ),
    ("/nest/passphrase", "get", "503", "Entrykeyserviceunava"): Ask(prepare=_codes_exhausted),
    ("/nest/entry", "get", "500", "Internalerror"): Ask(prepare=_entry_fails),
    ("/nest/entry", "post", "500", "Internalerror"): Ask(prepare=_entry_fails),
    ("/api", "post", "200", "notPressed"): Ask(json={"devicetype": "app#x"}),
    ("/api", "post", "200", "invalid"): Ask(json={"username": "burges", "devicetype": ""}),
    ("/api/{username}/config/whitelist/{key}", "delete", "200", "deleted"): Ask(
        prepare=_hue_app(HUE_KEY), path=f"/api/{HUE_KEY}/config/whitelist/{HUE_KEY}"
    ),
    ("/api/{username}/config/whitelist/{key}", "delete", "200", "unknownKey"): Ask(
        prepare=_hue_app(HUE_USER), path=f"/api/{HUE_USER}/config/whitelist/{HUE_KEY}"
    ),
    ("/register", "post", "400", "invalidJson"): Ask(data=b"[]"),
    ("/register", "post", "400", "invalidEmail"): Ask(json={"email": "nope"}),
    ("/verify", "get", "403", "expired"): Ask(query="?token=ZZZZ"),
    ("/sessions/{id}", "delete", "404", "notFound"): Ask(prepare=_signed_in),
}


MAC = "C6:F1:E7:D3:DA:11"


def _settings_full(app, client, monkeypatch) -> dict:
    signed = _signed_in(app, client, monkeypatch)
    for n in range(ruuvi.SETTINGS_MAX):
        added = client.post("/settings", json={"name": f"s{n}", "value": ""}, **signed)
        assert added.status_code == 200
    return signed


def _account(**ask) -> Ask:
    """A request of a signed-in Ruuvi account (the account operations check the token first)."""
    return Ask(prepare=_signed_in, **ask)


_ACCOUNT_POSTS = (
    "/settings",
    "/subscription",
    "/sensor-settings",
    "/alerts",
    "/share",
    "/unshare",
    "/push-register",
)
SPECIFIC.update(
    {
        ("/settings", "post", "400", "invalidJson"): _account(data=b"[]"),
        ("/settings", "post", "400", "badName"): _account(json={"name": "", "value": "x"}),
        ("/settings", "post", "400", "tooMany"): Ask(
            prepare=_settings_full, json={"name": "one more", "value": "x"}
        ),
        ("/subscription", "post", "400", "invalidJson"): _account(data=b"[]"),
        ("/subscription", "post", "400", "missingCode"): _account(json={}),
        ("/subscription", "post", "400", "invalidCode"): _account(json={"code": "BCDF-FGHJ"}),
        ("/sensors-dense", "get", "400", "notAMac"): _account(query="?sensor=nope"),
        ("/sensors-dense", "get", "400", "badOption"): _account(query="?mode=all"),
        ("/sensor-settings", "get", "400", "notAMac"): _account(query="?sensor=nope"),
        ("/sensor-settings", "get", "404", "notFound"): _account(query="?sensor=" + MAC),
        ("/sensor-settings", "post", "400", "invalidJson"): _account(data=b"[]"),
        ("/sensor-settings", "post", "400", "notAMac"): _account(
            json={"sensor": "nope", "value": [], "type": []}
        ),
        ("/sensor-settings", "post", "404", "notFound"): _account(
            json={"sensor": MAC, "value": ['"Sauna"'], "type": ["description"]}
        ),
        ("/alerts", "get", "400", "notAMac"): _account(query="?sensor=nope"),
        ("/alerts", "get", "403", "forbidden"): _account(query="?sensor=" + MAC),
        ("/alerts", "post", "400", "invalidJson"): _account(data=b"[]"),
        ("/alerts", "post", "400", "notAMac"): _account(json={"sensor": "nope", "type": "co2"}),
        ("/alerts", "post", "400", "badType"): _account(json={"sensor": MAC, "type": "heat"}),
        ("/alerts", "post", "403", "forbidden"): _account(json={"sensor": MAC, "type": "co2"}),
        ("/share", "post", "400", "invalidJson"): _account(data=b"[]"),
        ("/share", "post", "400", "notAMac"): _account(json={"sensor": "nope", "user": "a@b"}),
        ("/share", "post", "400", "invalidEmail"): _account(json={"sensor": MAC, "user": "nope"}),
        ("/share", "post", "403", "forbidden"): _account(json={"sensor": MAC, "user": "a@b"}),
        ("/unshare", "post", "400", "invalidJson"): _account(data=b"[]"),
        ("/unshare", "post", "400", "notAMac"): _account(json={"sensor": "nope"}),
        ("/unshare", "post", "404", "notFound"): _account(json={"sensor": MAC}),
        ("/push-register", "post", "400", "invalidJson"): _account(data=b"[]"),
        ("/push-register", "post", "400", "badType"): _account(
            json={"token": "t", "type": "Windows", "name": "n"}
        ),
        **{
            (path, "post", "408", "tooSlow"): _account(
                settings={"REQUEST_BODY_TIMEOUT_SECONDS": 1}, slow=True
            )
            for path in _ACCOUNT_POSTS
        },
        **{
            (path, "post", "413", "tooLarge"): _account(data=b" " * (1024 * 1024 + 1))
            for path in _ACCOUNT_POSTS
        },
    }
)


def _control(path: str) -> bool:
    return path.startswith(nest.CONTROL_PATHS)


def _generic(path: str, status: str) -> Ask:
    """The request that makes ``status`` on a documented operation (or a plain request)."""
    if status == "408":
        return Ask({"REQUEST_BODY_TIMEOUT_SECONDS": 1}, slow=True)
    if status == "413":
        return Ask(data=b" " * (1024 * 1024 + 1))
    if status == "500":
        # A request that gets as far as the database, which then fails.
        valid = {
            "/api/register": Ask(json={"code": "ABCDEFG", "userId": "u"}),
            "/register": Ask(json={"email": "a@b"}),
            "/verify": Ask(query="?token=ABCD"),
        }.get(path, Ask(headers={} if path.startswith("/nest/") else _ruuvi_bearer()))
        return replace(valid, broken=True)
    if status == "401":
        return Ask({"NEST_CONTROL_TOKEN": TOKEN})
    if status == "503":
        # Redis on a closed port: the guessing limits cannot count, so they refuse.
        down = {"NEST_CONTROL_TOKEN": TOKEN, "REDIS_URL": "redis://127.0.0.1:9/0"}
        return Ask(down, headers=_bearer(), query="?token=ABCD")
    if status == "429" and _control(path):
        limit = {"NEST_CONTROL_TOKEN": TOKEN, "NEST_CONTROL_AUTH_LIMIT_PER_IP": "1/hour"}
        return Ask(limit, headers=_bearer(), repeat=2)
    if status == "429" and path.startswith("/nest/"):
        # A second new serial from this client, with one allowed per hour.
        return Ask({"NEST_NEW_DEVICES_LIMIT_PER_IP": "1/hour"}, prepare=_another_new_device)
    if status == "429" and path == "/register":
        return Ask({"RUUVI_REGISTER_LIMIT_PER_EMAIL": "1/hour"}, json={"email": "a@b"}, repeat=2)
    if status == "429" and path == "/verify":
        return Ask({"RUUVI_VERIFY_LIMIT_PER_IP": "1/hour"}, query="?token=ABCD", repeat=2)
    return Ask()


def ask_for(key: tuple[str, str, str, str]) -> Ask:
    """The request that produces the documented example ``key``."""
    path, _, status, _ = key
    ask = SPECIFIC.get(key) or _generic(path, status)
    if ask.path is None:
        concrete = path
        for name, value in PLACEHOLDERS.items():
            concrete = concrete.replace(name, value)
        ask = replace(ask, path=concrete)
    name = key[3]
    if name == "InvalidJSON":
        ask = replace(ask, data=b"[]")
    elif name.startswith("Toomanyobjects"):
        objects = [{"object_key": f"shared.{n}"} for n in range(257)]
        ask = replace(ask, json={"objects": objects})
    if path.startswith("/nest/") and not name.startswith("Deviceserial"):
        ask = replace(ask, headers={**auth(SERIAL), **ask.headers})
    return ask


def _document() -> dict:
    from app import create_app

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {"TESTING": True, "SECRET_KEY": "t", "DATABASE_URL": f"sqlite:///{folder}/doc.db"}
        )
        document = app.test_client().get("/openapi.json").get_json()
        with app.app_context():
            db.engine.dispose()
    return document


TEXTS = documented_texts(_document())


def test_every_request_here_is_for_a_documented_text():
    assert len(TEXTS) > 90
    assert set(SPECIFIC) <= set(TEXTS), "requests for examples the document no longer shows"


def _app(make_app, tmp_path, settings: dict):
    if "REDIS_URL" not in settings:
        return make_app(**settings)
    # make_app resets the limiter's counters, which an unreachable Redis refuses.
    from app import create_app

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'redis-down.db'}",
            **settings,
        }
    )
    with app.app_context():
        db.create_all()
    return app


def _answer(key, make_app, tmp_path, monkeypatch):
    ask = ask_for(key)
    app = _app(make_app, tmp_path, ask.settings)
    client = app.test_client()
    if ask.broken:
        with app.app_context():
            db.drop_all()  # the database fails every statement: a real internal error
    overrides = ask.prepare(app, client, monkeypatch) if ask.prepare else None
    if overrides:
        ask = replace(
            ask, **{**overrides, "headers": {**ask.headers, **overrides.get("headers", {})}}
        )
    kwargs: dict = {"method": key[1].upper(), "headers": dict(ask.headers)}
    if ask.json is not None:
        kwargs["json"] = ask.json
    if ask.data is not None:
        kwargs["data"] = ask.data
    if ask.slow:
        kwargs["environ_overrides"] = {"wsgi.input": SlowBody(), "CONTENT_LENGTH": "10"}
        # Below the setting's 1 s floor: the answer is the same, the suite is faster.
        app.config["REQUEST_BODY_TIMEOUT_SECONDS"] = 0.1
    for _ in range(ask.repeat):
        response = client.open(ask.path + ask.query, **kwargs)
    if "REDIS_URL" in ask.settings:
        # flask-limiter is one module-level object holding the last app's storage: leave it
        # on a reachable one for the fixtures' teardown and the tests that follow.
        make_app()
    return response


@pytest.mark.parametrize("key", sorted(TEXTS), ids="|".join)
def test_the_service_answers_the_documented_text(key, make_app, tmp_path, monkeypatch):
    response = _answer(key, make_app, tmp_path, monkeypatch)
    assert response.status_code == int(key[2])  # Hue's are all documented as 200
    assert response.data == json_bytes(TEXTS[key])


# --- patterns --------------------------------------------------------------------------------


def _patterns(value, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "pattern":
                found.add(inner)
            else:
                _patterns(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _patterns(inner, found)
    return found


def _verify_with(client, address: str, change) -> int:
    """``/verify`` with a fresh code for ``address`` as ``change`` makes it; the status."""
    assert client.post("/register", json={"email": address}).status_code == 200
    return client.get(
        "/verify?token=" + change(ruuvi_code_for(client.application, address))
    ).status_code


def _pressed(client) -> None:
    press(client)


# Each pattern the document shows, with what proves the service holds to it: for an input,
# a request the pattern admits and one it refuses (and how each is answered); for an output,
# a real value the service produced.
INPUTS = {
    nest.SERIAL_PATTERN: (
        lambda c: c.get("/nest/passphrase", headers=auth("A" * 64)).status_code == 200,
        lambda c: c.get("/nest/passphrase", headers=auth("A" * 65)).status_code == 400,
    ),
    f"^{nest.SERIAL_PATH_RE.pattern}$": (
        lambda c: (
            c.delete("/api/registered-devices/a_b-C1").get_json()["success"] is False
            and c.delete("/api/registered-devices/a_b-C1").status_code == 200
        ),
        lambda c: c.delete("/api/registered-devices/a.b").status_code == 400,
    ),
    nest.CLAIM_CODE_PATTERN: (
        lambda c: (
            c.post("/api/register", json={"code": "abcdef9", "userId": "u"}).status_code == 200
        ),
        lambda c: (
            c.post("/api/register", json={"code": "abcdeı9", "userId": "u"}).status_code == 400
        ),
    ),
    hue_contract.USERNAME_PATTERN: (
        lambda c: (
            _pressed(c)
            or "success" in c.post("/api", json={"devicetype": "a#b", "username": "a1" * 5}).json[0]
        ),
        lambda c: (
            _pressed(c)
            or c.post("/api", json={"devicetype": "a#b", "username": "a1" * 4}).json[0]["error"][
                "type"
            ]
            == 7
        ),
    ),
    ruuvi.CODE_PATTERN: (
        lambda c: _verify_with(c, "lower@example.com", str.lower) == 200,
        lambda c: _verify_with(c, "longer@example.com", lambda code: code + "A") == 403,
    ),
    ruuvi.EMAIL_PATTERN: (
        lambda c: c.post("/register", json={"email": "a.b+c@d-e.fi"}).status_code == 200,
        lambda c: c.post("/register", json={"email": "a@b\n"}).status_code == 400,
    ),
}


def _outputs(app, client) -> dict[str, str]:
    _pressed(client)
    created = client.post("/api", json={"devicetype": "a#b", "generateclientkey": True}).json[0]
    username = created["success"]["username"]
    config = client.get("/api/config").get_json()
    deleted = client.delete(f"/api/{username}/config/whitelist/{username}").get_json()[0]
    client.post("/register", json={"email": "out@example.com"})
    verified = client.get("/verify?token=" + ruuvi_code_for(app, "out@example.com")).get_json()
    return {
        nest.ENTRY_KEY_PATTERN: client.get("/nest/passphrase", headers=auth(SERIAL)).json["value"],
        hue_contract.CLIENTKEY_PATTERN: created["success"]["clientkey"],
        hue_contract.MAC_PATTERN: config["mac"],
        hue_contract.BRIDGEID_PATTERN: config["bridgeid"],
        hue_contract.WHITELIST_DELETED_PATTERN: deleted["success"],
        ruuvi.TOKEN_PATTERN: verified["data"]["accessToken"],
    }


def test_every_pattern_in_the_document_is_the_one_the_service_holds_to(app, client):
    document = client.get("/openapi.json").get_json()
    outputs = _outputs(app, client)
    assert _patterns(document, set()) == set(INPUTS) | set(outputs)
    for pattern, (admitted, refused) in INPUTS.items():
        assert admitted(client), pattern
        assert refused(client), pattern
    for pattern, value in outputs.items():
        assert re.fullmatch(pattern, value), (pattern, value)
