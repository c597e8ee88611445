"""Identity, short and full config, full state, collections, description.xml (spec §5, §7)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from app import create_app
from app.clock import now_s
from app.extensions import db
from app.hue.models import HueWhitelist
from app.models import Setting
from tests.hue.conftest import HUE_DATE, assert_hue_json, epoch, press, register, registered_client

SHORT = (
    b'{"name":"homepair","datastoreversion":"126","swversion":"1967054020","apiversion":"1.67.0",'
    b'"mac":"00:17:88:4a:15:15","bridgeid":"001788FFFE4A1515","factorynew":false,'
    b'"replacesbridgeid":null,"modelid":"BSB002","starterkitid":""}'
)
FULL_KEYS = [
    "name",
    "datastoreversion",
    "swversion",
    "apiversion",
    "mac",
    "bridgeid",
    "factorynew",
    "replacesbridgeid",
    "modelid",
    "starterkitid",
    "ipaddress",
    "netmask",
    "gateway",
    "dhcp",
    "proxyaddress",
    "proxyport",
    "UTC",
    "localtime",
    "timezone",
    "zigbeechannel",
    "swupdate",
    "swupdate2",
    "linkbutton",
    "portalservices",
    "portalconnection",
    "portalstate",
    "internetservices",
    "backup",
    "whitelist",
]
COLLECTIONS = ["lights", "groups", "schedules", "scenes", "rules", "sensors", "resourcelinks"]


@pytest.mark.parametrize(
    "path",
    ["/api/config", "/api/config/", "/api/nobody/config", "/api/nobody/config/", "/api//config"],
)
def test_short_config_byte_for_byte(make_client, path):
    client = make_client(HUE_MAC="00-17-88-4A-15-15")
    response = client.get(path)
    assert_hue_json(response)
    assert response.data == SHORT


@pytest.mark.parametrize("given", ["0017884A1515", "00:17:88:4a:15:15", "00-17-88-4a-15-15"])
def test_hue_mac_forms(make_client, given):
    config = make_client(HUE_MAC=given).get("/api/config").get_json()
    assert (config["mac"], config["bridgeid"]) == ("00:17:88:4a:15:15", "001788FFFE4A1515")


def test_generated_mac_is_stable_and_stored(make_client):
    client = make_client()
    first = client.get("/api/config").get_json()
    assert re.fullmatch(r"00:17:88(:[0-9a-f]{2}){3}", first["mac"])
    digits = first["mac"].replace(":", "").upper()
    assert first["bridgeid"] == digits[:6] + "FFFE" + digits[6:]
    assert client.get("/api/config").get_json()["mac"] == first["mac"]
    with client.application.app_context():
        stored = db.session.execute(select(Setting.value).where(Setting.name == "hue.mac"))
        assert stored.scalar_one() == first["mac"]
    # Another app (another worker or host) on the same database gives the same identity.
    other = create_app(
        {
            "TESTING": True,  # no background loops in the test process
            "DATABASE_URL": client.application.config["DATABASE_URL"],
            "SECRET_KEY": "x",
        }
    )
    assert other.test_client().get("/api/config").get_json()["bridgeid"] == first["bridgeid"]
    with other.app_context():
        db.engine.dispose()


def test_full_config(make_client):
    client, key = registered_client(make_client, HUE_MAC="00:17:88:4a:15:15")
    before = now_s()
    response = client.get(f"/api/{key}/config", headers={"Host": "192.168.1.5:8082"})
    assert_hue_json(response)
    assert response.data.startswith(SHORT[:-1] + b',"ipaddress":"192.168.1.5","netmask"')
    config = response.get_json()
    assert list(config) == FULL_KEYS
    assert config["netmask"] == "255.255.255.0"
    assert config["gateway"] == "0.0.0.0"
    assert (config["dhcp"], config["proxyaddress"], config["proxyport"]) == (True, "none", 0)
    assert HUE_DATE.fullmatch(config["UTC"])
    assert before <= epoch(config["UTC"]) <= now_s()
    assert config["localtime"] == config["UTC"]
    assert config["timezone"] == "Etc/UTC"
    assert config["zigbeechannel"] == 15
    assert config["linkbutton"] is False
    assert config["portalservices"] is False
    # A real bridge's fields (issue 14), as an offline bridge reports them.
    assert config["swupdate2"]["bridge"] == {"state": "noupdates", "lastinstall": None}
    assert config["portalstate"]["communication"] == config["portalconnection"] == "disconnected"
    assert set(config["internetservices"].values()) == {"disconnected"}
    assert config["backup"] == {"status": "idle", "errorcode": 0}
    entry = config["whitelist"][key]
    assert list(entry) == ["last use date", "create date", "name"]
    assert entry["name"] == "test#app"
    assert HUE_DATE.fullmatch(entry["create date"])


@pytest.mark.parametrize(
    ("host", "ip"),
    [("10.0.0.7", "10.0.0.7"), ("hue.example:80", "hue.example"), ("[fd00::5]:8082", "fd00::5")],
)
def test_ipaddress_is_the_host_part(make_client, host, ip):
    client, key = registered_client(make_client)
    assert client.get(f"/api/{key}/config", headers={"Host": host}).get_json()["ipaddress"] == ip


def test_linkbutton_reads_true_while_open(make_client):
    client, key = registered_client(make_client)
    assert client.get(f"/api/{key}/config").get_json()["linkbutton"] is False
    press(client)
    assert client.get(f"/api/{key}/config").get_json()["linkbutton"] is True


def test_whitelist_by_create_date_then_key(make_client):
    client = make_client()
    press(client)
    keys = [register(client, f"app#{i}") for i in range(4)]
    with client.application.app_context():
        # keys[0] is the newest; the other three share a create date, so the key decides.
        db.session.execute(
            update(HueWhitelist).where(HueWhitelist.username != keys[0]).values(created_at=1000)
        )
        db.session.execute(
            update(HueWhitelist).where(HueWhitelist.username == keys[0]).values(created_at=2000)
        )
        db.session.commit()
    listed = list(client.get(f"/api/{keys[1]}/config").get_json()["whitelist"])
    assert listed == sorted(keys[1:]) + [keys[0]]


def test_full_state(make_client):
    client, key = registered_client(make_client)
    for path in (f"/api/{key}", f"/api/{key}/"):
        response = client.get(path)
        assert_hue_json(response)
        state = response.get_json()
        assert list(state) == ["lights", "groups", "config", *COLLECTIONS[2:]]
        assert all(state[c] == {} for c in COLLECTIONS)
        assert list(state["config"]) == FULL_KEYS
        assert response.data.startswith(b'{"lights":{},"groups":{},"config":{"name":"homepair"')
        assert response.data.endswith(
            b'},"schedules":{},"scenes":{},"rules":{},"sensors":{},"resourcelinks":{}}'
        )


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_collections_are_empty(make_client, collection):
    client, key = registered_client(make_client)
    for path in (f"/api/{key}/{collection}", f"/api/{key}/{collection}/"):
        response = client.get(path)
        assert_hue_json(response)
        assert response.data == b"{}"


# --- description.xml -----------------------------------------------------------------------

DESCRIPTION = """<?xml version="1.0" encoding="UTF-8" ?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>
<URLBase>http://192.168.1.5:8082/</URLBase>
<device>
<deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>
<friendlyName>homepair (192.168.1.5)</friendlyName>
<manufacturer>Signify</manufacturer>
<manufacturerURL>http://www.philips-hue.com</manufacturerURL>
<modelDescription>Philips hue Personal Wireless Lighting</modelDescription>
<modelName>Philips hue bridge 2015</modelName>
<modelNumber>BSB002</modelNumber>
<modelURL>http://www.philips-hue.com</modelURL>
<serialNumber>0017884a1515</serialNumber>
<UDN>uuid:2f402f80-da50-11e1-9b23-0017884a1515</UDN>
<presentationURL>index.html</presentationURL>
</device>
</root>"""


def test_description_xml(make_client):
    client = make_client(HUE_MAC="00:17:88:4A:15:15")
    response = client.get("/description.xml", headers={"Host": "192.168.1.5:8082"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml"
    assert response.data.decode() == DESCRIPTION


def test_description_xml_port_is_explicit(make_client):
    client = make_client(HUE_MAC="00:17:88:4A:15:15")
    text = client.get("/description.xml", headers={"Host": "hue.lan"}).data.decode()
    assert "<URLBase>http://hue.lan:80/</URLBase>" in text
    assert "<friendlyName>homepair (hue.lan)</friendlyName>" in text


def test_description_xml_escapes_the_host(make_client):
    client = make_client()
    text = client.get("/description.xml", headers={"Host": "a<b>&c"}).data.decode()
    assert "<b>" not in text
    assert "homepair (a&lt;b&gt;&amp;c)" in text
