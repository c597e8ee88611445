"""The pages' forms (Flask-WTF: each renders and checks its CSRF token).

Buttons that only act (press, revoke, sign out) are plain forms with the token from
``csrf_token()``; ``CSRFProtect`` checks every POST before its view runs.

Fields carry no WTForms validators on purpose: the protocol services check the values, so a
page shows exactly the message the API would answer. Browser hints (``required``,
``autocomplete``…) only help people type.
"""

from __future__ import annotations

import re

from flask_wtf import FlaskForm  # type: ignore[import-untyped]
from wtforms import EmailField, PasswordField, StringField  # type: ignore[import-untyped]

_SPACES = re.compile(r"\s+")


def normalise_entry_code(text: str | None) -> str:
    """An entry code as people type it → the 7 characters the Nest service expects.

    Spaces go, one dash between characters goes, letters are upper-cased: ``a3x-r7m2`` and
    ``A3X R7M2`` become ``A3XR7M2``. Anything else is left for the service to refuse.
    """
    code = _SPACES.sub("", text or "").upper()
    head, dash, tail = code.partition("-")
    if dash and head and tail and "-" not in tail:
        code = head + tail
    return code


class PairForm(FlaskForm):
    """``/pair``: the code on the thermostat's screen and the user to register it to."""

    code = StringField(
        "Entry code",
        description="The 7 characters on the thermostat's screen, for example A3X-R7M2.",
        render_kw={
            "autocomplete": "off",
            "autocapitalize": "characters",
            "spellcheck": "false",
            "maxlength": 20,
            "required": True,
        },
    )
    user = StringField(
        "Register to user",
        description="The Nest user that will own the thermostat.",
        render_kw={"autocomplete": "off", "spellcheck": "false", "maxlength": 254},
    )
    token = PasswordField(
        "Control token",
        description="This server requires its NEST_CONTROL_TOKEN for pairing.",
        render_kw={"autocomplete": "off"},
    )


class EmailForm(FlaskForm):
    """``/signin``, step 1: the address to e-mail a code to."""

    email = EmailField(
        "E-mail address",
        description="We e-mail you a 4-character code.",
        render_kw={"autocomplete": "email", "required": True, "maxlength": 254},
    )


class CodeForm(FlaskForm):
    """``/signin/code``, step 2: the code from the e-mail."""

    code = StringField(
        "Code from the e-mail",
        description="4 letters or digits; not case-sensitive.",
        render_kw={
            "autocomplete": "one-time-code",
            "autocapitalize": "characters",
            "spellcheck": "false",
            "maxlength": 8,
            "required": True,
        },
    )
