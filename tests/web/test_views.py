"""The pages through Flask's test client: CSRF, admin checks, cookies, shared limits, errors."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from sqlalchemy import select, text

from app import mail
from app.extensions import db
from app.hue import service as hue
from app.models import MailOutbox
from app.web.forms import normalise_entry_code
from tests.nest.factories import claim, issue_key, new_serial
from tests.ruuvi.helpers import CODE_LINE

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
ADMIN = "Boss@Example.com"


def csrf(client, path: str = "/pair") -> str:
    """The CSRF token a page hands out (tokens are per session, so any page's will do)."""
    page = client.get(path)
    assert page.status_code == 200
    return CSRF.search(page.get_data(as_text=True)).group(1)


def post(client, path: str, data: dict | None = None, token: bool = True, **kwargs):
    """A form POST, with the session's CSRF token unless ``token`` is false."""
    data = dict(data or {})
    if token:
        data["csrf_token"] = csrf(client)
    return client.post(path, data=data, **kwargs)


def page_text(response) -> str:
    """The page's text with tags and runs of whitespace collapsed, for reading assertions."""
    html = response.get_data(as_text=True)
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip())


def alert(response) -> str:
    """The text of the page's ``role="alert"`` block."""
    html = response.get_data(as_text=True)
    match = re.search(r'role="alert">(.*?)</div>', html, re.S)
    assert match, html
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip())


def last_code(app) -> str:
    """The code of the newest queued e-mail (unsealed from the outbox, as the sender would)."""
    with app.app_context():
        body = db.session.scalars(select(MailOutbox.body).order_by(MailOutbox.id.desc())).first()
        [code] = [line for line in mail.unseal(body).splitlines() if CODE_LINE.fullmatch(line)]
    return code


def web_sign_in(client, app, address: str):
    """Sign the test client in through the two forms; the final response."""
    sent = post(client, "/signin", {"email": address})
    assert sent.status_code == 303 and sent.headers["Location"] == "/signin/code"
    return post(client, "/signin/code", {"code": last_code(app)})


@pytest.fixture
def site(make_app):
    """An app with an admin address, and its test client."""
    app = make_app(ADMIN_EMAILS=ADMIN)
    return app, app.test_client()


# --- pages and headers ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/pair", "/signin", "/signin/code", "/hue"])
def test_every_page_is_html_with_protective_headers(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = response.get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert '<html lang="en">' in html


def test_the_start_page_names_each_protocol_and_its_state(client):
    text = page_text(client.get("/"))
    for name in ("Nest thermostats", "Philips Hue apps", "Ruuvi Station sign-in"):
        assert f"{name} Enabled" in text
    assert "Codes are written to the server log" in text  # MAIL_BACKEND=console
    assert "Link button: not pressed" in text


def test_every_input_has_a_label(client):
    for path in ("/pair", "/signin", "/signin/code"):
        html = client.get(path).get_data(as_text=True)
        ids = re.findall(r'<input[^>]*\bid="([^"]+)"', html)
        assert ids, path
        for input_id in ids:
            assert f'<label for="{input_id}">' in html, (path, input_id)


def test_the_stylesheet_and_script_are_served(client):
    css = client.get("/assets/style.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    js = client.get("/assets/countdown.js")
    assert js.status_code == 200 and "countdown" in js.get_data(as_text=True)


def test_unknown_paths_keep_the_json_404(client):
    # An unknown root path is the Ruuvi apps' (issue 14): their 404 envelope, with CORS.
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.data == (
        b'{"result":"error","error":"NOT FOUND","code":"ER_NOT_FOUND","sub_code":null}'
    )
    # Below the pages' own paths, the generic JSON 404 stays.
    assert client.get("/pair/nope").data == b'{"error":"Not found"}'


# --- CSRF -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/pair",
        "/signin",
        "/signin/code",
        "/signout",
        "/account/sessions/revoke",
        "/account/sessions/revoke-all",
        "/hue/press",
        "/hue/close",
        "/hue/revoke",
    ],
)
def test_a_form_without_its_csrf_token_is_refused_with_a_page(client, path):
    response = client.post(path, data={"code": "A3XR7M2", "email": "a@example.com"})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Form expired or not sent from this site" in page_text(response)
    assert "Reason: The CSRF token is missing." in alert(response)
    assert "Traceback" not in response.get_data(as_text=True)


