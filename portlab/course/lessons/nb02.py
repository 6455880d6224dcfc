"""Notebook 02 (port scanning and its ethics): the six states, a listener to scan, the refusal.

Everything here reads portlab's own rules (:mod:`portlab.states`) or runs real
code: the state grid classifies each reply with :func:`portlab.states.classify`,
the listener is a real socket on 127.0.0.1.  Notebook 03 reuses the grid.
"""

from __future__ import annotations

import socket
import threading
from typing import Optional

from ...errors import BadInput
from ...states import ICMP_UNREACH_REASONS, STATE_TABLE, PortState, Reply, ReplyKind, ScanType, classify

# The six states in our words: what the scanner knows, and which scans can say it.
SIX_STATES: tuple[dict[str, str], ...] = (
    {"state": "open", "means": "a program accepts connections (TCP) or answered a datagram (UDP) on this port",
     "said by": "connect, SYN, UDP"},
    {"state": "closed", "means": "the host answered, and nothing listens there (RST, refused, or ICMP port unreachable for UDP)",
     "said by": "connect, SYN, UDP"},
    {"state": "filtered", "means": "something in the way (a firewall) dropped the probe or answered with an ICMP error",
     "said by": "connect, SYN, UDP"},
    {"state": "open|filtered", "means": "silence, and silence cannot tell an open service from a dropping firewall",
     "said by": "UDP (and nmap's FIN, NULL, Xmas scans)"},
    {"state": "unfiltered", "means": "the port is reachable, but whether it is open or closed is unknown",
     "said by": "nmap's ACK scan only"},
    {"state": "closed|filtered", "means": "either closed or filtered; the scan cannot tell which",
     "said by": "nmap's idle scan only"},
)


def six_states():
    """The six states as a DataFrame, with how many rows of portlab's state table lead to each."""
    import pandas as pd

    counts = {s.value: 0 for s in PortState}
    for verdict in STATE_TABLE.values():
        counts[verdict.state.value] += 1
    rows = [{**row, "rows in portlab's table": counts[row["state"]]} for row in SIX_STATES]
    return pd.DataFrame(rows).set_index("state")


def state_table(scan_type: Optional[str] = None):
    """portlab's state table (:func:`portlab.states.table_rows`) as a DataFrame, one scan type or all."""
    import pandas as pd
    from ...states import table_rows

    rows = [r for r in table_rows() if scan_type is None or r["scan_type"] == scan_type]
    frame = pd.DataFrame(rows, columns=["scan_type", "reply", "detail", "state", "reason"])
    frame["detail"] = frame["detail"].map(lambda d: "" if d is None else str(d))
    return frame


# ---------------------------------------------------------------------- the state grid

# What can come back on the wire, in the order a learner meets it.  Each row names the
# reply and, per scan type, what the scanner sees of it (None: cannot happen).
OTHER_ICMP = (0, 1, 2, 9, 10, 13)


def _connect_sees_icmp(code: int) -> Reply:
    # connect() never sees the ICMP packet, only the errno Linux turns it into.
    from ...sim.kernel import connect_errno
    return Reply.connect_error(connect_errno(code))


