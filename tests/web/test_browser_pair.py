"""``/pair`` in Chromium: a held thermostat subscribe gets its buckets when its code is typed."""

from __future__ import annotations

import json

import pytest
import requests

from tests.nest.factories import auth, new_serial
from tests.rawhttp import subscribe
from tests.web.conftest import shoot

pytestmark = pytest.mark.live


def entry_code(server, serial: str) -> str:
    """The entry key a thermostat shows (``GET /nest/passphrase``)."""
    response = requests.get(server.url + "/nest/passphrase", headers=auth(serial), timeout=5)
    assert response.status_code == 200, response.content
    return response.json()["value"]


def test_typing_the_code_pairs_a_holding_thermostat(web_live, page):
    serial = new_serial()
    code = entry_code(web_live, serial)
    stream = subscribe(web_live.url, serial)
    try:
        status, _ = stream.read_head(timeout=2)
        assert status == 200

        page.goto(web_live.url + "/pair")
        assert page.get_by_label("Register to user").input_value() == "homeassistant"
        # As people type it off the screen: lower case, with a dash in the middle.
        typed = f"{code[:3]}-{code[3:]}".lower()
        page.get_by_label("Entry code").fill(typed)
        page.get_by_role("button", name="Pair thermostat").click()
        page.wait_for_load_state()

        result = page.locator("#pair-result")
        assert result.locator(".serial").inner_text() == serial
        assert f"Device {serial} registered to homeassistant" in result.inner_text()
        devices = page.get_by_role("region", name="Thermostats of homeassistant")
        assert serial in devices.inner_text()

        # The thermostat's held subscribe receives its user and structure buckets.
        chunk = json.loads(stream.read_chunk(timeout=5))
        keys = [item["object_key"] for item in chunk["objects"]]
        assert keys == ["user.homeassistant", "structure.homeassistant"]
        assert chunk["objects"][0]["value"] == {"name": "homeassistant"}
        assert serial in chunk["objects"][1]["value"]["devices"]
    finally:
        stream.close()
    shoot(page, "pair")


def test_a_wrong_code_shows_the_protocols_message(web_live, page):
    page.goto(web_live.url + "/pair")
    page.get_by_label("Entry code").fill("zzz-zzzz")
    with page.expect_response(web_live.url + "/pair") as answer:
        page.get_by_role("button", name="Pair thermostat").click()
    assert answer.value.status == 200  # as POST /api/register answers a failed claim
    alert = page.get_by_role("alert")
    assert alert.inner_text().strip() == "Invalid, expired, or already claimed entry key"
    code_input = page.get_by_label("Entry code")
    assert code_input.get_attribute("aria-invalid") == "true"
    assert code_input.input_value() == "zzz-zzzz"
    assert "Traceback" not in page.content()

    page.get_by_label("Entry code").fill("A3X-R7M2-9")
    page.get_by_role("button", name="Pair thermostat").click()
    page.wait_for_load_state()
    assert page.get_by_role("alert").inner_text().strip() == (
        "Invalid entry code format. Must be exactly 7 alphanumeric characters."
    )
    shoot(page, "pair-error")
