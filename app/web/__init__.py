"""Web pages: pair a thermostat, sign in with an e-mailed code, press the Hue link button.

Server-rendered Jinja pages over the protocol services (no logic of their own beyond forms).
Every form carries a Flask-WTF CSRF token; the protocol blueprints are exempt, because their
clients (thermostats, Hue apps, Ruuvi Station) authenticate in their own ways and never send one.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, Flask, Request, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect  # type: ignore[import-untyped]

bp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets"
)
csrf = CSRFProtect()


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure`` decided per request.

    One server answers plain HTTP on the LAN and HTTPS behind nginx (``X-Forwarded-Proto``
    through ProxyFix with ``TRUSTED_PROXY_HOPS``), so a fixed setting would either leak the
    cookie over HTTP or break sign-in over plain HTTP.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        """``Secure`` when ``SESSION_COOKIE_SECURE`` forces it or this request is HTTPS."""
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Flask's session; a request without the cookie (every protocol client) gets a new
        empty one without building the signing serializer first (a fifth of a Hue answer's
        framework time went there)."""
        if app.secret_key and (
            "HTTP_COOKIE" not in request.environ
            or not request.cookies.get(self.get_cookie_name(app))
        ):
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask, exempt: Iterable[Blueprint] = ()) -> None:
    """Register the pages, CSRF protection (minus ``exempt``) and the session cookie rules."""
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.session_interface = SessionInterface()
    csrf.init_app(app)
    for blueprint in exempt:
        csrf.exempt(blueprint)
    app.register_blueprint(bp)
    app.cli.add_command(cli.admin)


from app.web import cli, errors, models, views  # noqa: E402,F401  (handlers, tables, routes, commands)