def test_a_token_from_another_session_is_refused(make_app):
    app = make_app()
    token = csrf(app.test_client())
    response = app.test_client().post("/pair", data={"csrf_token": token, "code": "A3XR7M2"})
    assert response.status_code == 400
    assert "The CSRF session token is missing." in alert(response)


def test_the_protocol_apis_take_no_csrf_token(app, client):
    serial = new_serial()
    # Nest control and device transport, Hue, Ruuvi: POSTs without a token are theirs to answer.
    answer = claim(client, issue_key(client, serial)["value"])
    assert answer.get_json()["success"] is True
    assert client.post("/nest/entry").status_code == 200
    assert client.post("/api", data=b'{"devicetype":"a#b"}').get_json() == [
        {"error": {"type": 101, "address": "", "description": "link button not pressed"}}
    ]
    assert client.post("/register", json={"email": "api@example.com"}).status_code == 200
    assert client.get(f"/verify?token={last_code(app)}").status_code == 200
    assert client.delete("/sessions").status_code == 401
    # An unknown path keeps its JSON 405/404 too.
    assert client.post("/nope").get_json()["code"] == "ER_NOT_FOUND"


# --- session cookie -------------------------------------------------------------------------


def _cookie(response) -> str:
    [cookie] = [v for k, v in response.headers.items() if k == "Set-Cookie"]
    return cookie


def test_the_session_cookie_is_httponly_lax_and_not_secure_over_http(client):
    cookie = _cookie(client.get("/pair"))
    assert cookie.startswith("session=")
    assert "; HttpOnly" in cookie and "; SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_the_session_cookie_is_secure_over_https(make_app):
    client = make_app().test_client()
    cookie = _cookie(client.get("/pair", base_url="https://homepair.example"))
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "; SameSite=Lax" in cookie


def test_https_behind_a_trusted_proxy_makes_the_cookie_secure(make_app):
    trusting = make_app(TRUSTED_PROXY_HOPS=1).test_client()
    cookie = _cookie(trusting.get("/pair", headers={"X-Forwarded-Proto": "https"}))
    assert "; Secure" in cookie
    # Without trusted hops the header is the client's word and changes nothing.
    direct = make_app().test_client()
    assert "Secure" not in _cookie(direct.get("/pair", headers={"X-Forwarded-Proto": "https"}))


def test_over_https_a_form_must_come_from_this_site(make_app):
    client = make_app().test_client()
    base = "https://homepair.example"
    token = CSRF.search(client.get("/pair", base_url=base).get_data(as_text=True)).group(1)
    form = {"csrf_token": token, "code": "zzzzzzz", "user": "u"}
    no_referrer = client.post("/pair", data=form, base_url=base)
    assert no_referrer.status_code == 400
    assert "The referrer header is missing." in alert(no_referrer)
    elsewhere = client.post(
        "/pair", data=form, base_url=base, headers={"Referer": "https://evil.example/pair"}
    )
    assert "The referrer does not match the host." in alert(elsewhere)
    same = client.post("/pair", data=form, base_url=base, headers={"Referer": base + "/pair"})
    assert same.status_code == 200
    assert alert(same) == "Invalid, expired, or already claimed entry key"


def test_protocol_answers_set_no_cookie(client):
    serial = new_serial()
    for response in (
        client.get("/api/config"),
        client.get("/nest/passphrase", headers={"X-nl-device-id": serial}),
        client.post("/register", json={"email": "c@example.com"}),
        client.get("/healthz"),
    ):
        assert "Set-Cookie" not in response.headers


# --- /pair ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("a3xr7m2", "A3XR7M2"),
        ("a3x-r7m2", "A3XR7M2"),
        (" A3X R7M2 ", "A3XR7M2"),
        ("a3x - r7m2", "A3XR7M2"),
        ("-A3XR7M2", "-A3XR7M2"),  # a dash not between characters is not tolerated
        ("A3X-R7M-2", "A3X-R7M-2"),  # nor a second dash
        ("", ""),
        (None, ""),
    ],
)
def test_entry_codes_are_normalised_as_people_type_them(typed, sent):
    assert normalise_entry_code(typed) == sent


