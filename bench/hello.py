"""The ceiling: a minimal Flask app served by the same gunicorn settings as homepair.

``gunicorn -c gunicorn.conf.py bench.hello:app``. It answers a small JSON object, as
homepair's endpoints do, with no database, limiter or blueprint, so a homepair figure divided
by this one says how much of what Flask + gunicorn + gevent allow on this machine it reaches.
"""

from flask import Flask, Response
from gevent.event import Event

app = Flask(__name__)
# Never set: every hold waits until its timeout, like an unclaimed thermostat's subscribe.
_never = Event()


@app.route("/healthz")
def healthz():
    """Readiness probe, like homepair's."""
    return {"status": "ok"}


@app.route("/", methods=["GET", "POST"])
def hello():
    """The whole workload."""
    return {"hello": "world"}


@app.route("/nest/transport/v5/subscribe", methods=["POST"])
def hold():
    """The memory floor of a held request on this stack: a chunked response whose generator
    flushes the headers, then waits on an Event, as homepair's subscribe does, with nothing
    else (no database, no per-device state)."""

    def body():
        yield b""
        _never.wait(290)

    return Response(body(), mimetype="application/json")
