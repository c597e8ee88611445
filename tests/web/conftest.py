"""Web page fixtures: one live server and one headless Chromium for the package.

The browser is Debian's ``/usr/bin/chromium`` driven by Playwright (``playwright install`` is
never run). Tests keep apart by fresh browser contexts (own cookies), unique e-mail addresses
and serials; only the Hue test touches the link button.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.live import ROOT
from tests.ruuvi.helpers import code_of, mailing_server, start_smtp

CHROMIUM = "/usr/bin/chromium"
# The machine's closed network refuses Chromium's background connections; these switch them off.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
WIDTHS = (360, 1280)
ADMIN = "admin@example.com"


@pytest.fixture(scope="package")
def smtp():
    """A real SMTP server (aiosmtpd) keeping what it receives: ``(controller, mailbox)``."""
    controller, mailbox = start_smtp()
    yield controller, mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp):
    """The package SMTP server's mailbox."""
    return smtp[1]


@pytest.fixture(scope="package")
def web_live(tmp_path_factory, smtp):
    """gunicorn (gevent, one worker) mailing codes to :func:`smtp`, with one admin address."""
    controller, _ = smtp
    with mailing_server(
        tmp_path_factory.mktemp("web-live"), controller, ADMIN_EMAILS=ADMIN
    ) as server:
        yield server


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the package."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    """A page in a fresh browser context (its own cookies), phone-sized to begin with."""
    context = browser.new_context(viewport={"width": 360, "height": 780})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def shoot(page: Page, name: str) -> list[Path]:
    """Screenshot the page at 360 and 1280 px wide into ``artifacts/screenshots/``.

    Also checks that nothing is wider than the viewport (no sideways scrolling at 360 px).
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    paths = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 780})
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow} px too wide at {width} px"
        path = SCREENSHOTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    page.set_viewport_size(size)
    return paths


def sign_in(page: Page, server, mailbox, address: str) -> None:
    """Sign the page's browser in through ``/signin`` with the code from the SMTP server."""
    before = len(mailbox.to(address))
    page.goto(server.url + "/signin")
    page.get_by_label("E-mail address").fill(address)
    page.get_by_role("button", name="Send me a code").click()
    page.wait_for_url(server.url + "/signin/code")
    code = code_of(mailbox.wait_for(address, before + 1)[before])
    page.get_by_label("Code from the e-mail").fill(code.lower())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/account")


def post_form(page: Page, path: str, fields: dict[str, str] | None = None, token: bool = True):
    """Submit a form built in the page (as a forged or hand-made form would be); the response.

    With ``token`` the page's own CSRF token goes along, so only the server's other checks
    decide.
    """
    with page.expect_navigation() as navigation:
        page.evaluate(
            """([path, fields, token]) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = path;
                const values = Object.assign({}, fields);
                if (token) {
                    values.csrf_token = document.querySelector("input[name=csrf_token]").value;
                }
                for (const [name, value] of Object.entries(values)) {
                    const input = document.createElement("input");
                    input.type = "hidden";
                    input.name = name;
                    input.value = value;
                    form.appendChild(input);
                }
                document.body.appendChild(form);
                form.submit();
            }""",
            [path, fields or {}, token],
        )
    return navigation.value
