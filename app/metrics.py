"""Prometheus metrics at ``GET /metrics``, summed over every gunicorn worker.

gunicorn.conf.py points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before the workers
start, so each worker writes its samples there and any worker's ``/metrics`` reads them all
(prometheus_client's multiprocess mode). Without that variable (tests in one process) the
default registry serves.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from app.extensions import the_app

bp = Blueprint("metrics", __name__)

EVENTS = Counter("homepair_events_total", "Pairing events, by kind (see README).", ["event"])
HELD = Gauge(
    "homepair_held_subscribes", "Nest subscribes held open now.", multiprocess_mode="livesum"
)
MAIL_FAILURES = Counter("homepair_mail_failures_total", "E-mails the SMTP server refused.")
LATENCY = Histogram(
    "homepair_request_seconds",
    "Time to answer a request (a held subscribe: until its headers), by endpoint.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)


@functools.lru_cache(maxsize=1024)
def labelled(metric: Any, value: str) -> Any:
    """``metric.labels(value)``, looked up once per value: ``labels()`` takes a lock and builds
    the label tuple on every call. The values are this code's own names (endpoints, event
    kinds), so the cache stays small."""
    return metric.labels(value)


class OutboxCollector:
    """The mail outbox's depth and oldest waiting age, read at scrape time."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        """Two gauges from one query."""
        from app.extensions import db
        from app.models import MailOutbox

        depth = GaugeMetricFamily("homepair_outbox_depth", "E-mails waiting to be sent.")
        oldest = GaugeMetricFamily(
            "homepair_outbox_oldest_seconds", "Age of the oldest e-mail waiting to be sent."
        )
        with self.app.app_context():
            try:
                count, first = db.session.execute(
                    select(func.count(), func.min(MailOutbox.created_at)).where(
                        MailOutbox.sent_at.is_(None), MailOutbox.given_up.is_(False)
                    )
                ).one()
            finally:
                db.session.remove()
        depth.add_metric([], count)
        oldest.add_metric([], max(0, time.time() - first) if first else 0)
        yield depth
        yield oldest


@bp.get("/metrics")
def metrics():
    """The Prometheus text format, every worker's samples summed."""

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        for collector in (EVENTS, HELD, MAIL_FAILURES, LATENCY):
            registry.register(collector)
    registry.register(OutboxCollector(the_app()))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Time every request by endpoint; serve ``/metrics``."""
    app.register_blueprint(bp)

    @app.before_request
    def _start_clock() -> None:
        g.homepair_started = time.perf_counter()

    @app.after_request
    def _stop_clock(response):
        started = g.get("homepair_started")
        if started is not None:
            labelled(LATENCY, request.endpoint or "none").observe(time.perf_counter() - started)
        return response
