"""nmap's terminal table: a report per host, the boring states folded away.

nmap's rule (PortList::isIgnoredState in nmap's portlist.cc, default verbosity):
a state other than ``open`` is left out of the table and summed up in a
``Not shown:`` line when the host has more than 25 ports in that state.  Several
states can be folded at once.  ``show_all=True`` lists every port instead.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from ..results import HostResult, PortResult, ScanResult
from ..states import PortState, ScanType
from .jsonfmt import format_time

#: nmap hides a state when a host has more ports than this in it.
MAX_SHOWN_PER_STATE = 25


def folded_states(host: HostResult, threshold: int = MAX_SHOWN_PER_STATE,
                  counts: dict[str, int] | None = None) -> set[str]:
    """The states this host's table leaves out (open is never folded)."""
    counts = host.counts() if counts is None else counts
    return {state for state, count in counts.items()
            if state != PortState.OPEN.value and count > threshold}


def not_shown(host: HostResult, hidden: list[PortResult]) -> str:
    """``1995 closed tcp ports (conn-refused), 3 filtered tcp ports (2 no-response, 1 host-unreach)``."""
    # (state, protocol) -> reason -> count, from hidden ports and count-only extraports.
    groups: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for port in hidden:
        groups[(port.state, port.protocol)][port.reason] += 1
    for extra in host.extraports:
        reasons = Counter(extra.reasons)
        unexplained = extra.count - sum(reasons.values())
        if unexplained > 0:
            reasons["unknown-reason"] += unexplained
        groups[(str(extra.state), extra.protocol)].update(reasons)
    pieces = []
    for (state, protocol), reasons in sorted(groups.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])):
        total = sum(reasons.values())
        if len(reasons) == 1:
            why = next(iter(reasons))
        else:
            why = ", ".join(f"{n} {reason}" for reason, n in reasons.most_common())
        pieces.append(f"{total} {state} {protocol} port{'s' if total != 1 else ''} ({why})")
    return ", ".join(pieces)


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [" ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def host_report(host: HostResult, show_all: bool = False) -> list[str]:
    title = f"{host.name} ({host.address})" if host.name else host.address
    lines = [f"portlab scan report for {title}"]
    counts = host.counts()
    hidden_states = set() if show_all else folded_states(host, counts=counts)
    ordered = sorted(host.ports, key=lambda p: (p.protocol, p.port))
    # States are str enums (or plain strings from a file): set membership needs no str().
    shown = [p for p in ordered if p.state not in hidden_states]
    hidden = [p for p in ordered if p.state in hidden_states]
    total = sum(counts.values())
    if hidden or host.extraports:
        if not shown:
            lines.append(f"All {total} scanned ports on {title} are in ignored states.")
        lines.append(f"Not shown: {not_shown(host, hidden)}")
    if shown:
        rows = [("PORT", "STATE", "SERVICE", "REASON")]
        rows += [(f"{p.port}/{p.protocol}", str(p.state), p.service or "unknown", p.reason) for p in shown]
        lines += _columns(rows)
    elif not hidden and not host.extraports:
        lines.append("No ports scanned.")
    return lines


def render(result: ScanResult, show_all: bool = False) -> str:
    started = format_time(result.started.replace(microsecond=0))
    lines = [f"portlab {result.portlab}: {ScanType(result.scan_type).value} scan via {result.transport}, started {started}"]
    for host in result.hosts:
        lines.append("")
        lines += host_report(host, show_all=show_all)
    count = len(result.hosts)
    lines += ["", f"portlab done: {count} IP address{'es' if count != 1 else ''} "
                  f"({count} host{'s' if count != 1 else ''} up) scanned in {result.elapsed_s:.2f} seconds"]
    return "\n".join(lines)


__all__ = ["MAX_SHOWN_PER_STATE", "folded_states", "host_report", "not_shown", "render"]
