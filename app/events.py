"""Pairing events: one log line each, a Prometheus counter, and an audit row.

Protocols call :func:`record` where a fact happens (a claim won or refused, a device paired,
an app registered…). The log line goes out at once (``LOG_FORMAT=json`` makes every log line
one JSON object); audit rows are buffered and written in batches about once a second by each
worker, so an event never adds a transaction to the request that caused it. Limit hits are
logged and stored at most once a minute per limit and client (all are counted), so a flood
of refused requests cannot flood the log or the table. Nothing secret goes in: no codes,
tokens or whole Hue keys.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from typing import Any

from flask import Flask, current_app, has_request_context

from app import metrics
from app.clock import now_ms
from app.limits import client_ip

log = logging.getLogger("homepair.events")

BUFFER_LIMIT = 10_000
FLUSH_SECONDS = 1.0
QUIET_SECONDS = 60.0
_EXTENSION = "homepair.events"
_BUFFER = "homepair.events.buffer"


class _Buffer:
    """Rows waiting for the next batch write; bounded (the oldest go first when full)."""

    def __init__(self):
        self.rows: collections.deque[dict] = collections.deque(maxlen=BUFFER_LIMIT)
        self.quiet: dict[tuple, float] = {}
        self.lock = threading.Lock()


def _buffer() -> _Buffer:
    return current_app.extensions[_BUFFER]


def _client() -> str | None:
    return client_ip() if has_request_context() else None


def _quiet(event: str, fields: dict[str, Any], client: str | None) -> bool:
    """True when this limit hit was already told within the last minute."""
    key = (event, fields.get("limit"), client)
    now = time.monotonic()
    buffer = _buffer()
    with buffer.lock:
        if now - buffer.quiet.get(key, -QUIET_SECONDS) < QUIET_SECONDS:
            return True
        if len(buffer.quiet) > BUFFER_LIMIT:
            buffer.quiet = {k: t for k, t in buffer.quiet.items() if now - t < QUIET_SECONDS}
        buffer.quiet[key] = now
    return False


def record(event: str, **fields: Any) -> None:
    """Tell that ``event`` happened (``nest.claim.won``, ``limit.hit`` …) with ``fields``."""
    metrics.labelled(metrics.EVENTS, event).inc()
    client = _client()
    if event == "limit.hit" and _quiet(event, fields, client):
        return
    text = " ".join(f"{name}={value}" for name, value in fields.items())
    log.info(
        "%s %s%s",
        event,
        text,
        f" client={client}" if client else "",
        extra={"event": event, "fields": fields, "client": client},
    )
    buffer = _buffer()
    with buffer.lock:
        buffer.rows.append(
            {
                "at": now_ms(),
                "event": event,
                "client": client,
                "detail": json.dumps(fields, ensure_ascii=False, separators=(",", ":")),
            }
        )


def flush(app: Flask) -> int:
    """Write the buffered rows in one statement; return how many. Prunes old rows too."""
    from sqlalchemy import delete, insert

    from app.extensions import db
    from app.models import AuditEvent

    buffer = app.extensions[_BUFFER]
    with buffer.lock:
        rows = list(buffer.rows)
        buffer.rows.clear()
    with app.app_context():
        try:
            if rows:
                db.session.execute(insert(AuditEvent), rows)
            cutoff = now_ms() - app.config["AUDIT_RETENTION_DAYS"] * 86_400_000
            db.session.execute(delete(AuditEvent).where(AuditEvent.at < cutoff))
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("could not write %d audit rows", len(rows))
        finally:
            db.session.remove()
    return len(rows)


def recent(limit: int = 100, event: str | None = None) -> list[dict]:
    """The newest audit rows (needs an app context): at, event, client, fields."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import AuditEvent

    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    if event:
        query = query.where(AuditEvent.event.startswith(event))
    return [
        {"at": row.at, "event": row.event, "client": row.client, "fields": json.loads(row.detail)}
        for row in db.session.execute(query).scalars()
    ]


class JsonFormatter(logging.Formatter):
    """Every log line one JSON object: time, level, logger, message, and an event's fields."""

    converter = staticmethod(time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        """The record as compact JSON."""
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = vars(record)  # what record() passed as ``extra``
        if "event" in extra:
            line["event"] = extra["event"]
            line.update(extra["fields"])
            if extra["client"]:
                line["client"] = extra["client"]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str)


def init_app(app: Flask) -> None:
    """Start each worker's batch writer with its first request (not under ``TESTING``)."""
    from app import mail

    app.extensions[_BUFFER] = _Buffer()

    def step() -> float:
        flush(app)
        return FLUSH_SECONDS

    loop = mail.BackgroundLoop("audit-writer", step, FLUSH_SECONDS)
    app.extensions[_EXTENSION] = loop

    mail.start_in_workers(app, loop.ensure_started)
