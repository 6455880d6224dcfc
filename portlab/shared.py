"""A shared machine's loopback: a learner's scan leaves other users' ports alone.

On a JupyterHub or a lab server every user shares one loopback (127.0.0.1, ::1):
the hub, its proxy and every classmate's Jupyter server listen there.  A learner's
scan of loopback would connect to all of them.  So, before any packet is sent, a
live scan of loopback drops from its port list every port on which a socket of
**another user** listens, and says so in one line on stderr, e.g.::

    portlab: 3 loopback ports belong to other users on this shared machine (JupyterHub)
    and were not scanned: 8000, 8081, 45123

The rule, exactly:

* **Which scans.**  A live scan (connect, SYN or UDP; not the simulator, not a
  replay) made from this machine's own network namespace (not inside a lab, not
  with ``netns=``) with a loopback target (127.0.0.0/8, ::1, ::ffff:127.x.y.z).
* **Who is narrowed.**  A process without ``CAP_NET_ADMIN``, the capability that
  administers the machine's network: every learner.  Root (with its capabilities)
  runs the machine and is not narrowed; a root whose capabilities were dropped
  (``setpriv``, a container) is treated as a learner, as everywhere in portlab.
* **When the machine is shared.**  Any of: ``JUPYTERHUB_USER`` or
  ``JUPYTERHUB_API_TOKEN`` is set (a server the hub started); ``PORTLAB_SHARED=1``
  is set (a teacher can put it in a lab server's environment); or another person's
  account (a uid from ``UID_MIN`` in ``/etc/login.defs``, 1000 by default, other than
  ``nobody``) listens on loopback now.  A laptop with only its owner's and the
  system's services is not shared, and a scan there reaches everything, as before.
* **Which ports.**  On a shared machine, every port where a socket of a uid other
  than the scanner's own listens on a loopback or wildcard address (TCP sockets in
  LISTEN; for a UDP scan, bound UDP sockets), read from ``/proc/net/tcp``,
  ``tcp6``, ``udp`` and ``udp6``, which every user may read.  System services
  (root's, a database's) count as another user's here too: the hub itself runs as root.
  Ports nobody listens on stay in the scan (they answer closed, and touch no program).
* **Where owners cannot be read** (no ``/proc``: not Linux) on a machine known to be
  shared, the live loopback scan is refused in one line instead.

The list is read once, just before the scan; a program that starts listening during
the scan is not seen.  This is a courtesy guard for a class, not a wall: a learner's
own code (or nmap) is not bound by it.  Notebooks go further and run their wide
scans in a private network namespace (:mod:`portlab.privatenet`).
"""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

from .errors import ScopeRefused

NOBODY = 65534
DEFAULT_UID_MIN = 1000
SHOWN_PORTS = 12                 # ports named in the one line; the rest are counted
TCP_LISTEN, UDP_UNCONNECTED = "0A", "07"
PROC_NET = ("/proc/thread-self/net", "/proc/self/net")   # thread-self: the netns this thread is in


@dataclass(frozen=True)
class Listener:
    protocol: str      # "tcp" | "udp"
    address: str
    port: int
    uid: int


