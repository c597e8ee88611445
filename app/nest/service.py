"""Nest logic: device identity, entry keys, buckets, subscribe/put rules, claims.

Views call these functions and turn their results into wire answers. Everything that must
survive a restart is in the database; callers commit, then publish wake-ups.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select, update

from app import events
from app.clock import now_ms
from app.dbutil import insert_ignore, insert_ignore_many
from app.extensions import db
from app.nest.models import NestBucket, NestDevice, NestEntryKey, NestLastSent, NestOwnership
from app.pushhub import hub

ENTRY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
ENTRY_LENGTH = 7
ENTRY_TRIES = 20
MAX_HELD_PER_DEVICE = 100
# Storage per device is bounded: the firmware knows 28 bucket types (a few with several
# instances) and its largest value, the device bucket, has ~200 fields.
MAX_BUCKETS_PER_DEVICE = 512
MAX_VALUE_BYTES = 64 * 1024
BATCH_WINDOW_SECONDS = 3.0
MAX_KEY_LENGTH = 255
# Serials are stored in 64-character columns; real ones have 16 or 17 characters.
MIN_SERIAL_LENGTH = 10
MAX_SERIAL_LENGTH = 64
# A serial after sanitizing; the OpenAPI document and the schemas use this same pattern.
SERIAL_PATTERN = rf"^[A-Z0-9]{{{MIN_SERIAL_LENGTH},{MAX_SERIAL_LENGTH}}}$"
# Listed revisions and timestamps outside JSON's exact integer range (I-JSON) count as 0
# like non-integers: the store holds 64-bit integers, and a server write adds 1 to them.
MAX_WIRE_INT = 2**53 - 1
MAX_USER_ID_LENGTH = 64
BUCKET_TYPES = frozenset(
    [
        "device",
        "shared",
        "structure",
        "schedule",
        "custom_schedule",
        "user",
        "topaz",
        "demand_response",
        "demand_response_event",
        "where",
        "kryptonite",
        "diagnostics",
        "device_alert_dialog",
        "servicegroup",
        "link",
        "message",
        "tuneups",
        "utility",
        "diamond_sensor_config",
        "diamond_sensor_event",
        "rate_plan",
        "tou",
        "demand_charge",
        "demand_charge_event",
        "hvac_partner",
        "rcs_settings",
        "cloud_algo",
        "occupancy",
    ]
)
# A pushed value with one of these makes the firmware act at once rather than defer.
TARGET_FIELDS = (
    "target_temperature",
    "target_temperature_high",
    "target_temperature_low",
    "target_temperature_type",
    "hvac_mode",
)
_CODE_RE = re.compile(r"[A-Z0-9]{7}")
_NOT_SERIAL = re.compile(r"[^A-Za-z0-9]")
SERIAL_PATH_RE = re.compile(r"[A-Za-z0-9_-]+")
_SERIAL_RE = re.compile(SERIAL_PATTERN)


# --- identity ------------------------------------------------------------------------------


def _dot_rule(text: str) -> str:
    if "." in text:
        parts = text.split(".")
        return parts[1] or parts[0]
    return text


def sanitize_serial(text: str) -> str | None:
    """Keep ``[A-Za-z0-9]``, upper-case; None unless it then matches :data:`SERIAL_PATTERN`
    (10 to 64 characters)."""
    serial = _NOT_SERIAL.sub("", text).upper()
    return serial if _SERIAL_RE.match(serial) else None


def _basic_username(header: str) -> str | None:
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if ":" not in decoded:
        return None
    return _dot_rule(decoded.split(":", 1)[0])


def identify_serial(headers, args, path_serial: str | None = None) -> str | None:
    """The device serial from the request, by the spec's ordered sources (§2)."""
    candidates: list[str | None] = []
    auth = headers.get("Authorization")
    candidates.append(_basic_username(auth) if auth else None)
    client_id = headers.get("X-nl-client-id")
    candidates.append(_dot_rule(client_id) if client_id else None)
    candidates.append(headers.get("X-nl-device-id"))
    candidates.append(headers.get("X-NL-Device-Serial"))
    candidates.append(args.get("serial"))
    candidates.append(path_serial)
    for candidate in candidates:
        if candidate:
            serial = sanitize_serial(candidate)
            if serial:
                return serial
    return None


