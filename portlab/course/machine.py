"""What this machine allows, and so which modes a notebook can use.

The course runs in one of four modes (notebook 00, section 3, teaches them):

* ``sim``: a scenario's simulated network; anywhere, sends nothing;
* ``replay``: recordings made in the live lab (``data/recordings/``); anywhere;
* ``live-loopback``: real scans of this machine's own loopback; anywhere a socket opens;
* ``live-lab``: real scans of a lab of Linux network namespaces: :data:`LIVE_LAB_NEEDS`.
  Without root the lab is built in a user namespace of the learner's own
  (``portlab.lab.userns``); the learner holds CAP_NET_RAW over the lab's namespaces
  there, so the lab's SYN and UDP scans work too.

Everything here only looks (``/proc``, ``PATH``, the lab's state files); it sends
nothing and changes nothing, so a notebook's first cell can call it freely.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import Optional

MODES = ("sim", "replay", "live-loopback", "live-lab")

#: What a LIVE cell needs, said the same way everywhere in the course (notebook 00
#: defines it; the other notebooks and the README repeat it).
LIVE_LAB_NEEDS = "Linux, with root or a user namespace of your own"

MODE_NAMES = {
    "sim": "simulated (a scenario's network, computed; no packet is sent)",
    "replay": "recorded (scans captured earlier in the live lab, read back)",
    "live-loopback": "live on loopback (real sockets on this machine's 127.0.0.1)",
    "live-lab": "live lab (real packets between Linux network namespaces on this machine)",
}


MODE_SHORT = {"sim": "simulator", "replay": "recordings", "live-loopback": "live loopback", "live-lab": "live lab"}


@dataclass(frozen=True)
class Machine:
    linux: bool
    root: bool
    raw_sockets: bool             # SYN and UDP scans with raw packets
    netns: bool                   # can build network namespaces (the live lab)
    nmap: Optional[str]           # path of nmap, if installed
    labs: tuple[str, ...] = ()    # prefixes of labs running now
    why_not: dict[str, str] = field(default_factory=dict)   # mode -> one-line reason it is unavailable
    rootless: bool = False        # the live lab runs in a user namespace (no root needed)

    def allows(self, mode: str) -> bool:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
        return mode not in self.why_not


def machine() -> Machine:
    """Look at this machine now."""
    from ..privilege import CAP_NET_ADMIN, CAP_SYS_ADMIN, has_capability, has_raw_socket_privilege
    from ..scope import running_labs

    linux = sys.platform.startswith("linux")
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    raw = has_raw_socket_privilege()
    # `ip netns add` mounts (CAP_SYS_ADMIN) and the lab configures links (CAP_NET_ADMIN);
    # the capabilities decide, not the user id (a root in a container may have neither).
    caps = linux and has_capability(CAP_SYS_ADMIN) and has_capability(CAP_NET_ADMIN)
    netns = caps and shutil.which("ip") is not None
    rootless, userns_why = False, None
    if linux and not caps:
        # Without root: a user namespace of the learner's own can hold the whole lab.
        from ..lab.userns import why_not as userns_why_not
        userns_why = userns_why_not()
        rootless = netns = userns_why is None
    try:
        labs = tuple(lab.prefix for lab in running_labs())
    except OSError:
        labs = ()
    why_not: dict[str, str] = {}
    if not netns:
        if not linux:
            why_not["live-lab"] = "the live lab uses Linux network namespaces, and this is not Linux"
        elif not caps:
            why_not["live-lab"] = ("the live lab needs root, or unprivileged user namespaces, and here "
                                   f"{userns_why}")
        else:
            why_not["live-lab"] = "the live lab needs the `ip` command (Debian/Ubuntu: apt-get install iproute2)"
    return Machine(linux, root, raw, netns, shutil.which("nmap"), labs, why_not, rootless)


def describe(m: Optional[Machine] = None) -> str:
    """A few lines a learner can read: what this machine allows and why not the rest."""
    m = m or machine()
    lines = [
        f"operating system: {'Linux' if m.linux else sys.platform}",
        f"running as root: {'yes' if m.root else 'no'}",
        f"raw packets (SYN and UDP scans): {'yes' if m.raw_sockets else 'no (needs root or CAP_NET_RAW)'}"
        + (" here; yes inside your own live lab" if m.rootless and not m.raw_sockets else ""),
        f"network namespaces (the live lab): "
        f"{('yes, in a user namespace of yours (no root needed)' if m.rootless else 'yes') if m.netns else 'no'}",
        f"nmap installed: {'yes' if m.nmap else 'no (only needed to compare with nmap)'}",
        f"labs running now: {', '.join(m.labs) if m.labs else 'none'}",
    ]
    for mode in MODES:
        lines.append(f"  {mode:14} {'available' if m.allows(mode) else 'not here: ' + m.why_not[mode]}")
    return "\n".join(lines)


def mode_line(mode: str, wants: Optional[str] = None, m: Optional[Machine] = None) -> str:
    """One notebook's mode, said once at the top: which mode, and why.

    *mode* is what the notebook runs in by default; *wants* a richer mode it uses
    where it can (e.g. ``"live-lab"``): the line says whether this machine allows it.
    """
    m = m or machine()
    text = f"This notebook runs {MODE_NAMES[mode]}, so it works the same on any laptop."
    if wants:
        if m.allows(wants):
            text += f" This machine also allows {MODE_NAMES[wants]}: the cells marked LIVE run for real."
        else:
            # The full reason is long and technical: the LIVE cells and notebook 00's
            # machine check give it; the first cell of every notebook stays one plain sentence.
            text += (f" Cells marked LIVE need the {MODE_SHORT[wants]}, which this machine does not allow: "
                     "they say why and skip.")
    return text


def show_mode(mode: str = "sim", wants: Optional[str] = None) -> None:
    """Print the mode line (for a notebook's first code cell)."""
    print(mode_line(mode, wants))


def live(mode: str = "live-lab", why_not: Optional[str] = None) -> bool:
    """For a LIVE cell: True when this machine allows *mode*; else print why the cell skips.

    ``if live("live-lab"): ...`` keeps a cell that needs the live lab from failing
    where the machine cannot build one, and says so instead of passing silently.
    *why_not* is a reason of the cell's own not to run here (a tool it needs beyond the
    lab), ``None`` when it has none; it is said the same way.
    """
    m = machine()
    reason = m.why_not.get(mode) if not m.allows(mode) else why_not
    if reason is None:
        return True
    print(f"LIVE cell skipped: {reason}. The simulated and recorded results above show the same thing.")
    return False
