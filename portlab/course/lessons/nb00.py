"""Notebook 00 (start here): the modes table, the scope guard's verdict on a target, port 81 in the lab."""

from __future__ import annotations

import ipaddress
from typing import Optional

import pandas as pd

from ...errors import BadInput, ScopeRefused
from ...scope import LOOPBACK, ScopeGuard, in_scope
from ..machine import LIVE_LAB_NEEDS, MODES, Machine, machine

#: What each mode uses and what it needs, in the learner's words.
MODE_FACTS: dict[str, tuple[str, str]] = {
    "sim": ("a scenario file, computed in Python; no packet is sent", "nothing"),
    "replay": ("scans recorded earlier in the live lab, read from data/recordings/", "nothing"),
    "live-loopback": ("real sockets on 127.0.0.1, the network inside this computer", "an ordinary user"),
    "live-lab": ("small networks of Linux network namespaces, real packets between them", LIVE_LAB_NEEDS),
}


def modes_table(m: Optional[Machine] = None) -> pd.DataFrame:
    """One row per mode: what it uses, what it needs, and whether this machine allows it (and why not)."""
    m = m or machine()
    rows = [(mode, *MODE_FACTS[mode], "yes" if m.allows(mode) else f"no: {m.why_not[mode]}") for mode in MODES]
    return pd.DataFrame(rows, columns=["mode", "what it uses", "needs", "here?"]).set_index("mode")


def scope_verdict(target: str) -> str:
    """What the scope guard says about scanning ``target`` by default, in one line: the block
    of its scope that lets the address in, or the guard's refusal.

    This only asks the guard: it builds no scanner, looks up no name and sends nothing,
    whatever the answer.
    """
    shown = str(target).strip()
    try:
        address = ipaddress.ip_address(shown)
    except ValueError:
        raise BadInput(f"target {target!r}: expected an IP address, such as 127.0.0.1 or ::1 "
                       f"(a name would have to be looked up first)") from None
    guard = ScopeGuard()
    try:
        guard.check([shown])
    except ScopeRefused as refused:
        return f"{shown}: refused, nothing sent. The guard says: {refused}"
    block = next(net for net in guard.allowed if in_scope(address, [net]))
    if block in LOOPBACK:
        why = "loopback: a packet to any address of this block stays inside this computer"
    else:
        why = "the network of a lab portlab is running on this machine"
    return f"{shown}: allowed. It is in {block}, {why}."


def port_81_in_the_lab():
    """LIVE (Linux, with root or a user namespace of your own): build the single-host lab,
    connect-scan port 81 of its target, tear the lab down.

    Returns the port's result, to set beside the simulator's answer.
    """
    from ...lab.run import Lab
    from ...scenario import resolve
    with Lab(resolve("single-host")) as lab:       # torn down on leaving the block, even on an error
        return lab.scan("10.77.0.2", "81").hosts[0].ports[0]