def touch_device(serial: str, before_create: Callable[[], None] | None = None) -> None:
    """Record that ``serial`` was seen now (first sight sets ``createdAt``).

    ``before_create`` runs before a new device row is written (the new-device budget; it
    raises to refuse).
    """
    now = now_ms()
    last_seen = db.session.execute(
        select(NestDevice.last_seen).where(NestDevice.serial == serial)
    ).scalar_one_or_none()
    if last_seen is None:
        if before_create is not None:
            before_create()
        if insert_ignore(NestDevice, serial=serial, created_at=now, last_seen=now):
            return
    elif last_seen >= now - now % 1000:
        return  # at most one write per second per device
    db.session.execute(
        update(NestDevice)
        .where(NestDevice.serial == serial, NestDevice.last_seen < now - now % 1000)
        .values(last_seen=now)
    )


# --- entry keys ----------------------------------------------------------------------------


def _new_code() -> str:
    return "".join(secrets.choice(ENTRY_ALPHABET) for _ in range(ENTRY_LENGTH))


def _live_key(serial: str, now: int) -> NestEntryKey | None:
    return db.session.execute(
        select(NestEntryKey).where(
            NestEntryKey.serial == serial,
            NestEntryKey.claimed_by.is_(None),
            NestEntryKey.expires_at > now,
        )
    ).scalar_one_or_none()


def entry_key(serial: str) -> tuple[str, int] | None:
    """The serial's live entry key as ``(code, expires_ms)``, issuing one if needed.

    None when no free code was found in 20 tries. Also clears the device's last-sent
    records: a device asking for a key is on its pairing screen and must be re-sent its
    owner buckets. The caller commits.
    """
    now = now_ms()
    db.session.execute(delete(NestLastSent).where(NestLastSent.serial == serial))
    key = _live_key(serial, now)
    if key is not None:
        return key.code, key.expires_at
    # Older keys go; a live pending one that a concurrent poll just made stays, and the
    # pending-serial index then hands this request that key instead of a second one.
    db.session.execute(
        delete(NestEntryKey).where(
            NestEntryKey.serial == serial,
            (NestEntryKey.claimed_by.is_not(None)) | (NestEntryKey.expires_at <= now),
        )
    )
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
            return key.code, key.expires_at
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
            "message": "No entry key found for this device",
        }
    if key.claimed_by is not None:
        return {
            "status": "claimed",
            "claimed": True,
            "claimedBy": key.claimed_by,
            "claimedAt": key.claimed_at,
        }
    return {"status": "pending", "claimed": False, "expiresAt": key.expires_at}


# --- buckets -------------------------------------------------------------------------------


