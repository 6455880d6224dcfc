"""Port numbers and the ranges they fall into.

RFC 6335 (section 6) splits the 16-bit port space into three ranges: the System
Ports, the User Ports and the Dynamic Ports.  IANA assigns ports only in the first
two; the third is for anyone, and operating systems pick the client side of a
connection (the *ephemeral* port) from a range of their own, which on Linux is not
the same as IANA's.

Pure logic apart from :func:`ephemeral_range`, which reads one ``/proc`` file.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInput

PORT_MIN = 0
PORT_MAX = 65535

# Linux's documented default for net.ipv4.ip_local_port_range, used when the
# /proc file cannot be read (a container without /proc, a test).
LINUX_DEFAULT_EPHEMERAL = (32768, 60999)
# Windows (since Vista) and macOS follow IANA's dynamic range.
IANA_DYNAMIC = (49152, 65535)
LINUX_EPHEMERAL_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_PORT_TEXT = re.compile(r"-?[0-9]+")


@dataclass(frozen=True)
class PortRange:
    """One RFC 6335 range.  ``key`` is the short name used in tables and JSON.

    ``rfc6335_name`` is the range's name in RFC 6335 section 6; ``aliases`` the names
    that section says it is "also known as"; ``older_name`` the label of IANA's port
    list from before RFC 6335 (which the registry's own header still uses).
    """

    key: str
    rfc6335_name: str
    older_name: str
    lo: int
    hi: int
    aliases: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.lo <= port <= self.hi

    def __str__(self) -> str:
        return f"{self.rfc6335_name} {self.lo}-{self.hi}"


SYSTEM = PortRange("system", "System Ports", "Well Known Ports", 0, 1023, ("Well Known Ports",))
USER = PortRange("user", "User Ports", "Registered Ports", 1024, 49151, ("Registered Ports",))
DYNAMIC = PortRange("dynamic", "Dynamic Ports", "Dynamic and/or Private Ports", 49152, 65535,
                    ("Private Ports", "Ephemeral Ports"))
RANGES: tuple[PortRange, ...] = (SYSTEM, USER, DYNAMIC)


def check_port(port: object, where: str = "port") -> int:
    """Return ``port`` if it is an int in 0-65535, else raise :class:`BadInput`.

    ``where`` names the argument in the message (e.g. ``"lookup port"``), so the
    user learns what was wrong and where.  ``bool`` is refused although it is an
    ``int`` subclass: ``lookup(True)`` is a bug, not port 1.
    """
    if isinstance(port, bool) or not isinstance(port, int):
        raise BadInput(f"{where} {port!r} is not an integer: expected a whole number {PORT_MIN}-{PORT_MAX}")
    if not PORT_MIN <= port <= PORT_MAX:
        raise BadInput(f"{where} {port} is out of range: expected {PORT_MIN}-{PORT_MAX}")
    return port


def parse_port(text: str, where: str = "port") -> int:
    """Turn user text such as ``"443"`` into a checked port number."""
    stripped = text.strip()
    # int() would also accept "+443", "4_43" and non-ASCII digits; a port is plain
    # digits.  A leading "-" is let through so that "-1" gets "out of range".
    if not _PORT_TEXT.fullmatch(stripped):
        raise BadInput(f"{where} {text!r} is not a number: expected a whole number {PORT_MIN}-{PORT_MAX}")
    return check_port(int(stripped), where)


def port_range(port: int) -> PortRange:
    """The RFC 6335 range that holds ``port``."""
    check_port(port)
    for rng in RANGES:
        if port in rng:
            return rng
    raise AssertionError("RANGES cover 0-65535")  # pragma: no cover


def ephemeral_range(platform: str | None = None, proc_file: Path = LINUX_EPHEMERAL_FILE) -> tuple[int, int]:
    """The range this OS picks client (ephemeral) ports from, as ``(lo, hi)``.

    Linux: read from ``/proc/sys/net/ipv4/ip_local_port_range`` (the live setting);
    if that cannot be read or parsed, Linux's default 32768-60999.  Windows and
    macOS: IANA's 49152-65535, which both use by default (we do not query them).
    ``platform`` defaults to ``sys.platform``; tests pass others.
    """
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return IANA_DYNAMIC
    try:
        fields = proc_file.read_text().split()
        lo, hi = int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        return LINUX_DEFAULT_EPHEMERAL
    return lo, hi
