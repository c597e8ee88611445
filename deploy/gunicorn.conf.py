"""Production gunicorn settings: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Several workers need REDIS_URL (wake-ups and rate limits across workers) and, for more than one
process writing at once, PostgreSQL. Do not import the app here: workers patch the standard
library for gevent only after this file is read.
"""

import multiprocessing
import os

_suspend = int(os.environ.get("NEST_SUSPEND_TIME_MAX", "300") or 300)
_hold = max(1, _suspend - 10)

bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8082')}")
worker_class = "gevent"
_default_workers = multiprocessing.cpu_count() if os.environ.get("REDIS_URL") else 1
workers = int(os.environ.get("WEB_CONCURRENCY", _default_workers))
# Held subscribes and idle keep-alive sockets share this pool; a full pool stops accepting.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "16384"))
timeout = 30
# A reload (HUP) or stop (TERM) lets held subscribes run out rather than cutting them.
graceful_timeout = _hold + 15
# Behind nginx's upstream keep-alive pool.
keepalive = 75
# Recycle workers now and then; each drains gracefully like a reload.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
control_socket_disable = True
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
