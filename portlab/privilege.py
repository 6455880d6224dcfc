"""Can this process open raw sockets?  Root, or the CAP_NET_RAW capability.

Read from /proc/self/status (CapEff) instead of trying a socket, so that asking
sends nothing and opens nothing.
"""

from __future__ import annotations

import os
import sys

from .errors import MissingPrivilege

# linux/capability.h
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
CAP_SYS_ADMIN = 21


def effective_capabilities(status_path: str = "/proc/self/status") -> int:
    """The CapEff bit mask of this process (0 when it cannot be read, e.g. not Linux)."""
    try:
        with open(status_path, encoding="ascii") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def has_capability(cap: int, status_path: str = "/proc/self/status") -> bool:
    """True when *cap* is in this process's effective set.

    The one capability check: root normally holds them all, but a root whose
    capabilities were dropped (a container, ``setpriv``) cannot build namespaces,
    so the bit, not the user id, decides.
    """
    return bool(effective_capabilities(status_path) >> cap & 1)


def has_raw_socket_privilege(status_path: str = "/proc/self/status") -> bool:
    """True when raw sockets will open: Linux and (CAP_NET_RAW in the effective set, or root)."""
    if not sys.platform.startswith("linux"):
        return False
    if effective_capabilities(status_path) & (1 << CAP_NET_RAW):
        return True
    # Root without the bit (a stripped container) cannot open raw sockets either, so the
    # capability is the real test; geteuid() only covers systems without /proc.
    return not os.path.exists(status_path) and os.geteuid() == 0


def missing_raw_privilege(scan: str, instead: str) -> MissingPrivilege:
    """The error a raw-socket scan raises without privilege: what it needs, and what works."""
    where = "Linux with root or CAP_NET_RAW" if sys.platform.startswith("linux") else "Linux (raw sockets)"
    return MissingPrivilege(
        f"a {scan} scan sends hand-built packets and needs {where} "
        f"(e.g. sudo, or setcap cap_net_raw+ep on the Python binary); use {instead} instead")


def require_raw_privilege(scan: str, instead: str) -> None:
    if not has_raw_socket_privilege():
        raise missing_raw_privilege(scan, instead)
