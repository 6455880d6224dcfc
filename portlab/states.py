"""The port-state model: what a scanner sent, what came back, and what that means.

Pure data and pure functions, no I/O (in the manner of h11): transports do the
sending and receiving, then hand a :class:`Reply` to :func:`classify`, which looks
it up in :data:`STATE_TABLE`.  Tests, notebooks and the simulator all read the
table from here, so there is exactly one place where nmap's rules live.
"""

from __future__ import annotations

import enum
import errno as _errno
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple, Optional


class PortState(str, enum.Enum):
    """nmap's six port states.  The value is the string nmap prints."""

    OPEN = "open"
    CLOSED = "closed"
    FILTERED = "filtered"
    UNFILTERED = "unfiltered"
    OPEN_FILTERED = "open|filtered"
    CLOSED_FILTERED = "closed|filtered"

    def __str__(self) -> str:  # so f-strings and tables print "open", not "PortState.OPEN"
        return self.value


class ScanType(str, enum.Enum):
    CONNECT = "connect"
    SYN = "syn"
    UDP = "udp"

    def __str__(self) -> str:
        return self.value

    @property
    def protocol(self) -> str:
        """The transport protocol the scan probes: ``tcp`` or ``udp``."""
        return "udp" if self is ScanType.UDP else "tcp"


class ReplyKind(str, enum.Enum):
    """What a transport observed for one probe (after its retries)."""

    SYN_ACK = "syn-ack"          # raw SYN scan: a SYN/ACK came back
    RST = "rst"                  # raw SYN scan: a RST came back
    ICMP_UNREACH = "icmp-unreach"  # ICMP type 3, see Reply.icmp_code
    UDP_DATA = "udp-data"        # UDP scan: the port answered with a datagram
    CONNECTED = "connected"      # connect scan: connect() succeeded
    CONNECT_ERROR = "connect-error"  # connect scan: connect() failed, see Reply.errno
    NONE = "none"                # nothing came back before the last timeout

    def __str__(self) -> str:
        return self.value


# ICMP destination-unreachable (type 3) codes, by the name nmap gives them as a reason.
ICMP_UNREACH_REASONS: dict[int, str] = {
    0: "net-unreach",
    1: "host-unreach",
    2: "proto-unreach",
    3: "port-unreach",
    9: "net-prohibited",
    10: "host-prohibited",
    13: "admin-prohibited",
}

# The errno a connect() can end with, by the reason nmap reports for it.  Linux turns
# an ICMP error into an errno (net/ipv4/icmp.c icmp_err_convert): codes 1, 10 and 13
# all become EHOSTUNREACH, which is why a connect scan's reasons are coarser.
CONNECT_ERRNO_REASONS: dict[int, str] = {
    _errno.ECONNREFUSED: "conn-refused",
    _errno.EHOSTUNREACH: "host-unreach",
    _errno.ENETUNREACH: "net-unreach",
    _errno.EACCES: "admin-prohibited",
    _errno.EPERM: "admin-prohibited",
    _errno.ENOPROTOOPT: "proto-unreach",
    _errno.ETIMEDOUT: "no-response",
}


class Probe(NamedTuple):
    """One question a scan asks: is *port* on *target* reachable by *scan_type*?

    A NamedTuple rather than a frozen dataclass: a full-range scan of a /24 builds
    millions of these, and a tuple is built about five times faster.
    """

    target: str
    port: int
    scan_type: ScanType

    @property
    def protocol(self) -> str:
        return self.scan_type.protocol


