"""The ceiling: a bare Flask app served by the same gunicorn settings as homepair.

``gunicorn -c gunicorn.conf.py bench.hello:app``. Its workload is the smallest request of the
Hue table, done with nothing else: ``POST /`` with a Hue ``{"devicetype":"bench#n"}`` body,
parsed with ``request.get_json``, answered with the bridge's type-101 list in homepair's byte
form (app/hue/contract.py ``link_button_not_pressed``, app/envelopes.py ``json_bytes``), with
no database, limiter or blueprint. A homepair figure divided by this one says how much of what
Flask + gunicorn + gevent allow on this machine, at the same worker count, it reaches.

The app imports nothing of homepair's, so the ceiling does not move with homepair's code; the
answer's text is copied here (type 101, address "", "link button not pressed").
"""

import json

from flask import Flask, Response, request
from gevent.event import Event

app = Flask(__name__)
# Never set: every hold waits until its timeout, like an unclaimed thermostat's subscribe.
_never = Event()

NOT_PRESSED = [{"error": {"type": 101, "address": "", "description": "link button not pressed"}}]
INVALID_JSON = [{"error": {"type": 2, "address": "", "description": "body contains invalid json"}}]


def _answer(obj) -> Response:
    # homepair's byte form: compact separators, UTF-8, no newline, HTTP 200 for Hue errors.
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, mimetype="application/json")


@app.route("/healthz")
def healthz():
    """Readiness probe, like homepair's."""
    return {"status": "ok"}


@app.route("/", methods=["POST"])
def hue_101():
    """The whole workload: Hue apps send no Content-Type, hence ``force``."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("devicetype"), str):
        return _answer(INVALID_JSON)
    return _answer(NOT_PRESSED)


@app.route("/nest/transport/v5/subscribe", methods=["POST"])
def hold():
    """The memory floor of a held request on this stack: a chunked response whose generator
    flushes the headers, then waits on an Event, as homepair's subscribe does, with nothing
    else (no database, no per-device state)."""

    def body():
        yield b""
        _never.wait(290)

    return Response(body(), mimetype="application/json")
