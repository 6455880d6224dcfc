"""nmap's terminal table: a report per host, the boring states folded away.

nmap's rule (PortList::isIgnoredState in nmap's portlist.cc, default verbosity):
a state other than ``open`` is left out of the table and summed up in a
``Not shown:`` line when the host has more than 25 ports in that state.  Several
states can be folded at once.  ``show_all=True`` lists every port instead.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import compress, islice
from operator import attrgetter, lt, not_

from ..portcolumns import columns_of, kept_rows
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


def not_shown(host: HostResult, hidden: Counter) -> str:
    """``1995 closed tcp ports (conn-refused), 3 filtered tcp ports (2 no-response, 1 host-unreach)``.

    *hidden* counts the hidden ports by (state, protocol, reason)."""
    # (state, protocol) -> reason -> count, from hidden ports and count-only extraports.
    groups: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for (state, protocol, reason), n in hidden.items():
        groups[(state, protocol)][reason] += n
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


_PORT, _PROTOCOL, _STATE = attrgetter("port"), attrgetter("protocol"), attrgetter("state")
_GROUP = attrgetter("state", "protocol", "reason")


#: What nmap's ``--open`` keeps in the table: open and "possibly open" ports.
OPEN_STATES = frozenset({PortState.OPEN.value, PortState.OPEN_FILTERED.value, PortState.UNFILTERED.value})


def host_report(host: HostResult, show_all: bool = False, only_open: bool = False) -> list[str]:
    title = f"{host.name} ({host.address})" if host.name else host.address
    lines = [f"portlab scan report for {title}"]
    counts = host.counts()
    hidden_states = set() if show_all else folded_states(host, counts=counts)
    if only_open:
        hidden_states |= {state for state in counts if state not in OPEN_STATES}
    columns = columns_of(host.ports)
    if columns is not None:
        # The engine's columns (sorted, one protocol): sort out a few answers, not every port.
        answers = columns.answers
        shown_answer = [state not in hidden_states for state, _ in answers]
        shown = kept_rows(columns, map(shown_answer.__getitem__, columns.answer))
        hidden = Counter({(state, columns.protocol, reason): n
                          for (state, reason), n in columns.tally_answers().items() if state in hidden_states})
    else:
        shown, hidden = _sort_out(host.ports, hidden_states)
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


def _sort_out(ports, hidden_states: set[str]) -> tuple[list[PortResult], Counter]:
    """(the ports to list, in protocol and port order; the rest counted by (state, protocol, reason))."""
    numbers = list(map(_PORT, ports))
    if len(set(map(_PROTOCOL, ports))) <= 1 and all(map(lt, numbers, islice(numbers, 1, None))):
        ordered = ports          # the engine's results come sorted: skip a 65535-port sort
    else:
        ordered = sorted(ports, key=lambda p: (p.protocol, p.port))
    # States are str enums (or plain strings from a file): set membership needs no str().
    in_hidden = [state in hidden_states for state in map(_STATE, ordered)]
    shown = list(compress(ordered, map(not_, in_hidden)))
    # Counted in C (attrgetter through map): the hidden ports can be 65535.
    hidden = Counter(map(_GROUP, compress(ordered, in_hidden)))
    return shown, hidden


#: The scan type as a person says it.
SCAN_NAMES = {"connect": "TCP connect scan", "syn": "TCP SYN scan", "udp": "UDP scan"}

#: How the result was obtained, by transport: the header says it in words.
TRANSPORT_WORDS = {
    "connect": "live, with the operating system's connect()",
    "raw": "live, with hand-built packets on a raw socket",
    "udp": "live, with UDP datagrams and ICMP read from a raw socket",
    "udp-unprivileged": "live, with UDP datagrams and ICMP errors the kernel reports",
    "sim": "simulated: computed from a scenario, no packet sent",
    "replay": "recorded earlier, read back",
    "nmap": "made by nmap, read back from its XML",
}

#: Transports whose elapsed time is the simulator's clock, not the wall clock.
VIRTUAL_TIME = ("sim",)


def header(result: ScanResult) -> str:
    started = format_time(result.started.replace(microsecond=0))
    kind = ScanType(result.scan_type).value
    how = TRANSPORT_WORDS.get(result.transport, f"via {result.transport}")
    return f"portlab {result.portlab}: {SCAN_NAMES.get(kind, kind + ' scan')}, {how}; started {started}"


def done_line(result: ScanResult, wall_s: float | None = None) -> str:
    """nmap's last line; a simulated scan says its time is the simulator's clock (and,
    when *wall_s* is given, how long the computation really took)."""
    count = len(result.hosts)
    text = (f"portlab done: {count} IP address{'es' if count != 1 else ''} "
            f"({count} host{'s' if count != 1 else ''} up) scanned in {result.elapsed_s:.2f} seconds")
    if result.transport in VIRTUAL_TIME:
        # The simulator's clock says how long the scan would take on a real network.
        text += " of simulated time"
        if wall_s is not None:
            text += f" (computed in {wall_s:.2f} s of real time)"
    return text


def render(result: ScanResult, show_all: bool = False, wall_s: float | None = None,
           only_open: bool = False) -> str:
    lines = [header(result)]
    for host in result.hosts:
        if only_open and not OPEN_STATES.intersection(host.counts()):
            continue   # nmap's --open leaves out a host with nothing open
        lines.append("")
        lines += host_report(host, show_all=show_all, only_open=only_open)
    lines += ["", done_line(result, wall_s)]
    return "\n".join(lines)


__all__ = ["MAX_SHOWN_PER_STATE", "done_line", "folded_states", "header", "host_report", "not_shown", "render"]
