"""WSGI entry point: ``gunicorn -c gunicorn.conf.py wsgi:app`` and ``flask --app wsgi …``."""

import sys

from app import create_app
from app.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    # One line naming the variable, no traceback: a misconfiguration is the operator's to fix.
    print(f"homepair: {exc}", file=sys.stderr)
    sys.exit(2)
