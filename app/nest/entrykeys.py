"""Entry keys: the 7-character code a thermostat shows, issued once per pending pairing."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import bindparam, delete, select

from app.clock import now_ms
from app.codes import random_string
from app.dbutil import insert_ignore, run, table
from app.extensions import db
from app.nest.contract import ENTRY_ALPHABET, ENTRY_LENGTH, Msg
from app.nest.models import NestEntryKey, NestLastSent

ENTRY_TRIES = 20
_KEYS = table(NestEntryKey)
_LIVE_KEY = select(_KEYS.c.code, _KEYS.c.expires_at).where(
    _KEYS.c.serial == bindparam("serial"),
    _KEYS.c.claimed_by.is_(None),
    _KEYS.c.expires_at > bindparam("now"),
)
_FORGET_SENT = delete(table(NestLastSent)).where(
    table(NestLastSent).c.serial == bindparam("serial")
)
_SPENT_KEYS = delete(_KEYS).where(
    _KEYS.c.serial == bindparam("serial"),
    (_KEYS.c.claimed_by.is_not(None)) | (_KEYS.c.expires_at <= bindparam("now")),
)


def _new_code() -> str:
    return random_string(ENTRY_ALPHABET, ENTRY_LENGTH)


def _live_key(serial: str, now: int) -> tuple[str, int] | None:
    row = run(_LIVE_KEY, serial=serial, now=now).first()
    return (row.code, row.expires_at) if row is not None else None


def entry_key(serial: str, new_device: bool = False) -> tuple[str, int] | None:
    """The serial's live entry key as ``(code, expires_ms)``, issuing one if needed.

    None when no free code was found in 20 tries. Also clears the device's last-sent
    records: a device asking for a key is on its pairing screen and must be re-sent its
    owner buckets. ``new_device``: this transaction has just created the device row, so it
    has no keys or records yet (no other request can have written any: they wait for this
    transaction's row), and only the new key is written. The caller commits.
    """
    now = now_ms()
    if not new_device:
        run(_FORGET_SENT, serial=serial)
        key = _live_key(serial, now)
        if key is not None:
            return key
        # Older keys go; a live pending one that a concurrent poll just made stays, and the
        # pending-serial index then hands this request that key instead of a second one.
        run(_SPENT_KEYS, serial=serial, now=now)
    expires = now + current_app.config["NEST_ENTRY_KEY_TTL_SECONDS"] * 1000
    for _ in range(ENTRY_TRIES):
        code = _new_code()
        if insert_ignore(
            NestEntryKey, code=code, serial=serial, created_at=now, expires_at=expires
        ):
            return code, expires
        # Either the code is pending elsewhere, or a concurrent poll of this serial won.
        key = _live_key(serial, now)
        if key is not None:
            return key
    return None


def key_status(serial: str) -> dict:
    """The body of ``/nest/passphrase/status`` for the serial's newest key."""
    key = db.session.execute(
        select(NestEntryKey)
        .where(NestEntryKey.serial == serial)
        .order_by(NestEntryKey.created_at.desc(), NestEntryKey.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if key is None:
        return {
            "status": "no_key",
            "claimed": False,
            "message": Msg.NO_KEY,
        }
    if key.claimed_by is not None:
        return {
            "status": "claimed",
            "claimed": True,
            "claimedBy": key.claimed_by,
            "claimedAt": key.claimed_at,
        }
    return {"status": "pending", "claimed": False, "expiresAt": key.expires_at}
