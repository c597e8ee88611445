"""Hue discovery (issue 14): mDNS and SSDP on loopback, from `make run` with HUE_DISCOVERY.

Everything stays on 127.0.0.1: the browser and the M-SEARCH are bound to it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import aiohttp
import pytest
import requests
from aiohue.discovery import discover_bridge
from aiohue.util import normalize_bridge_id

from app.hue import discovery
from tests.live import make_run_on_a_clone

pytestmark = pytest.mark.live

UPNP = "{urn:schemas-upnp-org:device-1-0}"
# A python-zeroconf ServiceBrowser in its own process, bound to 127.0.0.1.
BROWSER = """
import json, sys, time
from zeroconf import IPVersion, ServiceBrowser, Zeroconf
zc = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
found = []
class Listener:
    def add_service(self, zc, kind, name):
        found.append(zc.get_service_info(kind, name, 3000))
    update_service = remove_service = lambda *a: None
ServiceBrowser(zc, "_hue._tcp.local.", Listener())
deadline = time.time() + 15
while not found and time.time() < deadline:
    time.sleep(0.1)
info = found[0] if found else None
print(json.dumps(None if info is None else {
    "name": info.name, "port": info.port, "addresses": info.parsed_addresses(),
    "properties": {k.decode(): v.decode() for k, v in info.properties.items()}}))
zc.close()
"""


def _browse() -> dict | None:
    done = subprocess.run(
        [sys.executable, "-c", BROWSER], capture_output=True, text=True, timeout=40
    )
    assert done.returncode == 0, done.stderr
    import json

    return json.loads(done.stdout)


def _m_search(target: str = "ssdp:all", wait: float = 3.0) -> list[str]:
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    client.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    client.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    client.bind(("127.0.0.1", 0))
    request = (
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
        f'MAN: "ssdp:discover"\r\nMX: 1\r\nST: {target}\r\n\r\n'
    )
    client.sendto(request.encode(), ("239.255.255.250", 1900))
    answers = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        client.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            answers.append(client.recvfrom(4096)[0].decode())
        except TimeoutError:
            break
    client.close()
    return answers


def _headers(answer: str) -> dict[str, str]:
    lines = answer.split("\r\n")
    return {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}


@pytest.fixture
def advertised(tmp_path):
    process, _, base = make_run_on_a_clone(tmp_path, HUE_DISCOVERY="127.0.0.1")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                # Connection: close: an idle keep-alive connection of the probe's would hold
                # the SIGTERM shutdown below for gunicorn's keepalive (5 s).
                ready = requests.get(
                    base + "/api/config", timeout=1, headers={"Connection": "close"}
                )
                if ready.status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
        # The advertiser said where it runs, and went with the server.
        assert "Hue discovery: bridge" in output, output[-2000:]


def test_discovery_finds_the_bridge_by_mdns_and_ssdp(advertised):
    config = requests.get(advertised + "/api/config", timeout=5).json()
    port = int(advertised.rsplit(":", 1)[1])

    found = _browse()
    assert found is not None, "no _hue._tcp.local. service on 127.0.0.1"
    assert found["properties"] == {"bridgeid": config["bridgeid"].lower(), "modelid": "BSB002"}
    assert found["port"] == port and found["addresses"] == ["127.0.0.1"]
    assert found["name"] == f"Philips Hue - {config['bridgeid'][-6:]}._hue._tcp.local."

    answers = _m_search()
    assert len(answers) == 3, answers
    first = _headers(answers[0])
    assert answers[0].startswith("HTTP/1.1 200 OK\r\n")
    assert first["location"] == f"http://127.0.0.1:{port}/description.xml"
    assert first["hue-bridgeid"] == config["bridgeid"]
    assert "IpBridge/" in first["server"]
    assert {_headers(a)["st"] for a in answers} == {
        "upnp:rootdevice",
        f"uuid:2f402f80-da50-11e1-9b23-{config['mac'].replace(':', '')}",
        "urn:schemas-upnp-org:device:basic:1",
    }
    assert len(_m_search("upnp:rootdevice")) == 1
    assert _m_search("urn:schemas-upnp-org:device:dimmablelight:1", wait=1.5) == []

    # LOCATION serves the description a Hue client checks.
    description = requests.get(first["location"], timeout=5)
    assert description.headers["Content-Type"].startswith("text/xml")
    device = ET.fromstring(description.content).find(f"{UPNP}device")
    assert device.findtext(f"{UPNP}manufacturer") == "Signify"
    assert device.findtext(f"{UPNP}modelName") == "Philips hue bridge 2015"
    assert device.findtext(f"{UPNP}modelNumber") == "BSB002"
    # Home Assistant's SSDP flow (2021-22) wanted one of these manufacturer URLs.
    assert device.findtext(f"{UPNP}manufacturerURL") in (
        "http://www.philips.com",
        "http://www.philips-hue.com",
    )
    assert device.findtext(f"{UPNP}serialNumber") == config["mac"].replace(":", "")

    # aiohue's discover_bridge on what discovery returned, then Home Assistant's config-flow
    # check: the bridge answering there is the one the mDNS record named.
    async def check() -> None:
        async with aiohttp.ClientSession() as session:
            host = f"{found['addresses'][0]}:{found['port']}"
            bridge = await discover_bridge(host, websession=session)
            assert bridge.id == normalize_bridge_id(found["properties"]["bridgeid"])
            assert bridge.supports_v2 is False  # a v1 bridge: no CLIP v2 on HTTPS

    asyncio.run(check())


def test_ssdp_messages_are_a_bridges():
    bridge = discovery.Bridge("001788FFFE4A1515", "0017884a1515", 80, "1.67.0")
    alive = discovery.notifications(bridge, "192.168.1.5")
    assert len(alive) == 3
    assert alive[0].decode() == (
        "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=100\r\n"
        "LOCATION: http://192.168.1.5:80/description.xml\r\n"
        "SERVER: Linux/3.14.0 UPnP/1.0 IpBridge/1.67.0\r\nNTS: ssdp:alive\r\n"
        "hue-bridgeid: 001788FFFE4A1515\r\nNT: upnp:rootdevice\r\n"
        "USN: uuid:2f402f80-da50-11e1-9b23-0017884a1515::upnp:rootdevice\r\n\r\n"
    )
    bye = discovery.notifications(bridge, "192.168.1.5", alive=False)[0].decode()
    assert "NTS: ssdp:byebye" in bye and "LOCATION" not in bye


def test_discovery_setting_is_checked(tmp_path):
    from tests.live import BIN, ROOT, clean_env

    done = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "routes"],
        cwd=ROOT,
        env=clean_env(
            DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", HUE_DISCOVERY="no-such-interface"
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("homepair: HUE_DISCOVERY: 'no-such-interface' is")
    assert "Traceback" not in done.stderr
