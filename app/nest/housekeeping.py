"""Housekeeping: unpaired devices and long-expired keys are swept away."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import delete, select

from app.clock import now_ms
from app.dbutil import affected
from app.extensions import db
from app.nest.models import NestBucket, NestDevice, NestEntryKey, NestLastSent, NestOwnership


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
            deleted = affected(delete(model).where(model.serial.in_(chunk)))
            keys += deleted if model is NestEntryKey else 0
        db.session.execute(delete(NestDevice).where(NestDevice.serial.in_(chunk)))
    keys += affected(
        delete(NestEntryKey).where(
            NestEntryKey.claimed_by.is_(None), NestEntryKey.expires_at < cutoff
        )
    )
    return len(serials), keys


def sweep_interval(max_age_s: int) -> float:
    """How often each worker sweeps: a quarter of the age, between 1 s and an hour."""
    return float(min(3600, max(1, max_age_s // 4)))


def sweep_step(app: Flask) -> float:
    """One pass of the per-worker sweep loop; returns the seconds until the next."""
    max_age = app.config["NEST_UNPAIRED_DEVICE_MAX_AGE_SECONDS"]
    with app.app_context():
        try:
            sweep(max_age)
            db.session.commit()
        finally:
            db.session.remove()
    return sweep_interval(max_age)
