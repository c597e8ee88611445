"""A device's buckets: server and device writes, bounded per device and per value."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from flask import current_app
from sqlalchemy import Row, bindparam, func, select, update

from app.dbutil import insert_ignore, insert_ignore_many, run, table
from app.extensions import db
from app.nest import contract
from app.nest.contract import MAX_VALUE_BYTES, Msg
from app.nest.models import NestBucket


def dumps(value: dict) -> str:
    """Bucket value as stored: compact JSON text, key order kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def wire(bucket: NestBucket | Row, with_value: bool = True) -> dict:
    """A bucket in wire order (object_revision, object_timestamp, object_key, value)."""
    item: dict[str, Any] = {
        "object_revision": bucket.object_revision,
        "object_timestamp": bucket.object_timestamp,
        "object_key": bucket.object_key,
    }
    if with_value:
        item["value"] = json.loads(bucket.value)
    return item


_BUCKETS = table(NestBucket)
_ROW = select(_BUCKETS.c.object_revision, _BUCKETS.c.object_timestamp, _BUCKETS.c.value).where(
    _BUCKETS.c.serial == bindparam("serial"), _BUCKETS.c.object_key == bindparam("key")
)
_ROW_FOR_UPDATE = _ROW.with_for_update()
_COPIES = (
    select(
        _BUCKETS.c.serial,
        _BUCKETS.c.object_revision,
        _BUCKETS.c.object_timestamp,
        _BUCKETS.c.value,
    )
    .where(
        _BUCKETS.c.serial.in_(bindparam("serials", expanding=True)),
        _BUCKETS.c.object_key == bindparam("key"),
    )
    .with_for_update()
)
_BUMP = (
    update(_BUCKETS)
    .where(_BUCKETS.c.serial == bindparam("p_serial"), _BUCKETS.c.object_key == bindparam("p_key"))
    .values(
        object_revision=bindparam("p_revision"),
        object_timestamp=bindparam("p_timestamp"),
        value=bindparam("p_value"),
    )
)


def write_computed(
    serial: str,
    key: str,
    make: Callable[[dict | None], dict],
    now: int,
    force: bool = True,
) -> None:
    """A server write of ``make(stored value or None)``, in prebuilt Core statements.

    The claim's path (the owner buckets of the claimed device and the structure copies of
    the owner's other devices): same rules as :meth:`Buckets.server_write`, without loading ORM
    objects, so a claim costs a few statements rather than a few ORM round trips. The row
    is read ``FOR UPDATE`` (PostgreSQL), so concurrent writers bump it one after the other.
    """
    row = run(_ROW_FOR_UPDATE, serial=serial, key=key).first()
    if row is None:
        value = make(None)
        created = insert_ignore(
            NestBucket,
            serial=serial,
            object_key=key,
            object_revision=1,
            object_timestamp=now,
            value=dumps(value),
        )
        if created:
            return
        row = run(_ROW_FOR_UPDATE, serial=serial, key=key).one()  # a concurrent writer's
    bump_row(serial, key, row, make(json.loads(row.value)), now, force)


def bump_row(serial: str, key: str, row: Row, value: dict, now: int, force: bool = True) -> None:
    """Store ``value`` over the bucket ``row`` (revision, timestamp, value) read in this
    transaction: rev + 1, ts = max(now, old ts + 1); unchanged values stay unless ``force``."""
    if not force and json.loads(row.value) == value:
        return
    run(
        _BUMP,
        p_serial=serial,
        p_key=key,
        p_revision=row.object_revision + 1,
        p_timestamp=max(now, row.object_timestamp + 1),
        p_value=dumps(value),
    )


def copies_of(serials: list[str], key: str) -> dict[str, Row]:
    """The bucket ``key`` of each of ``serials`` that has it (locked for the transaction)."""
    return {row.serial: row for row in run(_COPIES, serials=serials, key=key)}


def bump(bucket: NestBucket, value: dict, now: int) -> None:
    """A server write of an existing bucket: rev + 1, ts = max(now, old ts + 1)."""
    bucket.object_revision += 1
    bucket.object_timestamp = max(now, bucket.object_timestamp + 1)
    bucket.value = dumps(value)


def value_of(bucket: NestBucket | None) -> dict:
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
            # Read through the module: tests lower the cap.
            self._room = contract.MAX_BUCKETS_PER_DEVICE - stored
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
        """A server write (rev + 1, ts = max(now, old ts + 1)) within this set; None if
        refused (no room, value too big)."""
        text = dumps(value)
        if len(text.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
            return None
        bucket = self.get(key)
        if bucket is None:
            return self.create(key, 1, now, text)
        if json.loads(bucket.value) != value:
            bump(bucket, value, now)
        return bucket

    def device_write(self, key: str, revision: int, timestamp: int, value: dict) -> None:
        """Take a newer value from the device with its own revision and timestamp."""
        bucket = self.get(key)
        text = dumps({**value_of(bucket), **value})
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
        raise TooManyObjects(Msg.TOO_MANY_OBJECTS.format(cap=cap))