#: A Probe's fields as C callables, for map() over a scan's probes (65,535 of them a
#: full range): read that way, a column of targets or ports costs no Python call per probe.
PROBE_TARGET, PROBE_PORT, PROBE_SCAN_TYPE = itemgetter(0), itemgetter(1), itemgetter(2)


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer a transport saw.  Only the field that matters for *kind* is set."""

    kind: ReplyKind
    icmp_code: Optional[int] = None
    errno: Optional[int] = None

    @classmethod
    def icmp(cls, code: int) -> "Reply":
        return cls(ReplyKind.ICMP_UNREACH, icmp_code=code)

    @classmethod
    def connect_error(cls, err: int) -> "Reply":
        return cls(ReplyKind.CONNECT_ERROR, errno=err)


class Verdict(NamedTuple):
    state: PortState
    reason: str


def _build_table() -> dict[tuple[ScanType, ReplyKind, Optional[int]], Verdict]:
    """(scan type, reply kind, detail) -> verdict.

    *detail* is the ICMP code for ICMP replies, the errno for connect errors and
    ``None`` otherwise.  This is docs/design.md's port-state table (section 4) as data.
    """
    S, K, P = ScanType, ReplyKind, PortState
    table: dict[tuple[ScanType, ReplyKind, Optional[int]], Verdict] = {
        (S.SYN, K.SYN_ACK, None): Verdict(P.OPEN, "syn-ack"),
        (S.SYN, K.RST, None): Verdict(P.CLOSED, "reset"),
        (S.SYN, K.NONE, None): Verdict(P.FILTERED, "no-response"),
        (S.CONNECT, K.CONNECTED, None): Verdict(P.OPEN, "syn-ack"),
        (S.CONNECT, K.NONE, None): Verdict(P.FILTERED, "no-response"),
        (S.UDP, K.UDP_DATA, None): Verdict(P.OPEN, "udp-response"),
        (S.UDP, K.NONE, None): Verdict(P.OPEN_FILTERED, "no-response"),
    }
    for code, reason in ICMP_UNREACH_REASONS.items():
        # ICMP code 3 (port unreachable) is filtered to a TCP scan: a TCP port that is
        # really closed answers with a RST, so an ICMP error means something in the
        # way.  To a UDP scan it is the normal answer of a closed port.
        table[(S.SYN, K.ICMP_UNREACH, code)] = Verdict(P.FILTERED, reason)
        udp_state = P.CLOSED if code == 3 else P.FILTERED
        table[(S.UDP, K.ICMP_UNREACH, code)] = Verdict(udp_state, reason)
    for err, reason in CONNECT_ERRNO_REASONS.items():
        state = P.CLOSED if err == _errno.ECONNREFUSED else P.FILTERED
        table[(S.CONNECT, K.CONNECT_ERROR, err)] = Verdict(state, reason)
    return table


STATE_TABLE: dict[tuple[ScanType, ReplyKind, Optional[int]], Verdict] = _build_table()


def _detail(reply: Reply) -> Optional[int]:
    if reply.kind is ReplyKind.ICMP_UNREACH:
        return reply.icmp_code
    if reply.kind is ReplyKind.CONNECT_ERROR:
        return reply.errno
    return None


def classify(scan_type: ScanType | str, reply: Reply) -> Verdict:
    """The state and reason nmap would give a port for this reply.

    A reply the table does not know (an ICMP code nmap has no rule for, an odd
    errno) is *filtered*: something answered, but not the port.  Its reason says
    what it was, so nothing is hidden.
    """
    scan_type = ScanType(scan_type)
    verdict = STATE_TABLE.get((scan_type, reply.kind, _detail(reply)))
    if verdict is not None:
        return verdict
    if reply.kind is ReplyKind.ICMP_UNREACH:
        return Verdict(PortState.FILTERED, f"icmp-unreach-code-{reply.icmp_code}")
    if reply.kind is ReplyKind.CONNECT_ERROR and reply.errno is not None:
        return Verdict(PortState.FILTERED, _errno.errorcode.get(reply.errno, str(reply.errno)).lower())
    raise ValueError(f"a {reply.kind} reply cannot answer a {scan_type} probe")


def table_rows() -> list[dict[str, object]]:
    """The state table as plain rows (for a DataFrame in a notebook, or a test)."""
    rows = []
    for (scan_type, kind, detail), (state, reason) in STATE_TABLE.items():
        if kind is ReplyKind.CONNECT_ERROR and detail is not None:
            detail_name: object = _errno.errorcode[detail]
        else:
            detail_name = detail
        rows.append({"scan_type": scan_type.value, "reply": kind.value, "detail": detail_name,
                     "state": state.value, "reason": reason})
    return rows
