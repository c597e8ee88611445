"""gunicorn settings for `make run` and the test suite (see deploy/ for production).

Held Nest subscribes last NEST_SUSPEND_TIME_MAX - 10 seconds; graceful_timeout must exceed
that so a reload lets them finish. This file must not import the app: the master reads it
before the workers patch the standard library for gevent.
"""

import os

_suspend = int(os.environ.get("NEST_SUSPEND_TIME_MAX", "300") or 300)
_hold = max(1, _suspend - 10)

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8082')}")
worker_class = "gevent"
# One worker unless REDIS_URL fans pushes out across workers (see README, "Scaling out").
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# Held subscribes and keep-alive sockets both take slots; a full pool stops accepting.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "16384"))
timeout = 30
graceful_timeout = _hold + 15
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
# gunicorn 27's runtime control socket defaults to one path per user, which several servers on
# one host (tests, blue/green) would fight over; homepair does not use it.
control_socket_disable = True
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
