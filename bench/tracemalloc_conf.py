"""gunicorn settings for ``python -m bench.profile memory``: the repo's gunicorn.conf.py, plus
tracemalloc in every worker; ``SIGUSR2`` to a worker writes a snapshot into
``$BENCH_TRACEMALLOC_DIR``. Like gunicorn.conf.py, this must not import the app.
"""

import os
import runpy

_root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gunicorn.conf.py")
globals().update({k: v for k, v in runpy.run_path(_root).items() if not k.startswith("__")})


def post_worker_init(worker):
    """Start tracing after gunicorn set its signal handlers (it resets USR2 to default)."""
    import gc
    import signal
    import tracemalloc

    tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "40")))
    taken = [0]

    def dump(*_):
        gc.collect()
        taken[0] += 1
        folder = os.environ["BENCH_TRACEMALLOC_DIR"]
        path = os.path.join(folder, f"{os.getpid()}-{taken[0]}.snap")
        tracemalloc.take_snapshot().dump(path + ".tmp")
        os.rename(path + ".tmp", path)  # the reader waits for the final name

    signal.signal(signal.SIGUSR2, dump)
