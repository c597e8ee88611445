"""Production gunicorn settings: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

The repository's gunicorn.conf.py (the settings of `make run`, with the access-log redaction)
plus what a production host changes. Several workers need REDIS_URL (wake-ups and rate limits
across workers) and, for more than one process writing at once, PostgreSQL. Do not import the
app here: workers patch the standard library for gevent only after this file is read.
"""

import multiprocessing
import os
import runpy

_base = runpy.run_path(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gunicorn.conf.py")
)
globals().update({k: v for k, v in _base.items() if not k.startswith("__")})

# Behind nginx: loopback only (GUNICORN_BIND may list several addresses, as in the root file).
if not os.environ.get("GUNICORN_BIND"):
    bind = [f"127.0.0.1:{os.environ.get('PORT', '8082')}"]
_default_workers = multiprocessing.cpu_count() if os.environ.get("REDIS_URL") else 1
workers = int(os.environ.get("WEB_CONCURRENCY", _default_workers))
# Behind nginx's upstream keep-alive pool.
keepalive = 75
# Recycle workers now and then; each drains gracefully like a reload.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