def grid_rows() -> list[dict[str, object]]:
    """One row per reply on the wire; per scan type the (state, reason) portlab gives.

    Every cell comes from :func:`portlab.states.classify`, so the grid is the
    state table, arranged for people.
    """
    import errno

    def verdict(scan: ScanType, reply: Optional[Reply]) -> Optional[str]:
        if reply is None:
            return None
        v = classify(scan, reply)
        return f"{v.state.value} ({v.reason})"

    rows: list[dict[str, object]] = [
        {"reply": "SYN/ACK", "connect": verdict(ScanType.CONNECT, Reply(ReplyKind.CONNECTED)),
         "syn": verdict(ScanType.SYN, Reply(ReplyKind.SYN_ACK)), "udp": None},
        {"reply": "RST", "connect": verdict(ScanType.CONNECT, Reply.connect_error(errno.ECONNREFUSED)),
         "syn": verdict(ScanType.SYN, Reply(ReplyKind.RST)), "udp": None},
        {"reply": "UDP datagram", "connect": None, "syn": None,
         "udp": verdict(ScanType.UDP, Reply(ReplyKind.UDP_DATA))},
    ]
    for code in (3, *OTHER_ICMP):
        rows.append({"reply": f"ICMP unreachable, code {code} ({ICMP_UNREACH_REASONS[code]})",
                     "connect": verdict(ScanType.CONNECT, _connect_sees_icmp(code)),
                     "syn": verdict(ScanType.SYN, Reply.icmp(code)),
                     "udp": verdict(ScanType.UDP, Reply.icmp(code))})
    rows.append({"reply": "nothing, even after retries", "connect": verdict(ScanType.CONNECT, Reply(ReplyKind.NONE)),
                 "syn": verdict(ScanType.SYN, Reply(ReplyKind.NONE)), "udp": verdict(ScanType.UDP, Reply(ReplyKind.NONE))})
    return rows


def grid_frame():
    import pandas as pd
    return pd.DataFrame(grid_rows()).set_index("reply").fillna("–")


def state_grid():
    """A chart: replies down the side, scan types across, each cell coloured by the state it means."""
    from ..theme import STATE_COLOURS, Chart, new_figure, text_on
    from matplotlib.patches import Patch, Rectangle

    rows = grid_rows()
    scans = ("connect", "syn", "udp")

    def build(th):
        fig = new_figure(9.5, 0.42 * len(rows) + 1.3)
        ax = fig.add_subplot()
        for i, row in enumerate(rows):
            for j, scan in enumerate(scans):
                cell = row[scan]
                if cell is None:
                    ax.text(j + 0.5, i + 0.5, "–", ha="center", va="center", color=th.muted)
                    continue
                state = str(cell).split(" (")[0]
                fill = STATE_COLOURS[state]
                ax.add_patch(Rectangle((j + 0.03, i + 0.06), 0.94, 0.88, color=fill))
                ax.text(j + 0.5, i + 0.5, str(cell), ha="center", va="center", color=text_on(fill), fontsize=8.5)
        ax.set_xlim(0, len(scans))
        ax.set_ylim(len(rows), 0)
        ax.set_xticks([j + 0.5 for j in range(len(scans))], [f"{s} scan" for s in scans])
        ax.xaxis.tick_top()
        ax.set_yticks([i + 0.5 for i in range(len(rows))], [str(r["reply"]) for r in rows])
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        used = sorted({str(r[s]).split(" (")[0] for r in rows for s in scans if r[s]},
                      key=[p.value for p in PortState].index)
        ax.legend(handles=[Patch(color=STATE_COLOURS[s], label=s) for s in used], loc="upper center",
                  bbox_to_anchor=(0.5, -0.02), ncol=len(used), frameon=False)
        ax.set_title("What each reply means to each scan type", pad=24)
        return fig

    lines = []
    for row in rows:
        said = [f"{scan}: {row[scan]}" for scan in scans if row[scan]]
        lines.append(f"{row['reply']}: " + ", ".join(said))
    text = ("A grid of replies (rows) against scan types (columns); each cell is the state and reason. "
            + "; ".join(lines) + ".")
    return Chart(build, text, rows, title="The state table")


# ---------------------------------------------------------------------- a listener to scan

