"""What the benchmark reads from /proc: the machine, process memory and CPU, socket owners."""

from __future__ import annotations

import os
import platform
import resource
import sys

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def raise_nofile() -> int:
    """Raise this process's soft ``RLIMIT_NOFILE`` to its hard limit; return the new soft limit.

    Children (gunicorn, the holders) inherit it, so 10,000 held sockets per process fit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def machine() -> dict:
    """Cores, CPU model, memory and software versions, for the table's header."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = 0
    try:
        with open("/proc/meminfo") as fh:
            mem_kib = int(fh.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    versions = {}
    for name in ("flask", "gunicorn", "gevent", "sqlalchemy", "werkzeug", "flask_limiter"):
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", "?")
        except Exception:  # a missing optional package is just not reported
            pass
    if "flask" in versions:
        from importlib.metadata import version

        versions["flask"] = version("flask")
        versions["werkzeug"] = version("werkzeug")
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "versions": versions,
    }


def children(pid: int) -> list[int]:
    """Direct child pids of ``pid``."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return sorted(int(p) for p in fh.read().split())
    except OSError:
        return []


def cmdline(pid: int) -> bytes:
    """The command line of ``pid`` (b"" if it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def forked_children(pid: int) -> list[int]:
    """Children of ``pid`` running its own command line: gunicorn's workers, for its master
    (its helper processes, the mail sender and the discovery advertiser, run ``flask``)."""
    own = cmdline(pid)
    return [child for child in children(pid) if cmdline(child) == own]


def rss_kib(pid: int) -> int:
    """``VmRSS`` of ``pid`` in KiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            # The command name may contain spaces; fields after the closing paren are fixed.
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def busy_cpu_seconds() -> float:
    """CPU seconds all processes on the machine have used (``/proc/stat``, not idle)."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    # guest time is already counted in user time.
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def tcp_mem_kib() -> int:
    """Kernel memory of all TCP sockets (both ends of loopback connections), KiB."""
    try:
        with open("/proc/net/sockstat") as fh:
            for line in fh:
                if line.startswith("TCP:"):
                    parts = line.split()
                    return int(parts[parts.index("mem") + 1]) * PAGE_KIB
    except (OSError, ValueError):
        pass
    return 0


def socket_owners(server_port: int, pids: list[int]) -> dict[int, int]:
    """Map each client port connected to ``server_port`` to the pid holding the server end.

    /proc/net/tcp gives the socket inode of the server end of each connection (local port =
    the server's port, remote port = the client's); /proc/<pid>/fd tells which worker holds
    that inode. This is exact, unlike guessing from the order of accepts.
    """
    inode_to_client: dict[str, int] = {}
    want = f":{server_port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    local, remote, inode = parts[1], parts[2], parts[9]
                    # State 01 = ESTABLISHED; the listening socket has remote port 0.
                    if local.endswith(want) and parts[3] == "01":
                        inode_to_client[inode] = int(remote.rsplit(":", 1)[1], 16)
        except OSError:
            continue
    owners: dict[int, int] = {}
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        for name in names:
            try:
                link = os.readlink(f"{fd_dir}/{name}")
            except OSError:
                continue
            if link.startswith("socket:["):
                client = inode_to_client.get(link[8:-1])
                if client is not None:
                    owners[client] = pid
    return owners
