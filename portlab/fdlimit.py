"""How many sockets a scan may hold open at once.

Every in-flight connect probe is a file descriptor.  Linux refuses a new socket past
``RLIMIT_NOFILE`` (EMFILE), which would turn an open port into a spurious error, so
the engine raises the soft limit towards the hard limit where allowed and keeps the
number of probes in flight a safe margin below it (stdin/out/err, Jupyter's own
sockets, log files and the epoll fd all need descriptors too).
"""

from __future__ import annotations

import os

try:
    import resource
except ImportError:  # not on Windows; nothing to raise there
    resource = None  # type: ignore[assignment]

MARGIN = 64            # descriptors kept free for everything that is not a probe
WANTED = 65536         # more than any scan needs in flight


def raise_soft_limit(wanted: int = WANTED) -> int:
    """Raise the soft RLIMIT_NOFILE to min(*wanted*, hard); return the soft limit now in force."""
    if resource is None:
        return 512  # Windows: no RLIMIT_NOFILE; stay well inside select()'s 512 sockets
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        # macOS reports an infinite hard limit but refuses more than OPEN_MAX (10240).
        for candidate in (target, 10240, 4096):
            if candidate <= soft:
                break
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (candidate, hard))
                soft = candidate
                break
            except (ValueError, OSError):
                continue  # not allowed here: try less, else live with the current limit
    return WANTED if soft == resource.RLIM_INFINITY else int(soft)


def open_fd_count() -> int:
    """Descriptors this process has open now (Linux /proc; -1 where unknown)."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # minus the one listdir itself holds
    except OSError:
        return -1


def max_in_flight(requested: int) -> int:
    """*requested* capped below the soft limit minus the margin (at least 1)."""
    soft = raise_soft_limit()
    in_use = max(open_fd_count(), 0)
    return max(1, min(requested, soft - in_use - MARGIN))
