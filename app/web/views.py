"""The pages' views, thin over the Nest, Ruuvi and Hue services.

A form that fails answers with the status and the message its protocol's API would give
(a failed Nest claim is a 200 with the control API's text, a wrong Ruuvi code a 403 with
"Code used or expired"), and it shares that API's rate limits: same scopes, same budgets.
Successful actions redirect (303) so a reload never repeats them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from flask import (
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as WerkzeugResponse

from app import events
from app.clock import hue_time, now_s
from app.extensions import db
from app.hue import service as hue
from app.limits import MISSING, client_ip
from app.nest import claims as nest_claims
from app.nest import service as nest
from app.routing import add_resource
from app.ruuvi import service as ruuvi
from app.ruuvi import signin as ruuvi_signin
from app.web import bp
from app.web.account import (
    PENDING_EMAIL_KEY,
    admin_only,
    current_account,
    sign_in,
    sign_out,
    signed_in,
)
from app.web.forms import CodeForm, EmailForm, PairForm, normalise_entry_code

PROTOCOL_BLUEPRINTS = ("nest", "hue", "ruuvi")


def _see_other(endpoint: str) -> WerkzeugResponse:
    return redirect(url_for(endpoint), code=303)


# --- every page ---------------------------------------------------------------------------


@bp.before_request
def _load_account() -> None:
    # Loaded up front so a database failure is the 500 page's, not the template's, problem.
    if request.endpoint != "web.static":
        current_account()


@bp.context_processor
def _template_context() -> dict:
    return {"account": g.get("web_account")}


@bp.after_request
def _page_headers(response: Response) -> Response:
    # Pages carry CSRF tokens and account data: no caching, no framing, scripts from here only.
    if request.endpoint != "web.static":
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self';"
            " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.app_template_filter("utc")
def utc(epoch_s: int | None) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SS UTC`` (never the browser's or host's zone)."""
    if epoch_s is None:
        return "never"
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.app_template_filter("utc_ms")
def utc_ms(epoch_ms: int | None) -> str:
    """Epoch milliseconds (Nest) as :func:`utc` prints them."""
    return utc(None if epoch_ms is None else epoch_ms // 1000)


@bp.app_template_filter("hue_date")
def hue_date(text: str) -> str:
    """A Hue date (``2018-10-14T02:57:05``, UTC) as :func:`utc` prints them."""
    return text.replace("T", " ") + " UTC"


# --- / --------------------------------------------------------------------------------------


@bp.get("/")
def index() -> str:
    """``/``: what this server is, the three flows, and which protocols it serves."""
    config = current_app.config
    enabled = {name: name in current_app.blueprints for name in PROTOCOL_BLUEPRINTS}
    return render_template(
        "index.html",
        enabled=enabled,
        control_token=bool(config["NEST_CONTROL_TOKEN"]),
        mail_backend=config["MAIL_BACKEND"],
        link_open=hue.link_button_open(),
    )


# --- /pair ----------------------------------------------------------------------------------


def _default_user() -> str:
    account = current_account()
    return account.email if account else nest_claims.DEFAULT_USER


def _token_required() -> bool:
    return bool(current_app.config["NEST_CONTROL_TOKEN"])


def _pair_page(form: PairForm, status: int = 200, **outcome: Any) -> tuple[str, int]:
    """The pairing page; the user's devices are listed unless a control token guards them."""
    user = (form.user.data or "").strip()
    show_devices = bool(user) and (not _token_required() or outcome.get("authorised", False))
    devices = nest.registered_devices(user) if show_devices else None
    page = render_template(
        "pair.html",
        form=form,
        token_required=_token_required(),
        user=user,
        devices=devices,
        **outcome,
    )
    return page, status


def pair() -> tuple[str, int]:
    """``/pair``: the form, prefilled with the signed-in account's e-mail or ``homeassistant``."""
    return _pair_page(PairForm(user=_default_user()))


def pair_submit() -> tuple[str, int]:
    """Claim the typed entry code through the Nest control service (same limits as the API)."""
    form = PairForm()
    if not nest_claims.control_token_ok(form.token.data, client_ip()):
        # As POST /api/register: a bad token spends the token budget, not the claim budget.
        return _pair_page(form, 401, error="Unauthorized")
    nest_claims.spend_claim_budget(client_ip())
    user = (form.user.data or "").strip()
    body = {"code": normalise_entry_code(form.code.data), "userId": user}
    status, success, message, serial = nest_claims.claim_and_wake(body)
    if success:
        form.code.data = ""
        return _pair_page(form, status, message=message, serial=serial, authorised=True)
    return _pair_page(form, status, error=message, authorised=True)


def pair_limited(seconds: int) -> str:
    """The pairing page for a claim refused by the failed-claim limits."""
    return _pair_page(PairForm(), error="Too many registration attempts", retry_after=seconds)[0]


# --- /signin and /account -------------------------------------------------------------------


def _form_email() -> str:
    return (request.form.get("email") or "").strip()


def _form_email_key() -> str:
    # The per-address key of the API, read from the form; flask-limiter takes an exception
    # here for a storage failure, so never raise.
    try:
        return ruuvi.email_limit_key({"email": _form_email()})
    except Exception:
        return MISSING


def signin() -> str:
    """``/signin``, step 1: ask for the address to e-mail a code to."""
    return render_template("signin.html", form=EmailForm(email=session.get(PENDING_EMAIL_KEY)))


@ruuvi_signin.register_limits_for(_form_email_key)
def signin_submit() -> ResponseReturnValue:
    """E-mail a code through the Ruuvi service (same limits as ``POST /register``)."""
    form = EmailForm()
    try:
        email = ruuvi_signin.send_code({"email": _form_email()})
    except ruuvi_signin.Refused as exc:
        return render_template("signin.html", form=form, error=exc.error), exc.status
    session[PENDING_EMAIL_KEY] = email
    return _see_other("web.signin_code")


def _code_page(form: CodeForm, **extra: Any) -> str:
    minutes = math.ceil(current_app.config["RUUVI_CODE_TTL_SECONDS"] / 60)
    return render_template(
        "signin_code.html",
        form=form,
        email=session.get(PENDING_EMAIL_KEY),
        minutes=minutes,
        **extra,
    )


def signin_code() -> str:
    """``/signin/code``, step 2: ask for the code from the e-mail."""
    return _code_page(CodeForm())


def signin_code_submit() -> ResponseReturnValue:
    """Trade the code for a Ruuvi session (same limits as ``GET /verify``); sign the browser in."""
    form = CodeForm()
    ruuvi_signin.spend_verify_budget(client_ip())
    try:
        verified = ruuvi_signin.verify_code((form.code.data or "").strip())
    except ruuvi_signin.Refused as exc:
        return _code_page(form, error=exc.error), exc.status
    sign_in(verified.access_token)
    if verified.new_user:
        flash(f"Welcome! Your account {verified.email} is ready.", "success")
    else:
        flash(f"Signed in as {verified.email}.", "success")
    return _see_other("web.account")


def signin_limited(seconds: int) -> str:
    """The sign-in page for a request refused by the Ruuvi limits."""
    if request.endpoint == "web.signin_code":
        return _code_page(CodeForm(), error="Too many requests", retry_after=seconds)
    return render_template(
        "signin.html", form=EmailForm(), error="Too many requests", retry_after=seconds
    )


@bp.get("/account")
def account() -> ResponseReturnValue:
    """``/account``: the e-mail and the account's sessions, each revocable."""
    signed = current_account()
    if signed is None:
        flash("Sign in to see your account.", "info")
        return _see_other("web.signin")
    return render_template("account.html", sessions=ruuvi.sessions_of(signed.caller))


@bp.post("/account/sessions/revoke")
@signed_in
def revoke_session() -> WerkzeugResponse:
    """Revoke one session; revoking this browser's own signs it out."""
    signed = current_account()
    assert signed is not None  # @signed_in refused anonymous requests
    caller = signed.caller
    session_id = request.form.get("session_id", "")
    if not ruuvi.revoke_session(caller, session_id):
        db.session.rollback()
        flash("That session does not exist any more.", "error")
        return _see_other("web.account")
    db.session.commit()
    if int(session_id) == caller.session_id:
        sign_out()
        flash("This browser's session was revoked: you are signed out.", "info")
        return _see_other("web.signin")
    flash(f"Session {int(session_id)} revoked.", "success")
    return _see_other("web.account")


@bp.post("/account/sessions/revoke-all")
@signed_in
def revoke_all_sessions() -> WerkzeugResponse:
    """Revoke every session of the account (apps included) and sign this browser out."""
    signed = current_account()
    assert signed is not None  # @signed_in refused anonymous requests
    ruuvi.revoke_all(signed.caller)
    db.session.commit()
    sign_out()
    flash("Every session of your account was revoked: you are signed out everywhere.", "info")
    return _see_other("web.signin")


@bp.post("/signout")
def signout() -> WerkzeugResponse:
    """Sign out: this browser's session is revoked, not just forgotten."""
    signed = current_account()
    if signed is not None:
        ruuvi.revoke_session(signed.caller, str(signed.caller.session_id))
        db.session.commit()
    sign_out()
    flash("Signed out.", "info")
    return _see_other("web.index")


# --- /hue -----------------------------------------------------------------------------------


@bp.get("/hue")
def hue_page() -> str:
    """``/hue``: link button state with the seconds left, and the whitelist."""
    now = now_s()
    pressed = hue.pressed_at()
    remaining = 0
    if pressed is not None and hue.link_button_open(now):
        remaining = max(0, pressed + hue.link_window() - now)
    account = current_account()
    # The paired apps' names and dates are the house's business: admins only.
    keys = None
    if account is not None and account.is_admin:
        keys = [
            {"key": key, "shown": key[:4] + "…", **entry} for key, entry in hue.whitelist().items()
        ]
    return render_template(
        "hue.html",
        link_open=remaining > 0,
        remaining=remaining,
        closes_at=(
            hue_time(pressed + hue.link_window()) if remaining and pressed is not None else None
        ),
        window=hue.link_window(),
        keys=keys,
    )


@bp.get("/events")
@admin_only
def events_page() -> str:
    """``/events``: the newest pairing events (admins only)."""
    return render_template("events.html", rows=events.recent(200))


@bp.post("/hue/press")
@admin_only
def hue_press() -> WerkzeugResponse:
    """Press the virtual link button (admins only)."""
    until = hue.press_link_button()
    db.session.commit()
    flash(f"Link button pressed: apps can pair until {hue_date(hue_time(until))}.", "success")
    return _see_other("web.hue_page")


@bp.post("/hue/close")
@admin_only
def hue_close() -> WerkzeugResponse:
    """Close the registration window now (admins only)."""
    hue.close_link_button()
    db.session.commit()
    flash("Link button released: registration is closed.", "info")
    return _see_other("web.hue_page")


@bp.post("/hue/revoke")
@admin_only
def hue_revoke() -> WerkzeugResponse:
    """Remove an application key from the whitelist (admins only)."""
    key = request.form.get("key", "")
    entry = hue.find_key(key)
    name = entry.name if entry is not None else None
    if not hue.delete_key(key):
        db.session.rollback()
        flash("That application is not whitelisted any more.", "error")
        return _see_other("web.hue_page")
    db.session.commit()
    flash(f"Revoked {name}: its key is refused from now on.", "success")
    return _see_other("web.hue_page")


# Each form page is one rule: GET shows the form, POST submits it.
add_resource(bp, ("/pair",), {"GET": pair, "POST": pair_submit}, slash=False)
add_resource(bp, ("/signin",), {"GET": signin, "POST": signin_submit}, slash=False)
add_resource(bp, ("/signin/code",), {"GET": signin_code, "POST": signin_code_submit}, slash=False)