def _hex_address(text: str) -> str:
    raw = bytes.fromhex(text)
    # /proc/net prints each 32-bit word of the address in the host's byte order.
    words = b"".join(raw[i:i + 4][::-1] if sys.byteorder == "little" else raw[i:i + 4]
                     for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def _reachable_from_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _proc_net() -> Optional[Path]:
    for base in PROC_NET:
        if Path(base, "tcp").exists():
            return Path(base)
    return None


def listeners(protocol: str = "tcp") -> Optional[list[Listener]]:
    """The sockets listening on a loopback or wildcard address (TCP: LISTEN; UDP: bound,
    unconnected), with their owners; None where ``/proc/net`` cannot be read."""
    base = _proc_net()
    if base is None:
        return None
    state = TCP_LISTEN if protocol == "tcp" else UDP_UNCONNECTED
    found = []
    for name in (protocol, protocol + "6"):
        try:
            lines = (base / name).read_text().splitlines()[1:]
        except OSError:
            continue             # no IPv6 here: nothing listens on it
        for line in lines:
            fields = line.split()
            if len(fields) < 8 or fields[3] != state:
                continue
            host, _, port = fields[1].partition(":")
            address = _hex_address(host)
            if _reachable_from_loopback(address):
                found.append(Listener(protocol, address, int(port, 16), int(fields[7])))
    return found


def uid_min(path: str = "/etc/login.defs") -> int:
    """The first uid of a person's account (``UID_MIN`` in login.defs; 1000 by default)."""
    try:
        for line in Path(path).read_text().splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "UID_MIN":
                return int(fields[1])
    except (OSError, ValueError):
        pass
    return DEFAULT_UID_MIN


def _user_name(uid: int) -> str:
    try:
        import pwd
        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def shared_reason(found: Optional[Sequence[Listener]] = None) -> Optional[str]:
    """Why this machine counts as shared (a few words), or None when it does not."""
    if os.environ.get("JUPYTERHUB_USER") or os.environ.get("JUPYTERHUB_API_TOKEN"):
        return "JupyterHub"
    if os.environ.get("PORTLAB_SHARED", "").lower() in ("1", "yes", "true", "on"):
        return "PORTLAB_SHARED is set"
    me, first = os.geteuid(), uid_min()
    people = sorted({l.uid for l in found or () if l.uid != me and l.uid >= first and l.uid != NOBODY})
    if people:
        names = ", ".join(_user_name(uid) for uid in people[:3]) + (" and others" if len(people) > 3 else "")
        return f"other users listen on its loopback: {names}"
    return None


def privileged() -> bool:
    """Whether this process administers the machine's network (root with its capabilities)."""
    from .privilege import CAP_NET_ADMIN, has_capability
    return has_capability(CAP_NET_ADMIN)


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@dataclass(frozen=True)
class Narrowing:
    """The ports a scan keeps, those it left out, and the one line that says so."""

    ports: list[int]
    left_out: list[int]
    line: str


def narrow(addresses: Iterable[str], ports: Sequence[int], protocol: str = "tcp") -> Optional[Narrowing]:
    """On a shared machine, *ports* without those other users listen on (see the module's rule).

    None when nothing is to be left out (no loopback target, a privileged process, a
    machine that is not shared, no other user's port among *ports*).  Raises
    ScopeRefused when the machine is known to be shared but its sockets' owners cannot
    be read.
    """
    if not any(is_loopback(a) for a in addresses) or privileged():
        return None
    found = listeners(protocol)
    why = shared_reason(found)
    if why is None:
        return None
    if found is None:
        raise ScopeRefused(f"this is a shared machine ({why}) and portlab cannot read here which loopback ports "
                           f"belong to other users (no /proc/net/{protocol}), so it does not scan loopback live; "
                           "scan a scenario instead (--scenario NAME, scenario= in Python)")
    me = os.geteuid()
    theirs = {l.port for l in found if l.uid != me}
    left_out = sorted(set(ports) & theirs)
    if not left_out:
        return None
    kept = [p for p in ports if p not in theirs]
    shown = ", ".join(map(str, left_out[:SHOWN_PORTS]))
    if len(left_out) > SHOWN_PORTS:
        shown += f" and {len(left_out) - SHOWN_PORTS} more"
    one = len(left_out) == 1
    line = (f"{len(left_out)} loopback port{'' if one else 's'} {'belongs' if one else 'belong'} to other users "
            f"on this shared machine ({why}) and {'was' if one else 'were'} not scanned: {shown}")
    return Narrowing(kept, left_out, line)


# ---------------------------------------------------------------- saying it

_lock = threading.Lock()
_collectors: list[list[str]] = []


def tell(line: str) -> None:
    """Say *line* once: to whoever collects (:func:`collected`), else on stderr as ``portlab: line``."""
    with _lock:
        if _collectors:
            for collector in _collectors:
                collector.append(line)
            return
    print(f"portlab: {line}", file=sys.stderr, flush=True)


@contextmanager
def collected() -> Iterator[list[str]]:
    """Collect the lines instead of printing them (a widget shows them itself).  Process-wide,
    since a scan in Jupyter runs on a worker thread."""
    lines: list[str] = []
    with _lock:
        _collectors.append(lines)
    try:
        yield lines
    finally:
        with _lock:
            _collectors.remove(lines)
