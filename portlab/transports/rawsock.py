"""Raw sockets and the ICMP rate-limit setting: the small I/O edge the SYN and UDP
scans share, and the connect scan's ICMP watch uses, without importing a whole scanner."""

from __future__ import annotations

import socket

#: Room for the bursts of replies a fast scan gets between two reads.
RCVBUF_BYTES = 16 * 1024 * 1024


def open_raw(protocol: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, protocol)
    try:
        sock.setblocking(False)
        try:  # root may exceed net.core.rmem_max; otherwise take what rmem_max allows
            sock.setsockopt(socket.SOL_SOCKET, 33, RCVBUF_BYTES)  # SO_RCVBUFFORCE
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
    except BaseException:
        sock.close()
        raise
    return sock


def local_icmp_interval(path: str = "/proc/sys/net/ipv4/icmp_ratelimit") -> float:
    """This namespace's per-peer ICMP error interval in seconds (1.0 when unknown or off).

    It is the scanner's own sysctl, not the target's; a fresh Linux namespace and a
    default install both say 1000 ms, so it is the best guess before measuring.
    """
    try:
        with open(path, encoding="ascii") as f:
            ms = int(f.read().strip())
    except (OSError, ValueError):
        return 1.0
    return ms / 1000 if ms > 0 else 1.0