def test_pairing_prefills_homeassistant_and_lists_its_devices(client):
    serial = new_serial()
    code = issue_key(client, serial)["value"]
    page = client.get("/pair")
    assert 'name="user" spellcheck="false" type="text" value="homeassistant"' in page.get_data(
        as_text=True
    )
    response = post(client, "/pair", {"code": f"{code[:4].lower()}-{code[4:]}", "user": "mum"})
    assert response.status_code == 200
    text = page_text(response)
    assert f"Paired. Device {serial} registered to mum Serial: {serial}" in text
    assert f"Thermostats of mum {serial} registered" in text


def test_a_failed_claim_shows_the_control_apis_message(client):
    response = post(client, "/pair", {"code": "zzz-zzzz", "user": "homeassistant"})
    assert response.status_code == 200
    assert alert(response) == "Invalid, expired, or already claimed entry key"
    bad_format = post(client, "/pair", {"code": "abc", "user": "homeassistant"})
    assert bad_format.status_code == 400
    assert alert(bad_format) == (
        "Invalid entry code format. Must be exactly 7 alphanumeric characters."
    )
    missing = post(client, "/pair", {"code": "A3XR7M2", "user": " "})
    assert alert(missing) == "Missing required fields: code, userId"
    assert 'aria-invalid="true" autocomplete="off" id="user"' in missing.get_data(as_text=True)


def test_the_form_shares_the_apis_failed_claim_limit(make_app):
    client = make_app(NEST_REGISTER_LIMIT_PER_IP="2/minute").test_client()
    assert claim(client, "ZZZZZZZ").get_json()["success"] is False  # one failure via the API
    assert post(client, "/pair", {"code": "zzzzzzz", "user": "u"}).status_code == 200  # two
    limited = post(client, "/pair", {"code": "yyy-yyyy", "user": "u"})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.mimetype == "text/html"
    assert re.fullmatch(
        r"Too many registration attempts Try again in \d+ seconds?\.", alert(limited)
    )
    assert 'value="yyy-yyyy"' in limited.get_data(as_text=True)  # the typed code stays
    assert claim(client, "ZZZZZZZ").status_code == 429  # and the API is limited too


def test_a_control_token_guards_the_form_as_it_guards_the_api(make_app):
    client = make_app(NEST_CONTROL_TOKEN="s3cret").test_client()
    serial = new_serial()
    code = issue_key(client, serial)["value"]
    page = client.get("/pair").get_data(as_text=True)
    assert '<label for="token">Control token</label>' in page
    assert "Thermostats of" not in page  # the listing is guarded too
    refused = post(client, "/pair", {"code": code, "user": "homeassistant", "token": "nope"})
    assert refused.status_code == 401
    assert alert(refused) == "Unauthorized"
    accepted = post(client, "/pair", {"code": code, "user": "homeassistant", "token": "s3cret"})
    assert accepted.status_code == 200
    assert f"Serial: {serial}" in page_text(accepted)
    assert f"Thermostats of homeassistant {serial}" in page_text(accepted)


def test_the_signed_in_users_address_is_prefilled(site):
    app, client = site
    web_sign_in(client, app, "pairer@example.com")
    html = client.get("/pair").get_data(as_text=True)
    assert 'id="user" maxlength="254" name="user" spellcheck="false" type="text"' in html
    assert 'value="pairer@example.com"' in html


# --- /signin and /account -------------------------------------------------------------------


def test_signing_in_sets_the_session_and_shows_the_account(site):
    app, client = site
    done = web_sign_in(client, app, "new@example.com")
    assert done.status_code == 303 and done.headers["Location"] == "/account"
    cookie = _cookie(done)
    assert "; HttpOnly" in cookie and "; SameSite=Lax" in cookie and "Expires=" in cookie
    account = client.get("/account")
    text = page_text(account)
    assert "Welcome! Your account new@example.com is ready." in text
    assert "Signed in as new@example.com" in text
    assert "Session 1 this browser" in text
    assert "Role User" in text


def test_a_wrong_code_shows_the_verify_message_and_counts(make_app):
    app = make_app(RUUVI_VERIFY_LIMIT_PER_IP="2/hour")
    client = app.test_client()
    wrong = post(client, "/signin/code", {"code": "zzzz"})
    assert wrong.status_code == 403
    assert alert(wrong) == "Code used or expired"
    empty = post(client, "/signin/code", {"code": " "})
    assert (empty.status_code, alert(empty)) == (400, "Missing token")
    # Both failures used the API's budget: /verify is limited now, and so is the form.
    assert client.get("/verify?token=ABCD").status_code == 429
    limited = post(client, "/signin/code", {"code": "ABCD"})
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert alert(limited).startswith("Too many requests Try again in ")