def dumps(value: dict) -> str:
    """Bucket value as stored: compact JSON text, key order kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def wire(bucket: NestBucket, with_value: bool = True) -> dict:
    """A bucket in wire order (object_revision, object_timestamp, object_key, value)."""
    item: dict[str, Any] = {
        "object_revision": bucket.object_revision,
        "object_timestamp": bucket.object_timestamp,
        "object_key": bucket.object_key,
    }
    if with_value:
        item["value"] = json.loads(bucket.value)
    return item


def _get_bucket(serial: str, key: str) -> NestBucket | None:
    return db.session.execute(
        select(NestBucket)
        .where(NestBucket.serial == serial, NestBucket.object_key == key)
        .with_for_update()
    ).scalar_one_or_none()


def _bucket_for_write(
    serial: str, key: str, initial: dict, now: int | None = None
) -> tuple[NestBucket, bool]:
    """The bucket, created with ``initial`` at revision 1 if missing; (bucket, created)."""
    bucket = _get_bucket(serial, key)
    if bucket is not None:
        return bucket, False
    now = now or now_ms()
    created = insert_ignore(
        NestBucket,
        serial=serial,
        object_key=key,
        object_revision=1,
        object_timestamp=now,
        value=dumps(initial),
    )
    return _get_bucket(serial, key), bool(created)


def server_write(
    serial: str, key: str, value: dict, force: bool = False, now: int | None = None
) -> NestBucket:
    """Store ``value`` as a server write: rev + 1, ts = max(now, old ts + 1).

    Unchanged values keep their version unless ``force`` (re-pairing re-sends buckets).
    One claim passes one ``now`` so the buckets it writes share a timestamp.
    """
    now = now or now_ms()
    bucket, created = _bucket_for_write(serial, key, value, now)
    if created:
        return bucket
    if force or json.loads(bucket.value) != value:
        _bump(bucket, value, now)
    return bucket


def _bump(bucket: NestBucket, value: dict, now: int) -> None:
    """A server write of an existing bucket: rev + 1, ts = max(now, old ts + 1)."""
    bucket.object_revision += 1
    bucket.object_timestamp = max(now, bucket.object_timestamp + 1)
    bucket.value = dumps(value)


def _value(bucket: NestBucket | None) -> dict:
    return json.loads(bucket.value) if bucket is not None else {}


class TooManyObjects(ValueError):
    """A subscribe or put lists more objects than ``NEST_MAX_OBJECTS_PER_REQUEST``."""


class Buckets:
    """The buckets of one device that one request touches: read in one statement (locked
    for the transaction), written in bulk (new rows in one INSERT, changed rows in the
    session's batched UPDATE at commit). Bounded: new buckets stop at
    ``MAX_BUCKETS_PER_DEVICE`` per device and a value over ``MAX_VALUE_BYTES`` is refused.
    """

    def __init__(self, serial: str, keys: Iterable[str]):
        self.serial = serial
        keys = sorted(set(keys))
        self.rows: dict[str, NestBucket] = {}
        if keys:
            self.rows = {
                bucket.object_key: bucket
                for bucket in db.session.execute(
                    select(NestBucket)
                    .where(NestBucket.serial == serial, NestBucket.object_key.in_(keys))
                    .with_for_update()
                ).scalars()
            }
        self.new: dict[str, NestBucket] = {}
        self._room: int | None = None

    def get(self, key: str) -> NestBucket | None:
        """The bucket as this request sees it (stored, or created by it), or None."""
        return self.rows.get(key) or self.new.get(key)

    def create(self, key: str, revision: int, timestamp: int, text: str) -> NestBucket | None:
        """A new bucket, or None when the device has no room for another one."""
        if self._room is None:
            stored = db.session.execute(
                select(func.count()).select_from(NestBucket).where(NestBucket.serial == self.serial)
            ).scalar_one()
            self._room = MAX_BUCKETS_PER_DEVICE - stored
        if self._room <= 0:
            return None
        self._room -= 1
        bucket = NestBucket(
            serial=self.serial,
            object_key=key,
            object_revision=revision,
            object_timestamp=timestamp,
            value=text,
        )
        self.new[key] = bucket
        return bucket

    def server_write(self, key: str, value: dict, now: int) -> NestBucket | None:
        """:func:`server_write` within this set; None if refused (no room, value too big)."""
        text = dumps(value)
        if len(text.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
            return None
        bucket = self.get(key)
        if bucket is None:
            return self.create(key, 1, now, text)
        if json.loads(bucket.value) != value:
            _bump(bucket, value, now)
        return bucket

    def device_write(self, key: str, revision: int, timestamp: int, value: dict) -> None:
        """Take a newer value from the device with its own revision and timestamp."""
        bucket = self.get(key)
        text = dumps({**_value(bucket), **value})
        if len(text.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
            return
        if bucket is None:
            self.create(key, revision, timestamp, text)
            return
        bucket.object_revision = revision
        bucket.object_timestamp = timestamp
        bucket.value = text

    def flush(self) -> None:
        """Insert the new buckets in one statement (a concurrent writer's row wins)."""
        if self.new:
            insert_ignore_many(
                NestBucket,
                [
                    {
                        "serial": b.serial,
                        "object_key": b.object_key,
                        "object_revision": b.object_revision,
                        "object_timestamp": b.object_timestamp,
                        "value": b.value,
                    }
                    for b in self.new.values()
                ],
            )
            self.new = {}


def check_object_count(count: int) -> None:
    """Refuse a request listing more objects than ``NEST_MAX_OBJECTS_PER_REQUEST``."""
    cap = current_app.config["NEST_MAX_OBJECTS_PER_REQUEST"]
    if count > cap:
        raise TooManyObjects(f"Too many objects: at most {cap} per request")


# --- owners --------------------------------------------------------------------------------


def structure_id(user_id: str) -> str:
    """``user_`` prefix dropped; the user id itself if that leaves nothing."""
    stripped = user_id[5:] if user_id.startswith("user_") else user_id
    return stripped or user_id


def owner_keys(user_id: str) -> tuple[str, str]:
    """The owner bucket keys of a device owned by ``user_id``: user first, then structure."""
    return f"user.{user_id}", f"structure.{structure_id(user_id)}"


def owner_of(serial: str) -> str | None:
    """The user owning ``serial``, if any."""
    return db.session.execute(
        select(NestOwnership.user_id).where(NestOwnership.serial == serial)
    ).scalar_one_or_none()


def devices_of(user_id: str) -> list[str]:
    """Serials ``user_id`` owns, by ownership creation, then serial."""
    return list(
        db.session.execute(
            select(NestOwnership.serial)
            .where(NestOwnership.user_id == user_id)
            .order_by(NestOwnership.created_at, NestOwnership.serial)
        ).scalars()
    )


def _initial_owner_value(key: str, user_id: str) -> dict:
    if key.startswith("user."):
        return {"name": user_id}
    return {"name": "Home", "devices": devices_of(user_id)}


def last_sent(serial: str) -> dict[str, int]:
    """The device's last-sent records as ``{object_key: ts}``."""
    rows = db.session.execute(
        select(NestLastSent.object_key, NestLastSent.object_timestamp).where(
            NestLastSent.serial == serial
        )
    )
    return {key: ts for key, ts in rows}


def record_sent(serial: str, items: list[dict], user_id: str | None = None) -> None:
    """Raise the last-sent record of each owner bucket in ``items``.

    ``user_id`` is the owner when the caller just read it (saves a query).
    """
    if not items:
        return
    user_id = user_id or owner_of(serial)
    if user_id is None:
        return
    keys = owner_keys(user_id)
    for item in items:
        key, ts = item["object_key"], item["object_timestamp"]
        if key not in keys:
            continue
        if not insert_ignore(NestLastSent, serial=serial, object_key=key, object_timestamp=ts):
            db.session.execute(
                update(NestLastSent)
                .where(
                    NestLastSent.serial == serial,
                    NestLastSent.object_key == key,
                    NestLastSent.object_timestamp < ts,
                )
                .values(object_timestamp=ts)
            )


# --- subscribe -----------------------------------------------------------------------------


@dataclass
class Listed:
    """A bucket the device listed in its subscribe."""

    key: str
    revision: int
    timestamp: int
    value: dict | None


def _as_int(raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) <= MAX_WIRE_INT:
        return raw
    return 0


def valid_key(key: Any) -> bool:
    """An object key the store can hold: a non-empty string of at most 255 characters
    without NUL (PostgreSQL text cannot hold it); other keys are skipped like malformed ones."""
    return isinstance(key, str) and 0 < len(key) <= MAX_KEY_LENGTH and "\x00" not in key


def _entries(body: dict) -> list:
    objects = body.get("objects")
    if isinstance(objects, list):
        return objects
    return [
        v
        for k, v in body.items()
        if k in BUCKET_TYPES and isinstance(v, dict) and "object_key" in v
    ]


def parse_listed(body: dict) -> list[Listed]:
    """The buckets a subscribe body lists, in request order (§4.1).

    Raises :class:`TooManyObjects` beyond ``NEST_MAX_OBJECTS_PER_REQUEST``.
    """
    listed = []
    entries = _entries(body)
    check_object_count(len(entries))
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        key = entry.get("object_key")
        if not valid_key(key):
            continue
        value = entry.get("value")
        listed.append(
            Listed(
                key,
                _as_int(entry.get("object_revision")),
                _as_int(entry.get("object_timestamp")),
                value if isinstance(value, dict) else None,
            )
        )
    return listed


@dataclass
class Subscription:
    """What one subscribe request knows: the basis for deciding what is new to it."""

    serial: str
    listed: list[Listed]
    # Owner-bucket timestamps this connection is known to have: listed ts, else the
    # last-sent snapshot taken when the request began, raised by what it sent.
    known: dict[str, int] = field(default_factory=dict)
    # The owner as last read by immediate() or updates().
    owner: str | None = None

    def __post_init__(self):
        self.known = last_sent(self.serial)
        self.known.update({item.key: item.timestamp for item in self.listed})

    def immediate(self) -> list[dict]:
        """Apply §4.2 to the listed buckets, then the owner rule; the objects to send now.

        Every listed bucket and both owner buckets are read in one statement; new ones are
        inserted in one more.
        """
        user_id = self.owner = owner_of(self.serial)
        owner = owner_keys(user_id) if user_id is not None else ()
        buckets = Buckets(self.serial, [item.key for item in self.listed] + list(owner))
        now = now_ms()
        send = [self._apply(buckets, item, now) for item in self.listed]
        listed_keys = {item.key for item in self.listed}
        for key in owner:
            if key in listed_keys:
                continue
            bucket = buckets.get(key) or buckets.create(
                key, 1, now, dumps(_initial_owner_value(key, user_id))
            )
            if bucket is not None and bucket.object_timestamp > self.known.get(key, 0):
                send.append(bucket)
        buckets.flush()
        out = [wire(bucket) for bucket in send if bucket is not None]
        self.sent(out)
        return out

    def _apply(self, buckets: Buckets, item: Listed, now: int) -> NestBucket | None:
        stored = buckets.get(item.key)
        if item.value is not None and item.revision == 0 and item.timestamp == 0:
            return buckets.server_write(item.key, {**_value(stored), **item.value}, now)
        if (
            stored is not None
            and stored.object_timestamp > 0
            and (item.timestamp == 0 or stored.object_timestamp > item.timestamp)
        ):
            return stored
        if item.value is not None and item.timestamp > (stored.object_timestamp if stored else 0):
            buckets.device_write(item.key, item.revision, item.timestamp, item.value)
        return None

    def updates(self) -> list[dict]:
        """Owner buckets newer than this connection knows (after a wake-up)."""
        self.owner = owner_of(self.serial)
        if self.owner is None:
            return []
        keys = owner_keys(self.owner)
        buckets = {
            bucket.object_key: bucket
            for bucket in db.session.execute(
                select(NestBucket).where(
                    NestBucket.serial == self.serial, NestBucket.object_key.in_(keys)
                )
            ).scalars()
        }
        out = [
            wire(buckets[key])
            for key in keys
            if key in buckets and buckets[key].object_timestamp > self.known.get(key, 0)
        ]
        self.sent(out)
        return out

    def record(self, items: list[dict]) -> None:
        """After ``items`` were written to the device: raise its last-sent records."""
        record_sent(self.serial, items, self.owner)
        if self.owner is not None and owner_keys(self.owner)[0] in (
            item["object_key"] for item in items
        ):
            # The owner's user bucket reached the device: its pairing screen goes away.
            events.record("nest.device.paired", serial=self.serial, user=self.owner)

    def sent(self, items: list[dict]) -> None:
        """Note what this connection is about to have (raises ``known``)."""
        for item in items:
            key, ts = item["object_key"], item["object_timestamp"]
            if ts > self.known.get(key, 0):
                self.known[key] = ts


def wants_immediate_action(items: list[dict]) -> bool:
    """True when a sent value carries a target temperature or HVAC mode."""
    return any(
        isinstance(i.get("value"), dict) and any(f in i["value"] for f in TARGET_FIELDS)
        for i in items
    )


# --- put -----------------------------------------------------------------------------------

_PUT_META = ("object_key", "base_object_revision", "if_object_revision")


def _put_entries(body: dict) -> list[tuple[Any, Any, Any]]:
    """``(object_key, value, if_object_revision)`` per object, in order."""
    objects = body.get("objects")
    if isinstance(objects, list):
        return [
            (o.get("object_key"), o.get("value"), o.get("if_object_revision"))
            for o in objects
            if isinstance(o, dict)
        ]
    out = []
    for name, obj in body.items():
        if name == "session" or not isinstance(obj, dict) or "object_key" not in obj:
            continue
        value = {k: v for k, v in obj.items() if k not in _PUT_META}
        out.append((obj.get("object_key"), value, obj.get("if_object_revision")))
    return out


def put(serial: str, body: dict) -> list[dict]:
    """Apply a put (§5); the response items (never the value). The caller commits.

    Raises :class:`TooManyObjects` beyond ``NEST_MAX_OBJECTS_PER_REQUEST``. Every listed
    bucket is read in one statement and new ones inserted in one more.
    """
    entries = _put_entries(body)
    check_object_count(len(entries))
    entries = [
        (key, value, if_revision)
        for key, value, if_revision in entries
        if valid_key(key) and isinstance(value, dict) and value
    ]
    buckets = Buckets(serial, [key for key, _, _ in entries])
    now = now_ms()
    items = []
    for key, value, if_revision in entries:
        stored = buckets.get(key)
        if if_revision is not None and if_revision != (stored.object_revision if stored else 0):
            items.append(
                {
                    "object_revision": stored.object_revision if stored else 0,
                    "object_timestamp": stored.object_timestamp if stored else 0,
                    "object_key": key,
                }
            )
            continue
        bucket = buckets.server_write(key, {**_value(stored), **value}, now)
        if bucket is not None:
            items.append(wire(bucket, with_value=False))
    buckets.flush()
    record_sent(serial, items)
    return items


# --- claims and ownership ------------------------------------------------------------------


class ClaimError(ValueError):
    """A malformed claim request; ``message`` is the control API's text."""


def possible_user_id(user_id: str) -> bool:
    """Whether a claim may name ``user_id``: at most 64 printable characters (row 6)."""
    return len(user_id) <= MAX_USER_ID_LENGTH and user_id.isprintable()


def validate_claim(body: Any) -> tuple[str, str]:
    """Rows 3–6 of the register table; returns ``(code, user_id)`` normalised."""
    if not isinstance(body, dict):
        raise ClaimError("Invalid JSON")
    code, user_id = body.get("code"), body.get("userId")
    if code in (None, "") or user_id in (None, ""):
        raise ClaimError("Missing required fields: code, userId")
    if not isinstance(code, str) or not _CODE_RE.fullmatch(code.strip().upper()):
        raise ClaimError("Invalid entry code format. Must be exactly 7 alphanumeric characters.")
    if not isinstance(user_id, str) or not possible_user_id(user_id):
        raise ClaimError("Invalid userId")
    return code.strip().upper(), user_id


def claim(code: str, user_id: str) -> tuple[str | None, set[str]]:
    """Claim a live entry key for ``user_id`` (§6, steps 1–4).

    Returns ``(serial, serials_to_wake)``; serial is None when no live key matched or a
    concurrent claim won. The caller commits, then wakes.
    """
    now = now_ms()
    key = db.session.execute(
        select(NestEntryKey.id, NestEntryKey.serial).where(
            NestEntryKey.code == code,
            NestEntryKey.claimed_by.is_(None),
            NestEntryKey.expires_at > now,
        )
    ).first()
    if key is None:
        return None, set()
    won = db.session.execute(
        update(NestEntryKey)
        .where(
            NestEntryKey.id == key.id,
            NestEntryKey.claimed_by.is_(None),
            NestEntryKey.expires_at > now,
        )
        .values(claimed_by=user_id, claimed_at=now)
    ).rowcount
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
    user_key, structure_key = owner_keys(user_id)
    user_value = {**_value(_get_bucket(serial, user_key)), "name": user_id}
    server_write(serial, user_key, user_value, force=True, now=now)
    devices = devices_of(user_id)
    current = _get_bucket(serial, structure_key)
    base = _value(current) if current is not None else {"name": "Home"}
    server_write(serial, structure_key, {**base, "devices": devices}, force=True, now=now)
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
    copies = {
        bucket.serial: bucket
        for bucket in db.session.execute(
            select(NestBucket)
            .where(NestBucket.serial.in_(targets), NestBucket.object_key == key)
            .with_for_update()
        ).scalars()
    }
    for serial in targets:
        bucket = copies.get(serial)
        if bucket is None:
            server_write(serial, key, {"name": "Home", "devices": devices}, now=now)
            continue
        old = json.loads(bucket.value)
        if old.get("devices") != devices:
            _bump(bucket, {**old, "devices": devices}, now)
    return set(devices)


def unregister(serial_text: str, user_id: str) -> tuple[bool, set[str]]:
    """Remove ``user_id``'s ownership of a device (§7.3); ``(deleted, serials_to_wake)``."""
    serial = sanitize_serial(serial_text)
    if serial is None or not possible_user_id(user_id):
        return False, set()
    removed = db.session.execute(
        delete(NestOwnership).where(
            NestOwnership.serial == serial, NestOwnership.user_id == user_id
        )
    ).rowcount
    if not removed:
        return False, set()
    wake = _sync_structures(user_id) | {serial}
    hub.publish_after_commit(wake)
    return True, wake


# --- listings ------------------------------------------------------------------------------


def list_devices(
    user_id: str | None, held_count, limit: int, offset: int = 0
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


# --- housekeeping --------------------------------------------------------------------------


def sweep(max_age_s: int, now: int | None = None) -> tuple[int, int]:
    """Delete what no one will ask for again; ``(devices, keys)`` deleted. The caller commits.

    Devices that never paired and were not seen for ``max_age_s`` go with their buckets,
    keys and last-sent records; unclaimed keys expired more than ``max_age_s`` ago go too.
    Owned devices stay whatever their age.
    """
    now = now_ms() if now is None else now
    cutoff = now - max_age_s * 1000
    stale = (
        select(NestDevice.serial)
        .where(NestDevice.last_seen < cutoff)
        .where(
            ~select(NestOwnership.serial).where(NestOwnership.serial == NestDevice.serial).exists()
        )
    )
    serials = list(db.session.execute(stale).scalars())
    keys = 0
    for start in range(0, len(serials), 500):
        chunk = serials[start : start + 500]
        for model in (NestBucket, NestLastSent, NestEntryKey):
            deleted = db.session.execute(delete(model).where(model.serial.in_(chunk))).rowcount
            keys += deleted if model is NestEntryKey else 0
        db.session.execute(delete(NestDevice).where(NestDevice.serial.in_(chunk)))
    keys += db.session.execute(
        delete(NestEntryKey).where(
            NestEntryKey.claimed_by.is_(None), NestEntryKey.expires_at < cutoff
        )
    ).rowcount
    return len(serials), keys


def sweep_interval(max_age_s: int) -> float:
    """How often each worker sweeps: a quarter of the age, between 1 s and an hour."""
    return float(min(3600, max(1, max_age_s // 4)))


def sweep_step(app) -> float:
    """One pass of the per-worker sweep loop; returns the seconds until the next."""
    max_age = app.config["NEST_UNPAIRED_DEVICE_MAX_AGE_SECONDS"]
    with app.app_context():
        try:
            sweep(max_age)
            db.session.commit()
        finally:
            db.session.remove()
    return sweep_interval(max_age)


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
