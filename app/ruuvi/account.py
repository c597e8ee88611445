"""The Ruuvi user API beyond sign-in, for an account that has no sensors.

homepair keeps no sensors, alerts, shares, subscriptions or firmware: each read answers what
Ruuvi's document gives an account without any (empty lists), each operation on a sensor
refuses with the document's error for a sensor the caller has no access to, and only the
account settings (``/settings``) are stored. Every input is checked first, so a malformed
request is a 400 whatever it names (Ruuvi's ``userapi/*.yaml`` list a 400 for each body).
Views call these and commit; a refusal is raised as :class:`~app.ruuvi.signin.Refused`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any, NoReturn

from flask import current_app
from sqlalchemy import func, select, update

from app.bodies import INVALID
from app.clock import now_s
from app.dbutil import affected, insert_ignore
from app.extensions import db
from app.ruuvi import contract
from app.ruuvi.contract import (
    ALERT_TYPES,
    EMAIL_MAX_LENGTH,
    EMAIL_RE,
    FETCH_MODES,
    MAC_PATTERN,
    PUSH_TYPES,
    SETTING_NAME_MAX,
    SETTING_VALUE_MAX,
    SETTINGS_MAX,
)
from app.ruuvi.models import RuuviSetting, RuuviUser
from app.ruuvi.signin import Refused

# fullmatch without the anchors: "$" would let a trailing "\n" by.
_MAC = re.compile(MAC_PATTERN.removeprefix("^").removesuffix("$"))
_FLAGS = ("sharedToOthers", "sharedToMe", "measurements", "alerts", "settings")
# A push registration id: 48 bits fit every JSON number reader exactly.
_PUSH_ID_BITS = 48


# --- inputs -----------------------------------------------------------------------------------


def _object(body: Any) -> dict:
    if body is INVALID or not isinstance(body, dict):
        raise Refused(contract.INVALID_JSON)
    return body


def _invalid(name: str) -> Refused:
    return Refused(contract.INVALID_FIELD.about(name))


def _sensor(value: Any) -> str:
    if isinstance(value, str) and _MAC.fullmatch(value):
        return value
    raise Refused(contract.NOT_A_MAC)


def _is_email(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= EMAIL_MAX_LENGTH
        and bool(EMAIL_RE.fullmatch(value))
    )


def _is_integer(value: Any) -> bool:
    # JSON Schema's integer: any number with no fractional part (1.0 included), never a boolean.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _optional(body: dict, name: str, valid: bool) -> None:
    if name in body and not valid:
        raise _invalid(name)


def _query_sensor(args: Mapping[str, str]) -> str | None:
    return None if "sensor" not in args else _sensor(args["sensor"])


def _query_flags(args: Mapping[str, str], names: tuple[str, ...]) -> None:
    for name in names:
        if name in args and args[name] not in ("true", "false"):
            raise _invalid(name)


# --- reads of an account with no sensors ----------------------------------------------------


def alerts(args: Mapping[str, str]) -> dict:
    """``GET /alerts``: no sensor has alerts; a named sensor is not the caller's (403)."""
    if _query_sensor(args) is not None:
        raise Refused(contract.FORBIDDEN)
    return {"sensors": []}


def sensor_settings(args: Mapping[str, str]) -> dict:
    """``GET /sensor-settings``: no sensor has settings; a named sensor is not found (404)."""
    if _query_sensor(args) is not None:
        raise Refused(contract.NOT_FOUND)
    return {"sensors": []}


def sensors_dense(args: Mapping[str, str]) -> dict:
    """``GET /sensors-dense``: no sensors, whatever the options.

    A ``sensor`` filter over no sensors leaves none: the document's 403 is for a sensor that
    exists but is someone else's, which homepair cannot know.
    """
    _query_sensor(args)
    _query_flags(args, _FLAGS)
    if "mode" in args and args["mode"] not in FETCH_MODES:
        raise _invalid("mode")
    return {"sensors": []}


def subscriptions() -> dict:
    """``GET /subscription``: the account never had a subscription."""
    return {"subscriptions": []}


def air_firmware() -> dict:
    """``GET /air_firmwareupdate``: homepair offers no firmware (no versions, no update)."""
    return {}


# --- operations on a sensor the caller does not have ------------------------------------------


def set_alert(body: Any) -> NoReturn:
    """``POST /alerts``: check the body, then refuse (403): the sensor is not the caller's."""
    fields = _object(body)
    _sensor(fields.get("sensor"))
    if fields.get("type") not in ALERT_TYPES:
        raise _invalid("type")
    _optional(fields, "enabled", isinstance(fields.get("enabled"), bool))
    for name in ("min", "max"):
        _optional(fields, name, _is_number(fields.get(name)))
    for name in ("counter", "delay", "timestamp"):
        _optional(fields, name, _is_integer(fields.get(name)))
    _optional(fields, "description", isinstance(fields.get("description"), str))
    raise Refused(contract.FORBIDDEN)


