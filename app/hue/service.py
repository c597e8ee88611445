"""Hue bridge v1 logic: registration, whitelist, link button, identity and config objects.

Views pass request data in and turn the returned objects into wire answers; the caller
commits. Every piece of state (whitelist, pairs, press time, generated MAC) is in the
database, so every worker, process and host gives the same answer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Integer, String, bindparam, cast, delete, select, update

from app import events
from app.bodies import INVALID
from app.clock import hue_time, now_s
from app.codes import random_string
from app.dbutil import affected, insert_ignore, read, run, table
from app.extensions import db
from app.hue.contract import (
    MAX_DEVICETYPE_BYTES,
    PHILIPS_OUI,
    USERNAME_ALPHABET,
    USERNAME_LENGTH,
    USERNAME_PATTERN,
    HueError,
    invalid_json,
    invalid_value,
    link_button_not_pressed,
    missing_parameters,
    not_available,
)
from app.hue.models import HueWhitelist, HueWhitelistPair
from app.models import Setting

PRESS_SETTING = "hue.link_pressed_at"
# Registrations taken since the last press; HUE_LINK_MAX_REGISTRATIONS caps them.
REGISTRATIONS_SETTING = "hue.link_registrations"
MAC_SETTING = "hue.mac"
_CLIENT_USERNAME = re.compile(USERNAME_PATTERN)
WHITELIST_DELETE = re.compile(r"config/whitelist/([^/]+)")


# --- link button ---------------------------------------------------------------------------


_SETTINGS = table(Setting)
_READ_SETTING = select(_SETTINGS.c.value).where(_SETTINGS.c.name == bindparam("name"))
_COUNT = cast(_SETTINGS.c.value, Integer)
# One slot of the press's cap, taken only while the count is below it (see below).
_TAKE_SLOT = (
    update(_SETTINGS)
    .where(_SETTINGS.c.name == REGISTRATIONS_SETTING, bindparam("cap") > _COUNT)
    .values(value=cast(_COUNT + 1, String))
)


def _read_setting(name: str) -> str | None:
    rows = read(_READ_SETTING, name=name)
    return rows[0].value if rows else None


def _write_setting(name: str, value: str) -> None:
    if not insert_ignore(Setting, name=name, value=value):
        db.session.execute(update(Setting).where(Setting.name == name).values(value=value))


def link_window() -> int:
    """``HUE_LINK_WINDOW_SECONDS``."""
    return current_app.config["HUE_LINK_WINDOW_SECONDS"]


def pressed_at() -> int | None:
    """When the link button was last pressed (epoch seconds), None if never or released."""
    raw = _read_setting(PRESS_SETTING)
    return None if raw is None else int(raw)


def link_button_open(now: int | None = None) -> bool:
    """True while press ≤ now < press + window (wall clock, epoch seconds)."""
    pressed = pressed_at()
    if pressed is None:
        return False
    now = now_s() if now is None else now
    return pressed <= now < pressed + link_window()


def press_link_button() -> int:
    """Open the registration window now; returns when it closes (epoch seconds).

    Registrations do not consume the press: up to ``HUE_LINK_MAX_REGISTRATIONS`` apps may
    pair before then. The caller commits.
    """
    now = now_s()
    _write_setting(PRESS_SETTING, str(now))
    _write_setting(REGISTRATIONS_SETTING, "0")
    events.record("hue.link_button.pressed", open_until=hue_time(now + link_window()))
    return now + link_window()


def _take_registration_slot() -> bool:
    """Count one registration against this press's cap; False when the cap is reached.

    A conditional UPDATE, so of simultaneous registrations on any worker or host exactly the
    cap's number succeed. The caller commits (or rolls back, returning the slot).
    """
    cap = current_app.config["HUE_LINK_MAX_REGISTRATIONS"]
    if run(_TAKE_SLOT, cap=cap).rowcount:
        return True
    # A press stored before the counter existed has no row yet: this is its first slot.
    return bool(insert_ignore(Setting, name=REGISTRATIONS_SETTING, value="1"))


def close_link_button() -> None:
    """Close the registration window at once. The caller commits."""
    db.session.execute(delete(Setting).where(Setting.name == PRESS_SETTING))


# --- identity ------------------------------------------------------------------------------


def bridge_mac() -> str:
    """``HUE_MAC``, else the MAC generated once (Philips prefix + 3 random bytes) and stored.

    Workers may race on the first request; the database keeps the first MAC written and
    everyone reads that one back.
    """
    configured = current_app.config["HUE_MAC"]
    if configured:
        return configured
    stored = _read_setting(MAC_SETTING)
    if stored is not None:
        return stored
    tail = ":".join(f"{b:02x}" for b in secrets.token_bytes(3))
    insert_ignore(Setting, name=MAC_SETTING, value=f"{PHILIPS_OUI}:{tail}")
    stored = _read_setting(MAC_SETTING)
    assert stored is not None  # the row exists now: ours, or a racing worker's
    return stored


def bridge_id(mac: str) -> str:
    """``00:17:88:4a:15:15`` → ``001788FFFE4A1515``."""
    digits = mac.replace(":", "")
    return (digits[:6] + "fffe" + digits[6:]).upper()


def short_config() -> dict:
    """The unauthenticated config (``GET /api/config``), keys in wire order."""
    mac = bridge_mac()
    return {
        "name": "homepair",
        "datastoreversion": "126",
        "swversion": "1967054020",
        "apiversion": "1.67.0",
        "mac": mac,
        "bridgeid": bridge_id(mac),
        "factorynew": False,
        "replacesbridgeid": None,
        "modelid": "BSB002",
        "starterkitid": "",
    }


def split_host(host: str) -> tuple[str, str | None]:
    """``Host`` header → (host part, port or None); IPv6 literals keep their brackets."""
    host = host.strip()
    if host.startswith("["):
        end = host.find("]")
        if end != -1:
            rest = host[end + 1 :]
            return host[: end + 1], rest[1:] if rest.startswith(":") and rest[1:] else None
        return host, None
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        return name, port
    return host, None


def full_config(host: str) -> dict:
    """The whitelisted config (``GET /api/<u>/config``): short config, then bridge details."""
    now = hue_time(now_s())
    ip = split_host(host)[0].strip("[]")
    return {
        **short_config(),
        "ipaddress": ip,
        "netmask": "255.255.255.0",
        "gateway": "0.0.0.0",
        "dhcp": True,
        "proxyaddress": "none",
        "proxyport": 0,
        "UTC": now,
        "localtime": now,
        "timezone": "Etc/UTC",
        "zigbeechannel": 15,
        # A real bridge's update, portal and backup state, as one that is offline from the
        # Hue cloud reports it (homepair has no cloud, updates or backups).
        "swupdate": {
            "updatestate": 0,
            "checkforupdate": False,
            "devicetypes": {"bridge": False, "lights": [], "sensors": []},
            "url": "",
            "text": "",
            "notify": False,
        },
        "swupdate2": {
            "checkforupdate": False,
            "lastchange": now,
            "bridge": {"state": "noupdates", "lastinstall": None},
            "state": "noupdates",
            "autoinstall": {"updatetime": "T14:00:00", "on": False},
        },
        "linkbutton": link_button_open(),
        "portalservices": False,
        "portalconnection": "disconnected",
        "portalstate": {
            "signedon": False,
            "incoming": False,
            "outgoing": False,
            "communication": "disconnected",
        },
        "internetservices": {
            "internet": "disconnected",
            "remoteaccess": "disconnected",
            "time": "disconnected",
            "swupdate": "disconnected",
        },
        "backup": {"status": "idle", "errorcode": 0},
        "whitelist": whitelist(),
    }


def full_state(host: str) -> dict:
    """``GET /api/<u>``: the config between empty collections."""
    return {
        "lights": {},
        "groups": {},
        "config": full_config(host),
        "schedules": {},
        "scenes": {},
        "rules": {},
        "sensors": {},
        "resourcelinks": {},
    }


# --- whitelist -----------------------------------------------------------------------------


def key_hash(username: str) -> str:
    """SHA-256 hex of a username, the column requests are matched on."""
    return hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()


def find_key(username: str) -> HueWhitelist | None:
    """The whitelist entry of ``username``, matched in constant time; None if unknown."""
    if not username or len(username) > USERNAME_LENGTH or not username.isascii():
        return None
    entry = db.session.execute(
        select(HueWhitelist).where(HueWhitelist.key_hash == key_hash(username))
    ).scalar_one_or_none()
    if entry is None or not hmac.compare_digest(entry.username.encode(), username.encode()):
        return None
    return entry


def authenticate(username: str) -> HueWhitelist | None:
    """The whitelisted entry for a path username, its last use date set to now.

    Written at most once per second per key (skipped when unchanged), and before the
    answer is built so the caller's own entry shows now. The caller commits.
    """
    entry = find_key(username)
    if entry is None:
        return None
    now = now_s()
    if entry.last_used_at < now:
        db.session.execute(
            update(HueWhitelist)
            .where(HueWhitelist.username == entry.username, HueWhitelist.last_used_at < now)
            .values(last_used_at=now)
        )
        # The bulk UPDATE does not touch the loaded object.
        entry.last_used_at = max(entry.last_used_at, now)
    return entry


def whitelist() -> dict:
    """``{key: {"last use date", "create date", "name"}}`` by create date, then key."""
    rows = db.session.execute(
        select(HueWhitelist).order_by(HueWhitelist.created_at, HueWhitelist.username)
    ).scalars()
    return {
        row.username: {
            "last use date": hue_time(row.last_used_at),
            "create date": hue_time(row.created_at),
            "name": row.name,
        }
        for row in rows
    }


def delete_key(key: str) -> bool:
    """Remove a key and all its pairs; False if it was not whitelisted. The caller commits."""
    entry = find_key(key)
    if entry is None:
        return False
    db.session.execute(delete(HueWhitelistPair).where(HueWhitelistPair.username == entry.username))
    removed = affected(delete(HueWhitelist).where(HueWhitelist.username == entry.username))
    if removed == 1:
        events.record("hue.app.revoked", app=entry.name, key=entry.username[:6] + "…")
    return removed == 1


# --- registration --------------------------------------------------------------------------


def registration_errors(body: Any) -> list[HueError]:
    """The validation errors of a ``POST /api`` body, in the spec's order (§2.1, steps 1–5)."""
    if body is INVALID or not isinstance(body, dict):
        return [invalid_json("/")]
    allow_username = current_app.config["HUE_ALLOW_CLIENT_USERNAME"]
    allowed = {"devicetype", "generateclientkey"} | ({"username"} if allow_username else set())
    errors = [not_available("/", key) for key in body if key not in allowed]
    if allow_username and "username" in body:
        username = body["username"]
        if not isinstance(username, str) or not _CLIENT_USERNAME.fullmatch(username):
            errors.append(invalid_value("/", "username", username))
    if "devicetype" not in body:
        errors.append(missing_parameters("/"))
    else:
        devicetype = body["devicetype"]
        if devicetype == "":
            errors.append(invalid_json("/"))
        elif (
            not isinstance(devicetype, str)
            or len(devicetype.encode("utf-8", "surrogatepass")) > MAX_DEVICETYPE_BYTES
            # NUL cannot be stored (PostgreSQL text refuses it), so it is no valid name.
            or "\x00" in devicetype
        ):
            errors.append(invalid_value("/", "devicetype", devicetype))
    if "generateclientkey" in body and not isinstance(body["generateclientkey"], bool):
        errors.append(invalid_value("/", "generateclientkey", body["generateclientkey"]))
    return errors


