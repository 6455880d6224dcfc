"""nmap's grepable output (``-oG``): one line per host, fields separated by tabs.

The syntax follows what nmap 7.9x writes, so scripts written for nmap's file read
ours: a ``# Nmap``-style comment line first, ``Host: ADDR (NAME)\tStatus: Up``, then
``Host: ADDR (NAME)\tPorts: 22/open/tcp//ssh///, ...\tIgnored State: closed (998)``
and a closing ``# ... done at`` comment.  Each port entry has nmap's seven slash
separated fields: port/state/protocol/owner/service/rpc-info/version/ (portlab fills
port, state, protocol and service; owner, rpc-info and version stay empty, as in
nmap's own file without -sV).  ``Ports:`` is written even when empty, as nmap does.
Like nmap, a state the table folds is left out of ``Ports:`` and counted in ``Ignored State:``; nmap names only the first folded state
there (in its internal order: closed, filtered, unfiltered, open|filtered,
closed|filtered), so do we, and the ports of any further folded state are listed.
With ``--open`` every state but open, open|filtered and unfiltered is ignored, and a host
with no port in those states is left out, as in nmap.
"""

from __future__ import annotations

import time
from typing import Optional

from ..results import HostResult, ScanResult
from .table import OPEN_STATES, folded_states

#: nmap's order of states when it picks the one ``Ignored State:`` names.
_NMAP_STATE_ORDER = ("closed", "open", "filtered", "unfiltered", "open|filtered", "closed|filtered")


def _when(epoch: float) -> str:
    # nmap's ctime-like stamp: "Sun Dec  6 13:01:23 2026"
    return time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(epoch))


def _field(text: Optional[str]) -> str:
    # A slash or comma inside a field would break nmap's syntax; nmap writes '|' instead of '/'.
    return (text or "").replace("/", "|").replace(",", " ")


def host_lines(host: HostResult, only_open: bool = False) -> list[str]:
    title = f"Host: {host.address} ({host.name or ''})"
    counts = host.counts()
    if only_open and not OPEN_STATES.intersection(counts):
        return []      # nmap's --open leaves out a host with nothing open
    folded = folded_states(host, counts=counts)
    if only_open:   # nmap's --open: every other state is ignored, and only the first is counted
        folded |= {state for state in counts if state not in OPEN_STATES}
    ignored = next((s for s in _NMAP_STATE_ORDER if s in folded), None)
    entries = []
    for port in sorted(host.ports, key=lambda p: (p.protocol, p.port)):
        state = str(port.state)
        if state == ignored or (only_open and state not in OPEN_STATES):
            continue
        entries.append(f"{port.port}/{state}/{port.protocol}//{_field(port.service)}///")
    line = f"{title}\tPorts: {', '.join(entries)}"
    if ignored is not None:
        line += f"\tIgnored State: {ignored} ({counts[ignored]})"
    return [f"{title}\tStatus: Up", line]


def dumps(result: ScanResult, command: str = "portlab scan", only_open: bool = False) -> str:
    started = result.started.timestamp()
    count = len(result.hosts)
    lines = [f"# portlab {result.portlab} scan initiated {_when(started)} as: {command}"]
    for host in result.hosts:
        lines += host_lines(host, only_open=only_open)
    lines.append(f"# portlab done at {_when(started + result.elapsed_s)} -- {count} IP address"
                 f"{'es' if count != 1 else ''} ({count} host{'s' if count != 1 else ''} up) "
                 f"scanned in {result.elapsed_s:.2f} seconds")
    return "\n".join(lines) + "\n"
