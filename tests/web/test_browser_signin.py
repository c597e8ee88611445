"""``/signin`` and ``/account`` in Chromium, with codes read from a real SMTP server."""

from __future__ import annotations

import pytest
import requests

from tests.ruuvi.helpers import RuuviClient, code_of, unique_email
from tests.web.conftest import post_form, shoot

pytestmark = pytest.mark.live


def test_sign_in_with_the_e_mailed_code_then_revoke_a_session(web_live, mailbox, page):
    address = unique_email("Browser")
    with RuuviClient(web_live.url, mailbox) as app_client:
        # Ruuvi Station signed in first: a session the browser will see and revoke.
        app_token = app_client.sign_in(address)["accessToken"]
        assert app_client.authed("GET", "/user", app_token).status_code == 200

        page.goto(web_live.url + "/signin")
        shoot(page, "signin")
        page.get_by_label("E-mail address").fill(address)
        page.get_by_role("button", name="Send me a code").click()
        page.wait_for_url(web_live.url + "/signin/code")
        assert address in page.get_by_role("status").inner_text()
        shoot(page, "signin-code")

        code = code_of(mailbox.wait_for(address, 2)[1])
        page.get_by_label("Code from the e-mail").fill(code.lower())
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(web_live.url + "/account")

        assert page.locator("#account-email").inner_text() == address
        assert f"Signed in as {address}" in page.locator("header").inner_text()
        sessions = page.locator(".sessions > li")
        assert sessions.count() == 2
        mine = page.locator(".sessions > li", has_text="this browser")
        assert mine.count() == 1
        shoot(page, "account")

        # Revoke the app's session: its token is refused from now on.
        listed = app_client.authed("GET", "/sessions", app_token).json()["data"]["sessions"]
        [app_session] = [s["id"] for s in listed if s["current"]]
        page.locator(f"#session-{app_session}").get_by_role("button", name="Revoke").click()
        page.wait_for_load_state()
        assert f"Session {app_session} revoked." in page.get_by_role("status").inner_text()
        assert app_client.authed("GET", "/user", app_token).status_code == 401
        assert page.locator(".sessions > li").count() == 1

        # Signing out revokes the browser's own session too: only a new sign-in is left.
        page.get_by_role("button", name="Sign out", exact=True).click()
        page.wait_for_url(web_live.url + "/")
        assert page.get_by_role("link", name="Sign in").first.is_visible()
        new_token = app_client.sign_in(address)["accessToken"]
        left = app_client.authed("GET", "/sessions", new_token).json()["data"]["sessions"]
        assert len(left) == 1 and left[0]["current"] is True

    page.goto(web_live.url + "/account")
    assert page.url == web_live.url + "/signin"


def test_a_wrong_code_shows_the_protocols_message(web_live, page):
    page.goto(web_live.url + "/signin/code")
    page.get_by_label("Code from the e-mail").fill("zz9z")
    with page.expect_response(web_live.url + "/signin/code") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 403  # as GET /verify answers
    assert page.get_by_role("alert").inner_text().strip() == "Code used or expired"
    assert page.get_by_label("Code from the e-mail").get_attribute("aria-invalid") == "true"
    assert "Traceback" not in page.content()
    shoot(page, "signin-code-error")


def test_an_invalid_address_shows_the_protocols_message(web_live, page):
    page.goto(web_live.url + "/signin")
    page.get_by_label("E-mail address").fill("nope")
    page.get_by_role("button", name="Send me a code").click()
    page.wait_for_load_state()
    assert page.get_by_role("alert").inner_text().strip() == "Invalid e-mail address: nope"


def test_a_form_posted_without_its_csrf_token_is_refused(web_live, page):
    page.goto(web_live.url + "/signin")
    page.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    page.get_by_label("E-mail address").fill(unique_email("nocsrf"))
    with page.expect_response(web_live.url + "/signin") as answer:
        page.get_by_role("button", name="Send me a code").click()
    assert answer.value.status == 400
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Form expired or not sent from this site"
    )
    assert "The CSRF token is missing." in page.get_by_role("alert").inner_text()
    assert "Traceback" not in page.content()
    shoot(page, "csrf-refused")

    # A hand-made form carrying a forged token is refused the same way.
    page.goto(web_live.url + "/pair")
    response = post_form(page, "/pair", {"code": "A3XR7M2", "csrf_token": "forged"}, token=False)
    assert response.status == 400
    assert "The CSRF token is invalid." in page.get_by_role("alert").inner_text()


def test_the_start_page_links_the_three_flows(web_live, page):
    page.goto(web_live.url + "/")
    cards = page.locator(".card")
    assert cards.count() == 3
    assert [cards.nth(i).locator(".state").inner_text() for i in range(3)] == ["Enabled"] * 3
    # Each navigation is waited for before the next: going back while chromium still commits
    # the previous one fails with "Not attached to an active page".
    page.get_by_role("link", name="Pair a thermostat").click()
    page.wait_for_url(web_live.url + "/pair")
    page.go_back()
    page.wait_for_url(web_live.url + "/")
    page.get_by_role("link", name="Link button and apps").click()
    page.wait_for_url(web_live.url + "/hue")
    page.go_back()
    page.wait_for_url(web_live.url + "/")
    shoot(page, "index")
    page.locator(".card").get_by_role("link", name="Sign in").click()
    page.wait_for_url(web_live.url + "/signin")
    assert page.url == web_live.url + "/signin"
    # The stylesheet is served (the pages are styled, not bare HTML).
    css = requests.get(web_live.url + "/assets/style.css", timeout=5)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
