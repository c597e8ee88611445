"""phue, qhue and aiohue against a live gunicorn server (spec §8).

Each library is refused with "link button not pressed", pairs after a press made by
``flask hue press-link-button`` in a separate process, then reads the config with its key.
The module shares one server; every test starts and ends with the window closed.
"""

from __future__ import annotations

import asyncio
import json

import aiohue
import phue
import pytest
import requests
from aiohue.discovery import is_hue_bridge, is_v2_bridge
from aiohue.errors import LinkButtonNotPressed
from qhue import qhue as qhue_module

from tests.hue.conftest import NOT_PRESSED, live_close, live_post, live_press

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def admin(live):
    """A key of the module's server used to close the link window between tests."""
    live_press(live)
    key = live_post(live, {"devicetype": "admin#tests"}).json()[0]["success"]["username"]
    live_close(live, key)
    return key


@pytest.fixture
def server(live, admin):
    """The module's server with the link window closed before and after the test."""
    live_close(live, admin)
    assert live_post(live, {"devicetype": "probe"}).content == NOT_PRESSED
    yield live
    live_close(live, admin)


def _host(server) -> str:
    return f"127.0.0.1:{server.port}"


def test_phue(server, tmp_path):
    host = _host(server)
    saved = tmp_path / "python_hue"
    with pytest.raises(phue.PhueRegistrationException) as refused:
        phue.Bridge(host, config_file_path=str(saved))
    assert refused.value.id == 101
    assert not saved.exists()

    live_press(server)
    bridge = phue.Bridge(host, config_file_path=str(saved))
    stored = json.loads(saved.read_text())
    username = stored[host]["username"]
    assert bridge.username == username
    assert len(username) == 40

    api = bridge.get_api()
    assert api["config"]["whitelist"][username]["name"] == "python_hue"
    assert api["lights"] == {} and api["groups"] == {}
    assert bridge.name == "homepair"
    # A second Bridge reads the saved key instead of registering again.
    assert phue.Bridge(host, config_file_path=str(saved)).username == username


def test_qhue(server):
    with requests.Session() as session:
        api = qhue_module.Resource(server.url + "/api", session)
        with pytest.raises(qhue_module.QhueException) as refused:
            api(devicetype="qhue#test", http_method="post")
        assert (refused.value.type_id, refused.value.address) == ("101", "")
        assert refused.value.message == "link button not pressed"

        live_press(server)
        answer = api(devicetype="qhue#test", http_method="post")
    username = answer[0]["success"]["username"]

    bridge = qhue_module.Bridge(_host(server), username)
    try:
        config = bridge.config()
        assert config["whitelist"][username]["name"] == "qhue#test"
        assert config["linkbutton"] is True
        assert bridge.lights() == {}
        with pytest.raises(qhue_module.QhueException) as unknown:
            bridge.lights[1]()
        assert unknown.value.type_id == "3"
    finally:
        bridge.session.close()


def test_aiohue(server):
    host = _host(server)
    device_type = "home-assistant#living room"

    with pytest.raises(LinkButtonNotPressed):
        asyncio.run(aiohue.create_app_key(host, device_type))

    live_press(server)
    # create_app_key tries https://host/api first: the TLS handshake against the plain
    # HTTP port must fail at once so it falls back to http.
    key = asyncio.run(asyncio.wait_for(aiohue.create_app_key(host, device_type), 10))
    assert len(key) == 40

    async def use_key():
        bridge_id = await is_hue_bridge(host)
        supports_v2 = await is_v2_bridge(host)
        bridge = aiohue.HueBridgeV1(host, key)
        try:
            await bridge.initialize()
            config = bridge.config
            values = (config.bridge_id, config.name, config.mac_address, config.model_id)
            values += (config.software_version, config.apiversion)
            whitelist = config.raw["whitelist"]
            await bridge.config.update()
            return bridge_id, supports_v2, values, whitelist, bridge.lights.items
        finally:
            await bridge.close()

    bridge_id, supports_v2, values, whitelist, lights = asyncio.run(use_key())
    full_id, name, mac, model, swversion, apiversion = values
    assert bridge_id == mac.replace(":", "")
    assert full_id == (mac[:8] + ":ff:fe" + mac[8:]).replace(":", "").upper()
    assert (name, model, swversion, apiversion) == ("homepair", "BSB002", "1967054020", "1.67.0")
    assert supports_v2 is False
    assert whitelist[key]["name"] == device_type
    assert lights == []


def test_aiohue_unknown_key_is_unauthorized(server):
    async def initialize():
        bridge = aiohue.HueBridgeV1(_host(server), "unknownuserkey123")
        try:
            await bridge.initialize()
        finally:
            await bridge.close()

    with pytest.raises(aiohue.Unauthorized):
        asyncio.run(initialize())


def test_several_apps_pair_on_one_press(server):
    live_press(server)
    keys = [
        live_post(server, {"devicetype": f"app#{i % 2}"}).json()[0]["success"]["username"]
        for i in range(4)
    ]
    named = live_post(server, {"username": "oneclientkey", "devicetype": "app#named"})
    assert named.content == b'[{"success":{"username":"oneclientkey"}}]'
    assert len(set(keys)) == 4
    whitelist = requests.get(f"{server.url}/api/{keys[0]}/config", timeout=10).json()["whitelist"]
    assert set(keys) | {"oneclientkey"} <= set(whitelist)
