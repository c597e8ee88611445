"""This process's id, kept current across forks without a system call per request.

Per-process background work (the mail sender, the audit writer, the sweepers, the Redis
listener) starts with a worker's first request and must start again after gunicorn forks;
comparing with ``os.getpid()`` on every request cost a system call per hook per request.
"""

from __future__ import annotations

import os

_pid = os.getpid()


def pid() -> int:
    """The current process id (updated in a child right after ``fork``)."""
    return _pid


def _after_fork() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_after_fork)
