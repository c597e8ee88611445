"""Claims and ownership: a claimed key makes its device the user's (§6, §7)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update

from app import events
from app.clock import now_ms
from app.dbutil import affected, insert_ignore, read, run, table
from app.extensions import db
from app.nest.buckets import bump_row, copies_of, write_computed
from app.nest.contract import CLAIM_CODE_PATTERN, MAX_USER_ID_LENGTH, Msg
from app.nest.identity import sanitize_serial
from app.nest.models import NestDevice, NestEntryKey, NestOwnership
from app.nest.owners import devices_of, forget_owner_buckets, owner_keys, owner_of
from app.pushhub import hub

_CODE_RE = re.compile(CLAIM_CODE_PATTERN)
_KEYS = table(NestEntryKey)
_LIVE_CODE = select(_KEYS.c.id, _KEYS.c.serial).where(
    _KEYS.c.code == bindparam("code"),
    _KEYS.c.claimed_by.is_(None),
    _KEYS.c.expires_at > bindparam("now"),
)
# The claim itself: of concurrent claims of one key exactly one UPDATE matches.
_TAKE_KEY = (
    update(_KEYS)
    .where(
        _KEYS.c.id == bindparam("p_id"),
        _KEYS.c.claimed_by.is_(None),
        _KEYS.c.expires_at > bindparam("p_now"),
    )
    .values(claimed_by=bindparam("p_user"), claimed_at=bindparam("p_now"))
)


class ClaimError(ValueError):
    """A malformed claim request; ``message`` is the control API's text."""


def possible_user_id(user_id: str) -> bool:
    """Whether a claim may name ``user_id``: at most 64 printable characters (row 6)."""
    return len(user_id) <= MAX_USER_ID_LENGTH and user_id.isprintable()


def validate_claim(body: Any) -> tuple[str, str]:
    """Rows 3–6 of the register table; returns ``(code, user_id)`` normalised."""
    if not isinstance(body, dict):
        raise ClaimError(Msg.INVALID_JSON)
    code, user_id = body.get("code"), body.get("userId")
    if code in (None, "") or user_id in (None, ""):
        raise ClaimError(Msg.MISSING_FIELDS)
    # Matched before upper-casing: "ı".upper() is "I", and keys are ASCII.
    if not isinstance(code, str) or not _CODE_RE.fullmatch(code.strip()):
        raise ClaimError(Msg.BAD_CODE)
    if not isinstance(user_id, str) or not possible_user_id(user_id):
        raise ClaimError(Msg.BAD_USER_ID)
    return code.strip().upper(), user_id


def claim(code: str, user_id: str) -> tuple[str | None, set[str]]:
    """Claim a live entry key for ``user_id`` (§6, steps 1–4).

    Returns ``(serial, serials_to_wake)``; serial is None when no live key matched or a
    concurrent claim won. The caller commits, then wakes.
    """
    now = now_ms()
    # Looked up outside any transaction: a wrong code (the common case under a guessing
    # flood) then costs one read and no rollback. The UPDATE below re-checks the key.
    found = read(_LIVE_CODE, code=code, now=now)
    if not found:
        return None, set()
    key = found[0]
    won = run(_TAKE_KEY, p_id=key.id, p_now=now, p_user=user_id).rowcount
    if won != 1:
        return None, set()
    serial = key.serial
    previous = owner_of(serial)
    if previous is None and not insert_ignore(
        NestOwnership, serial=serial, user_id=user_id, created_at=now
    ):
        previous = owner_of(serial)  # another worker created it first
    if previous is not None and previous != user_id:
        events.record("nest.ownership.transferred", serial=serial, old=previous, new=user_id)
        db.session.execute(
            update(NestOwnership)
            .where(NestOwnership.serial == serial)
            .values(user_id=user_id, created_at=now)
        )
        # The previous owner's buckets (and the serials of their other devices) leave this
        # device's store; it gets the new owner's below.
        forget_owner_buckets(serial, previous)
    user_key, structure_key = owner_keys(user_id)
    write_computed(serial, user_key, lambda old: {**(old or {}), "name": user_id}, now)
    devices = devices_of(user_id)
    write_computed(
        serial,
        structure_key,
        lambda old: {**(old if old is not None else {"name": "Home"}), "devices": devices},
        now,
    )
    wake = {serial}
    wake |= _sync_structures(user_id, exclude=serial, now=now)
    if previous is not None and previous != user_id:
        wake |= _sync_structures(previous, now=now)
    hub.publish_after_commit(wake)
    return serial, wake


def _sync_structures(user_id: str, exclude: str | None = None, now: int | None = None) -> set[str]:
    """Give each device of ``user_id`` the current ``devices`` list (write only if changed).

    One query reads every copy: a user with many devices must not cost a query per device
    on each claim.
    """
    devices = devices_of(user_id)
    key = owner_keys(user_id)[1]
    targets = [serial for serial in devices if serial != exclude]
    if not targets:
        return set(devices)
    now = now or now_ms()
    copies = copies_of(targets, key)
    for serial in targets:
        row = copies.get(serial)
        if row is None:
            write_computed(
                serial,
                key,
                lambda old: {**(old or {"name": "Home"}), "devices": devices},
                now,
                force=False,
            )
            continue
        old = json.loads(row.value)
        if old.get("devices") != devices:
            bump_row(serial, key, row, {**old, "devices": devices}, now)
    return set(devices)


def unregister(serial_text: str, user_id: str) -> tuple[bool, set[str]]:
    """Remove ``user_id``'s ownership of a device (§7.3); ``(deleted, serials_to_wake)``."""
    serial = sanitize_serial(serial_text)
    if serial is None or not possible_user_id(user_id):
        return False, set()
    removed = affected(
        delete(NestOwnership).where(
            NestOwnership.serial == serial, NestOwnership.user_id == user_id
        )
    )
    if not removed:
        return False, set()
    wake = _sync_structures(user_id) | {serial}
    hub.publish_after_commit(wake)
    return True, wake


# --- listings ------------------------------------------------------------------------------


def list_devices(
    user_id: str | None, held_count: Callable[[str], int], limit: int, offset: int = 0
) -> tuple[list[dict], int]:
    """A page of the known devices (or ``user_id``'s), newest first, then serial, for
    ``GET /api/devices``; returns ``(page, total)``."""
    if user_id is not None and not possible_user_id(user_id):
        return [], 0  # no claim can have made it an owner (and NUL would upset PostgreSQL)
    query = select(NestDevice, NestOwnership.user_id).outerjoin(
        NestOwnership, NestOwnership.serial == NestDevice.serial
    )
    if user_id is not None:
        query = query.where(NestOwnership.user_id == user_id)
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    query = query.order_by(NestDevice.created_at.desc(), NestDevice.serial)
    query = query.limit(limit).offset(offset)
    page = [
        {
            "serial": device.serial,
            "userId": owner,
            "paired": owner is not None,
            "lastSeen": device.last_seen,
            "subscriptions": held_count(device.serial),
            "createdAt": device.created_at,
        }
        for device, owner in db.session.execute(query)
    ]
    return page, total


def registered_devices(user_id: str) -> list[dict]:
    """``user_id``'s devices, newest ownership first."""
    if not possible_user_id(user_id):
        return []  # no claim can have made it an owner (and NUL would upset PostgreSQL)
    rows = db.session.execute(
        select(NestOwnership.serial, NestOwnership.created_at)
        .where(NestOwnership.user_id == user_id)
        .order_by(NestOwnership.created_at.desc(), NestOwnership.serial)
    )
    return [{"serial": serial, "createdAt": created} for serial, created in rows]