@dataclass
class Registered:
    """A registered app: its username, and its clientkey when this request created it."""

    username: str
    clientkey: str | None


class Refused(Exception):
    """``POST /api`` refused: the bridge's errors, in its order (type 101 alone)."""

    def __init__(self, errors: list[HueError]):
        super().__init__(errors)
        self.errors = errors


@dataclass
class Changed:
    """A config key taken: ``{path: value}`` in the success element."""

    path: str
    value: Any


def _new_username() -> str:
    return random_string(USERNAME_ALPHABET, USERNAME_LENGTH)


def _new_clientkey() -> str:
    return secrets.token_hex(16).upper()


def _create(username: str, devicetype: str, clientkey: str | None, now: int) -> bool:
    """Insert a whitelist entry; False when the username exists already."""
    return bool(
        insert_ignore(
            HueWhitelist,
            username=username,
            key_hash=key_hash(username),
            name=devicetype,
            created_at=now,
            last_used_at=now,
            clientkey=clientkey,
        )
    )


def _register(username: str | None, devicetype: str, want_clientkey: bool) -> Registered:
    now = now_s()
    clientkey = _new_clientkey() if want_clientkey else None
    if username is None:
        # A new key on every call; a collision among 62**40 keys only costs a retry.
        username = _new_username()
        while not _create(username, devicetype, clientkey, now):
            username = _new_username()
    elif not _create(username, devicetype, clientkey, now):
        # The key exists: it may be another app's. Its name and clientkey stay its own, so a
        # caller learns nothing it did not send and changes nothing but the pairs it adds.
        clientkey = None
    insert_ignore(HueWhitelistPair, username=username, devicetype=devicetype, created_at=now)
    return Registered(username, clientkey)