class Listener:
    """A tiny TCP server on 127.0.0.1 on a port the OS picks; answers ``hello`` and closes.

    ``with Listener() as server: ...`` ; ``server.port`` ; ``server.connections`` counts
    the connections it accepted.  Closed on exit, so the port is free again.
    """

    def __init__(self, host: str = "127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, 0))            # port 0: the OS picks a free port
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.host, self.port = self.sock.getsockname()
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name=f"listener-{self.port}")
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            try:
                conn.sendall(b"hello\n")
            except OSError:
                pass      # a scanner resets at once; nothing to say to it
            finally:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()

    def __enter__(self) -> "Listener":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Listener {self.host}:{self.port} {'closed' if self._stop.is_set() else 'listening'}>"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now: the OS picks one, we let it go at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class SocketCounter:
    """Counts the network sockets this Python process opens while it is active (``with``).

    Evidence for the scope guard: every packet a scanner sends goes out through a
    network socket, so a scan that opened none sent nothing.  Local (AF_UNIX)
    sockets are not counted: asyncio opens a pair of them for its own wake-ups,
    and they cannot reach another machine.
    """

    def __init__(self):
        self.count = 0
        self.families: list[str] = []
        self._original = None

    def __enter__(self) -> "SocketCounter":
        original = self._original = socket.socket.__init__
        counter = self

        def counting_init(sock, *args, **kwargs):
            original(sock, *args, **kwargs)
            if sock.family != getattr(socket, "AF_UNIX", None):
                counter.count += 1
                counter.families.append(sock.family.name)

        socket.socket.__init__ = counting_init
        return self

    def __exit__(self, *exc) -> None:
        socket.socket.__init__ = self._original


def refused_scan(target: str = "192.0.2.10", ports: str = "22,80,443") -> tuple[str, int]:
    """Try to scan *target*; return (the scope guard's message, sockets opened meanwhile)."""
    import portlab
    from ...errors import ScopeRefused

    with SocketCounter() as sockets:
        try:
            portlab.scan(target, ports=ports)
        except ScopeRefused as refusal:
            return str(refusal), sockets.count
    raise AssertionError(f"the scope guard let {target} through; expected a refusal")


# ---------------------------------------------------------------------- the scope of a permission

#: A small company's hosts, on documentation addresses (RFC 5737) that belong to nobody.
COMPANY_HOSTS: tuple[tuple[str, str], ...] = (
    ("www", "203.0.113.10"),
    ("shop", "203.0.113.11"),
    ("mail", "203.0.113.14"),
    ("vpn", "203.0.113.17"),
    ("backup", "203.0.113.40"),
    ("office router", "198.51.100.1"),
)


class Permission:
    """What a written permission for one block of addresses lets you scan (see :func:`permission`)."""

    def __init__(self, scope: str, block, rows: list[tuple[str, str, bool]]):
        self.scope, self.block, self.rows = scope, block, rows

    @property
    def allowed(self) -> list[str]:
        """The names of the hosts the guard would scan."""
        return [name for name, _address, ok in self.rows if ok]

    def __str__(self) -> str:
        first, last = self.block[0], self.block[-1]
        size = self.block.num_addresses
        span = f"the address {first}" if size == 1 else f"the {size:,} addresses {first} to {last}"
        lines = [f"your permission: {self.scope} = {span}",
                 f"{'host':<14} {'address':<15} portlab's guard, with allow=['{self.scope}']"]
        lines += [f"{name:<14} {address:<15} {'would scan it' if ok else 'refused, nothing sent'}"
                  for name, address, ok in self.rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Permission {self.scope}: {len(self.allowed)} of {len(self.rows)} hosts>"


def permission(scope: str) -> Permission:
    """Ask the scope guard, given the block a written permission names, about each of a
    company's hosts: which it would scan and which it would refuse.

    This only asks the guard (portlab's own :class:`~portlab.scope.ScopeGuard`, with
    ``allow=[scope]`` and no running lab): nothing is scanned and nothing is sent.
    """
    import ipaddress

    from ...errors import ScopeRefused
    from ...scope import ScopeGuard

    text = str(scope).strip()
    try:
        block = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise BadInput(f"scope {scope!r}: expected one address or a block such as 203.0.113.8/29") from None
    if block.version != 4:
        raise BadInput(f"scope {scope!r}: the company's hosts have IPv4 addresses; give an IPv4 block "
                       f"such as 203.0.113.8/29")
    guard = ScopeGuard(allow=[text], include_labs=False)
    rows = []
    for name, address in COMPANY_HOSTS:
        try:
            guard.check([address])
            rows.append((name, address, True))
        except ScopeRefused:
            rows.append((name, address, False))
    return Permission(text, block, rows)
