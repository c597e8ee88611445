"""``/hue`` in Chromium: only an admin presses the link button; phue pairs; the admin revokes it."""

from __future__ import annotations

import json

import phue
import pytest
import requests
from playwright.sync_api import expect

from tests.hue.conftest import NOT_PRESSED
from tests.ruuvi.helpers import unique_email
from tests.web.conftest import ADMIN, post_form, shoot, sign_in

pytestmark = pytest.mark.live


def _register_probe(server) -> requests.Response:
    """``POST /api`` as an app would: refused with type 101 while the button is not pressed."""
    return requests.post(server.url + "/api", data=b'{"devicetype":"probe#web"}', timeout=5)


def test_only_an_admin_presses_then_phue_pairs_and_is_revoked(
    web_live, mailbox, browser, page, tmp_path
):
    # Anonymous: no button, and a hand-made POST (with a valid CSRF token) is refused.
    page.goto(web_live.url + "/hue")
    assert page.get_by_role("button", name="Press link button").count() == 0
    page.goto(web_live.url + "/pair")  # any page with a form hands out a CSRF token
    refused = post_form(page, "/hue/press")
    assert refused.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "Not allowed"

    # A signed-in non-admin: the same.
    sign_in(page, web_live, mailbox, unique_email("nonadmin"))
    page.goto(web_live.url + "/hue")
    assert "Not pressed" in page.locator("#link-state").inner_text()
    assert page.get_by_role("button", name="Press link button").count() == 0
    assert "Only an administrator can press the link button." in page.content()
    refused = post_form(page, "/hue/press")
    assert refused.status == 403
    assert "is not an administrator" in page.get_by_role("alert").inner_text()
    assert _register_probe(web_live).content == NOT_PRESSED

    # The admin presses it.
    admin = browser.new_context(viewport={"width": 1280, "height": 780})
    admin_page = admin.new_page()
    try:
        sign_in(admin_page, web_live, mailbox, ADMIN)
        admin_page.goto(web_live.url + "/hue")
        admin_page.get_by_role("button", name="Press link button").click()
        admin_page.wait_for_load_state()
        assert "Link button pressed" in admin_page.get_by_role("status").inner_text()
        assert "Pressed" in admin_page.locator("#link-state").inner_text()
        shown = int(admin_page.locator("#countdown").inner_text())
        assert 25 <= shown <= 30
        # The optional script counts down (the page's CSP rules out evaluated predicates).
        expect(admin_page.locator("#countdown")).not_to_have_text(str(shown), timeout=3000)
        assert int(admin_page.locator("#countdown").inner_text()) < shown

        # phue pairs while the window is open.
        host = f"127.0.0.1:{web_live.port}"
        saved = tmp_path / "python_hue"
        bridge = phue.Bridge(host, config_file_path=str(saved))
        username = json.loads(saved.read_text())[host]["username"]
        assert bridge.username == username
        assert requests.get(f"{web_live.url}/api/{username}/lights", timeout=5).json() == {}

        admin_page.reload()
        app_entry = admin_page.locator(".apps > li", has_text="python_hue")
        assert app_entry.count() == 1
        assert "created" in app_entry.inner_text() and "last used" in app_entry.inner_text()
        assert username not in app_entry.inner_text()  # the key itself is not shown
        shoot(admin_page, "hue-admin")

        # Close the window, then revoke the app: its key is refused with type 1.
        admin_page.get_by_role("button", name="Close now").click()
        admin_page.wait_for_load_state()
        assert "Not pressed" in admin_page.locator("#link-state").inner_text()
        assert _register_probe(web_live).content == NOT_PRESSED
        admin_page.locator(".apps > li", has_text="python_hue").get_by_role(
            "button", name="Revoke"
        ).click()
        admin_page.wait_for_load_state()
        assert "Revoked python_hue" in admin_page.get_by_role("status").inner_text()
        assert admin_page.locator(".apps > li", has_text="python_hue").count() == 0
        answer = requests.get(f"{web_live.url}/api/{username}/lights", timeout=5).json()
        assert answer == [
            {"error": {"type": 1, "address": "/lights", "description": "unauthorized user"}}
        ]
    finally:
        admin.close()

    # The non-admin sees the list without revoke buttons.
    page.goto(web_live.url + "/hue")
    assert page.locator(".apps button").count() == 0
    shoot(page, "hue")


def test_the_pages_work_without_javascript(web_live, mailbox, browser):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 780})
    try:
        page = context.new_page()
        sign_in(page, web_live, mailbox, ADMIN.upper())  # admin addresses match in any case
        page.goto(web_live.url + "/hue")
        assert "Not pressed" in page.locator("#link-state").inner_text()
        page.get_by_role("button", name="Press link button").click()
        page.wait_for_url(web_live.url + "/hue")
        # The state and the seconds left are in the page as served.
        assert "Pressed" in page.locator("#link-state").inner_text()
        left = int(page.locator("#countdown").inner_text())
        assert 25 <= left <= 30
        # Without the script, a refresh when the window ends shows it closed.
        refresh = page.locator('meta[http-equiv="refresh"]').get_attribute("content")
        assert refresh == str(left)
        shoot(page, "hue-open")
        page.get_by_role("button", name="Close now").click()
        page.wait_for_url(web_live.url + "/hue")
        assert "Not pressed" in page.locator("#link-state").inner_text()
        assert page.locator('meta[http-equiv="refresh"]').count() == 0
    finally:
        context.close()
    assert _register_probe(web_live).content == NOT_PRESSED