def test_the_address_form_shares_the_per_address_limit(make_app):
    app = make_app(RUUVI_REGISTER_LIMIT_PER_EMAIL="1/hour")
    client = app.test_client()
    assert client.post("/register", json={"email": "Same@Example.com"}).status_code == 200
    limited = post(client, "/signin", {"email": " same@example.COM "})
    assert limited.status_code == 429
    assert alert(limited).startswith("Too many requests Try again in ")
    assert post(client, "/signin", {"email": "other@example.com"}).status_code == 303


def test_an_invalid_address_shows_the_register_message(client):
    response = post(client, "/signin", {"email": "nope"})
    assert response.status_code == 400
    assert alert(response) == "Invalid e-mail address: nope"


def test_account_needs_a_sign_in(client):
    response = client.get("/account")
    assert response.status_code == 303 and response.headers["Location"] == "/signin"
    assert "Sign in to see your account." in page_text(client.get("/signin"))
    refused = post(client, "/account/sessions/revoke", {"session_id": "1"})
    assert refused.status_code == 403 and "Sign in first." in alert(refused)


def test_revoking_this_browsers_session_signs_it_out(site):
    app, client = site
    web_sign_in(client, app, "me@example.com")
    other = app.test_client()
    web_sign_in(other, app, "me@example.com")
    # Session 2 (the other browser) revoked from here: it is signed out there.
    assert post(client, "/account/sessions/revoke", {"session_id": "2"}).status_code == 303
    assert "Session 2 revoked." in page_text(client.get("/account"))
    assert other.get("/account").headers["Location"] == "/signin"
    gone = post(client, "/account/sessions/revoke", {"session_id": "2"})
    assert gone.status_code == 303
    assert "That session does not exist any more." in page_text(client.get("/account"))
    # Its own session: signed out.
    done = post(client, "/account/sessions/revoke", {"session_id": "1"})
    assert done.headers["Location"] == "/signin"
    assert "you are signed out" in page_text(client.get("/signin"))
    assert client.get("/account").status_code == 303