def set_sensor_setting(body: Any) -> NoReturn:
    """``POST /sensor-settings``: check the body, then refuse (404): no such sensor here."""
    fields = _object(body)
    _sensor(fields.get("sensor"))
    for name in ("value", "type"):
        listed = fields.get(name)
        if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
            raise _invalid(name)
    _optional(fields, "timestamp", _is_integer(fields.get("timestamp")))
    raise Refused(contract.NOT_FOUND)


def share(body: Any) -> NoReturn:
    """``POST /share``: check the body, then refuse (403): the caller owns no sensor."""
    fields = _object(body)
    _sensor(fields.get("sensor"))
    if not _is_email(fields.get("user")):
        raise Refused(contract.INVALID_SHARE_EMAIL)
    raise Refused(contract.FORBIDDEN)


def unshare(body: Any) -> NoReturn:
    """``POST /unshare``: check the body, then refuse (404): no share of it exists."""
    fields = _object(body)
    _sensor(fields.get("sensor"))
    if "user" in fields and not _is_email(fields["user"]):
        raise Refused(contract.INVALID_SHARE_EMAIL)
    raise Refused(contract.NOT_FOUND)


def claim_subscription(body: Any) -> NoReturn:
    """``POST /subscription``: homepair sells nothing, so every code is refused (400)."""
    code = _object(body).get("code")
    if not isinstance(code, str) or not code:
        raise Refused(contract.MISSING_CODE)
    raise Refused(contract.INVALID_CODE)


def push_register(user_id: int, body: Any) -> dict:
    """``POST /push-register``: accept the device, store nothing.

    homepair sends no push notifications (no sensors, so no alerts): the token is not kept.
    The answer's ``id`` is derived from the account and the token, so registering the same
    device again answers the same id.
    """
    fields = _object(body)
    for name in ("token", "name"):
        if not isinstance(fields.get(name), str):
            raise _invalid(name)
    if fields.get("type") not in PUSH_TYPES:
        raise _invalid("type")
    for name in ("data", "params"):
        _optional(fields, name, isinstance(fields.get(name), dict))
    key = current_app.config["SECRET_KEY"].encode("utf-8")
    seed = f"{user_id}:{fields['token']}".encode()
    digest = hmac.new(key, seed, hashlib.sha256).digest()
    push_id = int.from_bytes(digest[: _PUSH_ID_BITS // 8], "big")
    return {"id": push_id, "lastAccessed": now_s(), "name": fields["name"]}


# --- account settings -------------------------------------------------------------------------


def settings_of(user_id: int) -> dict:
    """``GET /settings``: the account's settings by name."""
    rows = db.session.execute(
        select(RuuviSetting.name, RuuviSetting.value)
        .where(RuuviSetting.user_id == user_id)
        .order_by(RuuviSetting.name)
    ).all()
    return {"settings": {row.name: row.value for row in rows}}


def _text(fields: dict, name: str, low: int, high: int) -> str:
    value = fields.get(name)
    # NUL: PostgreSQL refuses it in text.
    if not isinstance(value, str) or not low <= len(value) <= high or "\x00" in value:
        raise _invalid(name)
    return value


def set_setting(user_id: int, body: Any) -> dict:
    """``POST /settings`` ``{"name","value"}``: add or replace one setting of the account.

    At most :data:`SETTINGS_MAX` per account, names of 1 to 64 characters, values up to 1024.
    """
    fields = _object(body)
    name = _text(fields, "name", 1, SETTING_NAME_MAX)
    value = _text(fields, "value", 0, SETTING_VALUE_MAX)
    now = now_s()
    # The account row is the lock: concurrent new names cannot pass the bound together
    # (SQLite serializes writers anyway and ignores FOR UPDATE).
    db.session.execute(select(RuuviUser.id).where(RuuviUser.id == user_id).with_for_update())

    def replace() -> bool:
        changed = affected(
            update(RuuviSetting)
            .where(RuuviSetting.user_id == user_id, RuuviSetting.name == name)
            .values(value=value, updated_at=now)
        )
        return changed == 1

    if replace():
        return {"action": "updated"}
    count = db.session.execute(
        select(func.count()).select_from(RuuviSetting).where(RuuviSetting.user_id == user_id)
    ).scalar_one()
    if count >= SETTINGS_MAX:
        raise Refused(contract.TOO_MANY_SETTINGS)
    if insert_ignore(RuuviSetting, user_id=user_id, name=name, value=value, updated_at=now):
        return {"action": "added"}
    replace()  # another request added this name meanwhile: this write is the newer one
    return {"action": "updated"}
