"""Owners and their buckets: which user owns a device, and what each device was sent."""

from __future__ import annotations

from sqlalchemy import bindparam, case, delete, select, update

from app.clock import now_ms
from app.dbutil import inserted_of, run, table
from app.extensions import db
from app.nest.models import NestBucket, NestLastSent, NestOwnership


def structure_id(user_id: str) -> str:
    """``user_`` prefix dropped; the user id itself if that leaves nothing."""
    stripped = user_id[5:] if user_id.startswith("user_") else user_id
    return stripped or user_id


def owner_keys(user_id: str) -> tuple[str, str]:
    """The owner bucket keys of a device owned by ``user_id``: user first, then structure."""
    return f"user.{user_id}", f"structure.{structure_id(user_id)}"


_OWNERSHIP = table(NestOwnership)
_OWNER = select(_OWNERSHIP.c.user_id).where(_OWNERSHIP.c.serial == bindparam("serial"))
_DEVICES = (
    select(_OWNERSHIP.c.serial)
    .where(_OWNERSHIP.c.user_id == bindparam("user_id"))
    .order_by(_OWNERSHIP.c.created_at, _OWNERSHIP.c.serial)
)


_SENT = table(NestLastSent)
# The record only moves forward: a slower connection's older send never lowers it.
_RAISE_SENT = (
    update(_SENT)
    .where(_SENT.c.serial == bindparam("p_serial"), _SENT.c.object_key == bindparam("p_key"))
    .values(
        object_timestamp=case(
            (_SENT.c.object_timestamp < bindparam("p_timestamp"), bindparam("p_timestamp")),
            else_=_SENT.c.object_timestamp,
        ),
        sent_at=bindparam("p_now"),
    )
)


def owner_of(serial: str) -> str | None:
    """The user owning ``serial``, if any."""
    return run(_OWNER, serial=serial).scalar_one_or_none()


def devices_of(user_id: str) -> list[str]:
    """Serials ``user_id`` owns, by ownership creation, then serial."""
    return list(run(_DEVICES, user_id=user_id).scalars())


def initial_owner_value(key: str, user_id: str) -> dict:
    if key.startswith("user."):
        return {"name": user_id}
    return {"name": "Home", "devices": devices_of(user_id)}


def last_sent(serial: str) -> dict[str, tuple[int, int]]:
    """The device's last-sent records as ``{object_key: (ts, sent at in epoch ms)}``."""
    rows = db.session.execute(
        select(NestLastSent.object_key, NestLastSent.object_timestamp, NestLastSent.sent_at).where(
            NestLastSent.serial == serial
        )
    )
    return {key: (ts, sent_at or 0) for key, ts, sent_at in rows}


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
    newest: dict[str, int] = {}
    for item in items:
        key, ts = item["object_key"], item["object_timestamp"]
        if key in keys and ts > newest.get(key, -1):
            newest[key] = ts
    if not newest:
        return
    now = now_ms()
    # New records in one statement; those that exist are raised one by one.
    created = set(
        inserted_of(
            NestLastSent,
            [
                {"serial": serial, "object_key": key, "object_timestamp": ts, "sent_at": now}
                for key, ts in newest.items()
            ],
            returning="object_key",
        )
    )
    for key, ts in newest.items():
        if key not in created:
            run(_RAISE_SENT, p_serial=serial, p_key=key, p_timestamp=ts, p_now=now)


def forget_owner_buckets(serial: str, user_id: str) -> None:
    """Remove ``user_id``'s owner buckets, and what was sent of them, from ``serial``."""
    keys = owner_keys(user_id)
    for model in (NestBucket, NestLastSent):
        db.session.execute(delete(model).where(model.serial == serial, model.object_key.in_(keys)))