def test_sign_out_everywhere_revokes_every_session(site):
    app, client = site
    web_sign_in(client, app, "all@example.com")
    token = client.get(f"/verify?token={_register_code(client, app, 'all@example.com')}")
    token = token.get_json()["data"]["accessToken"]
    assert client.get("/user", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert post(client, "/account/sessions/revoke-all").headers["Location"] == "/signin"
    assert client.get("/user", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.get("/account").status_code == 303


def _register_code(client, app, address: str) -> str:
    assert client.post("/register", json={"email": address}).status_code == 200
    return last_code(app)


def test_sign_out_revokes_the_browsers_session(site):
    app, client = site
    web_sign_in(client, app, "out@example.com")
    out = post(client, "/signout")
    assert out.status_code == 303 and out.headers["Location"] == "/"
    assert "Signed out." in page_text(client.get("/"))
    token = client.get(f"/verify?token={_register_code(client, app, 'out@example.com')}")
    token = token.get_json()["data"]["accessToken"]
    sessions = client.get("/sessions", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [s["current"] for s in sessions["data"]["sessions"]] == [True]


# --- /hue -----------------------------------------------------------------------------------


def _link_open(app) -> bool:
    with app.app_context():
        return hue.link_button_open()


def test_anonymous_and_non_admin_presses_are_refused(site):
    app, client = site
    page = client.get("/hue").get_data(as_text=True)
    assert "Press link button" not in page
    anonymous = post(client, "/hue/press")
    assert anonymous.status_code == 403 and anonymous.mimetype == "text/html"
    assert alert(anonymous) == "Sign in with an administrator's address first."
    web_sign_in(client, app, "someone@example.com")
    assert "Press link button" not in client.get("/hue").get_data(as_text=True)
    for path in ("/hue/press", "/hue/close", "/hue/revoke"):
        refused = post(client, path, {"key": "x"})
        assert refused.status_code == 403
        assert alert(refused) == "someone@example.com is not an administrator."
    assert not _link_open(app)


def test_an_admin_presses_sees_the_countdown_and_revokes(site):
    app, client = site
    web_sign_in(client, app, ADMIN.upper())  # listed as Boss@Example.com: any case matches
    assert "Role Administrator" in page_text(client.get("/account"))
    pressed = post(client, "/hue/press")
    assert pressed.status_code == 303 and pressed.headers["Location"] == "/hue"
    assert _link_open(app)
    page = client.get("/hue")
    html = page.get_data(as_text=True)
    seconds = int(re.search(r'<span id="countdown" class="countdown">(\d+)</span>', html)[1])
    assert 29 <= seconds <= 30
    assert f'<meta http-equiv="refresh" content="{seconds}">' in html
    # An app pairs, shows in the list with its dates, and is revoked.
    key = client.post("/api", data=b'{"devicetype":"kitchen#tablet"}').get_json()[0]
    key = key["success"]["username"]
    text = page_text(client.get("/hue"))
    assert f"kitchen#tablet {key[:4]}… created" in text and "last used" in text
    assert key not in text
    assert post(client, "/hue/revoke", {"key": key}).headers["Location"] == "/hue"
    assert "Revoked kitchen#tablet: its key is refused from now on." in page_text(
        client.get("/hue")
    )
    assert client.get(f"/api/{key}/lights").get_json()[0]["error"]["type"] == 1
    again = post(client, "/hue/revoke", {"key": key})
    assert again.status_code == 303
    assert "That application is not whitelisted any more." in page_text(client.get("/hue"))
    assert post(client, "/hue/close").status_code == 303
    assert not _link_open(app)
    assert "Not pressed: apps cannot register." in page_text(client.get("/hue"))


# --- errors ---------------------------------------------------------------------------------


def test_a_database_failure_is_an_html_500_without_a_trace(app, client):
    with app.app_context():
        db.session.execute(text("DROP TABLE setting"))
        db.session.commit()
    response = client.get("/hue")
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    assert "Something went wrong" in page_text(response)
    assert "Traceback" not in response.get_data(as_text=True)
    assert "OperationalError" not in response.get_data(as_text=True)


def test_an_oversized_form_is_an_html_413(client):
    response = client.post("/pair", data={"code": "x" * (1024 * 1024 + 1)})
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "Request too large" in page_text(response)


def test_a_non_admin_is_told_how_to_become_one_and_the_cli_makes_it_so(make_app):
    app = make_app()
    client = app.test_client()
    web_sign_in(client, app, "Owner@Example.com")
    page = page_text(client.get("/hue"))
    assert "flask --app wsgi admin add Owner@Example.com" in page
    assert "Paired apps Only an administrator can see and revoke the paired apps." in page
    added = app.test_cli_runner().invoke(args=["admin", "add", "owner@example.com"])
    assert added.exit_code == 0, added.output
    assert added.output == "owner@example.com is an administrator (after signing in at /signin)\n"
    assert "Press link button" in client.get("/hue").get_data(as_text=True)
    assert post(client, "/hue/press").status_code == 303
    listed = app.test_cli_runner().invoke(args=["admin", "list"])
    assert listed.output == "owner@example.com\t(flask admin add)\n"
    removed = app.test_cli_runner().invoke(args=["admin", "remove", "OWNER@example.com"])
    assert removed.output == "owner@example.com removed\n"
    assert "Press link button" not in client.get("/hue").get_data(as_text=True)


def test_admins_see_the_pairing_events(site):
    from app import events

    app, client = site
    press = app.test_cli_runner().invoke(args=["hue", "press-link-button"])
    assert press.exit_code == 0
    client.post("/api/register", json={"code": "ZZZZZZZ", "userId": "x"})
    events.flush(app)
    web_sign_in(client, app, "someone@example.com")
    assert client.get("/events").status_code == 403
    post(client, "/signout")
    web_sign_in(client, app, ADMIN)
    assert 'href="/events"' in client.get("/account").get_data(as_text=True)
    events.flush(app)
    text = page_text(client.get("/events"))
    for event in ("hue.link_button.pressed", "nest.claim.failed reason=no live key"):
        assert event in text
    assert "ruuvi.code.verified" in text  # the admin's own sign-in
