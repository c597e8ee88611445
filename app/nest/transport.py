"""The device transport's rules: what a subscribe gets (§4) and what a put stores (§5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeGuard

from flask import current_app
from sqlalchemy import bindparam, select

from app import events
from app.clock import now_ms
from app.dbutil import run, table
from app.nest.buckets import Buckets, check_object_count, dumps, value_of, wire
from app.nest.contract import BUCKET_TYPES, MAX_KEY_LENGTH, MAX_WIRE_INT, TARGET_FIELDS
from app.nest.models import NestBucket
from app.nest.owners import initial_owner_value, last_sent, owner_keys, owner_of, record_sent


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


def valid_key(key: Any) -> TypeGuard[str]:
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


_BUCKETS = table(NestBucket)
_OWNER_BUCKETS = select(
    _BUCKETS.c.object_revision,
    _BUCKETS.c.object_timestamp,
    _BUCKETS.c.object_key,
    _BUCKETS.c.value,
).where(
    _BUCKETS.c.serial == bindparam("serial"),
    _BUCKETS.c.object_key.in_(bindparam("keys", expanding=True)),
)


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

    def __post_init__(self) -> None:
        # A device that does not list an owner bucket may have lost it (a reboot, a reset):
        # it gets it again, but at most once per hold period, so a device that never lists
        # it is answered at once once, then held, rather than spinning.
        recent = now_ms() - hold_seconds() * 1000
        self.known = {
            key: ts if sent_at > recent else 0
            for key, (ts, sent_at) in last_sent(self.serial).items()
        }
        self.known.update({item.key: item.timestamp for item in self.listed})

    def immediate(self) -> list[dict]:
        """Apply §4.2 to the listed buckets, then the owner rule; the objects to send now.

        Every listed bucket and both owner buckets are read in one statement; new ones are
        inserted in one more.
        """
        user_id = self.owner = owner_of(self.serial)
        owner = {key: user_id for key in owner_keys(user_id)} if user_id is not None else {}
        buckets = Buckets(self.serial, [item.key for item in self.listed] + list(owner))
        now = now_ms()
        for key, user in owner.items():
            # Before the listed ones: a listed owner bucket the store lacks is made, not a
            # placeholder.
            if buckets.get(key) is None:
                buckets.create(key, 1, now, dumps(initial_owner_value(key, user)))
        send = [self._apply(buckets, item, now) for item in self.listed]
        listed_keys = {item.key for item in self.listed}
        for key in owner:
            if key in listed_keys:
                continue
            bucket = buckets.get(key)
            if bucket is not None and bucket.object_timestamp > self.known.get(key, 0):
                send.append(bucket)
        buckets.flush()
        out = [wire(bucket) for bucket in send if bucket is not None]
        self.sent(out)
        return out

    def _apply(self, buckets: Buckets, item: Listed, now: int) -> NestBucket | None:
        stored = buckets.get(item.key)
        if item.value is not None and item.revision == 0 and item.timestamp == 0:
            return buckets.server_write(item.key, {**value_of(stored), **item.value}, now)
        if (
            stored is not None
            and stored.object_timestamp > 0
            and (item.timestamp == 0 or stored.object_timestamp > item.timestamp)
        ):
            return stored
        if item.value is not None and item.timestamp > (stored.object_timestamp if stored else 0):
            buckets.device_write(item.key, item.revision, item.timestamp, item.value)
            return None
        if stored is None and item.value is None and item.timestamp == 0:
            # "No data here": the device uploads its state. Stored empty at ts 0, so it is
            # answered once, not on every subscribe.
            return buckets.create(item.key, 0, 0, "{}")
        return None

    def updates(self) -> list[dict]:
        """Owner buckets newer than this connection knows (after a wake-up)."""
        self.owner = owner_of(self.serial)
        if self.owner is None:
            return []
        keys = owner_keys(self.owner)
        buckets = {
            row.object_key: row for row in run(_OWNER_BUCKETS, serial=self.serial, keys=keys)
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


def hold_seconds() -> int:
    """How long a chunked subscribe is held: under the device's ``X-nl-suspend-time-max``."""
    return max(1, current_app.config["NEST_SUSPEND_TIME_MAX"] - 10)


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
        bucket = buckets.server_write(key, {**value_of(stored), **value}, now)
        if bucket is not None:
            items.append(wire(bucket, with_value=False))
    buckets.flush()
    record_sent(serial, items)
    return items
