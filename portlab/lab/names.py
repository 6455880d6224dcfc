"""Names of everything a lab creates, all carrying the lab's prefix.

Several labs (and several students on one machine) must never collide, so every
namespace name starts with a per-lab prefix such as ``pl3f2a``.  Machine names in
a scenario are ``[a-z0-9-]``, so the separators below (``-`` for machines, ``.``
for the scanner and the per-network bridge namespaces) cannot be confused.
Interface names live inside the lab's own namespaces, so they only need to be
unique per namespace and at most 15 characters (IFNAMSIZ - 1).
"""

from __future__ import annotations

import re
import secrets

from ..errors import BadInput

PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{1,9}$")
IFNAMSIZ = 15  # the kernel's limit on an interface name, without the NUL


def new_prefix() -> str:
    """A fresh random prefix: ``pl`` and four hex digits."""
    return "pl" + secrets.token_hex(2)


def check_prefix(prefix: str) -> str:
    if not PREFIX_RE.match(prefix):
        raise BadInput(f"lab prefix {prefix!r}: expected 2-10 characters, a lowercase letter then letters or digits")
    return prefix


def machine_netns(prefix: str, machine: str) -> str:
    """The namespace of a host or router: ``pl3f2a-web``."""
    return f"{prefix}-{machine}"


def scanner_netns(prefix: str) -> str:
    return f"{prefix}.scanner"


def network_netns(prefix: str, network: str) -> str:
    """The namespace holding a network's bridge (kept out of the root namespace)."""
    return f"{prefix}.net-{network}"


def owns_netns(prefix: str, netns: str) -> bool:
    """Whether *netns* is one this lab's prefix would have created."""
    return netns.startswith(prefix + "-") or netns.startswith(prefix + ".")


def machine_ifname(index: int) -> str:
    """The interface of a machine on its *index*-th network (scenario order)."""
    return f"eth{index}"


def bridge_port_ifname(member: int) -> str:
    """The bridge-side end of member *member*'s veth pair, in the network's namespace."""
    name = f"p{member}"
    assert len(name) <= IFNAMSIZ
    return name


BRIDGE_IFNAME = "br0"