def register(body: Any) -> Registered:
    """``POST /api``: register an app; raises :class:`Refused` with the bridge's errors (or
    type 101). The caller commits."""
    errors = registration_errors(body)
    if errors:
        raise Refused(errors)
    if not link_button_open():
        raise Refused([link_button_not_pressed()])
    allow_username = current_app.config["HUE_ALLOW_CLIENT_USERNAME"]
    username = body.get("username") if allow_username else None
    registered = _register(username, body["devicetype"], body.get("generateclientkey") is True)
    # The slot last: its UPDATE locks the press's one counter row until the commit, so on
    # PostgreSQL concurrent registrations queue only for that UPDATE and the commit, not for
    # the inserts too. Refused, the caller rolls the inserts back with it.
    if not _take_registration_slot():
        # A full window answers like a closed one: press the button again for more apps.
        raise Refused([link_button_not_pressed()])
    events.record("hue.app.registered", app=body["devicetype"], key=registered.username[:6] + "…")
    return registered


# --- config updates ------------------------------------------------------------------------


def update_config(body: Any) -> list[HueError | Changed]:
    """``PUT /api/<u>/config``: one result per key, in body order. The caller commits."""
    if body is INVALID or not isinstance(body, dict):
        return [invalid_json("/config")]
    if not body:
        return [missing_parameters("/config")]
    results: list[HueError | Changed] = []
    for key, value in body.items():
        if key != "linkbutton":
            results.append(not_available("/config", key))
        elif value is True:
            press_link_button()
            results.append(Changed("/config/linkbutton", True))
        elif value is False:
            close_link_button()
            results.append(Changed("/config/linkbutton", False))
        else:
            results.append(invalid_value("/config", "linkbutton", value))
    return results
