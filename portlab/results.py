"""Scan results: what a scan found, per host and per port, and the scan as a whole.

The engine builds these; the replay transport and `portlab show` read them back
from portlab JSON or nmap XML.  The dataclasses stay plain (``==`` compares every
field, so a round trip through JSON can be checked with one comparison); the
formats live in :mod:`portlab.formats` and are imported only when asked for, so
that building a result does not import pandas or an XML parser.  A host's ``ports``
is a list, or, in a result the engine built, a :class:`portlab.portcolumns.PortColumns`
that holds them as columns and acts as that list (it compares equal to it).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, MutableSequence, Optional, Sequence, Union

from . import __version__
from .states import PortState, ScanType

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas

#: nmap's six states in the order nmap's documentation lists them; tables,
#: counts and the DataFrame's ordered categorical use this order.
STATE_ORDER: tuple[str, ...] = tuple(state.value for state in PortState)


_STATE = attrgetter("state")


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One packet (or socket call) kept for teaching: ``t`` is seconds since the scan started."""

    t: float
    direction: str          # "sent" or "recv"
    summary: str            # e.g. "SYN 10.77.0.1:40312 > 10.77.0.2:22", "ICMP port-unreach"


@dataclass(slots=True)   # one per probed port: slots make 65535 of them cheaper
class PortResult:
    port: int
    protocol: str                 # "tcp" | "udp"
    state: PortState
    reason: str
    service: Optional[str] = None  # the registry's name for (port, protocol)
    tries: int = 1
    rtt: Optional[float] = None
    trace: tuple[TraceEvent, ...] = ()


class PortNumbers(array):
    """Sorted port numbers, two bytes each: the folded ports of a large scan.

    A Python list of 65,530 port numbers costs about 2 MiB; this costs 128 KiB.  It
    compares equal to a list of the same numbers (so a result read back from JSON,
    which gives a list, still equals the one written) and finds a port by bisection.
    """

    def __new__(cls, numbers=()):
        return super().__new__(cls, "H", numbers)

    def __eq__(self, other):
        if isinstance(other, (list, tuple, array)):
            return len(self) == len(other) and all(map(int.__eq__, self, other))
        return NotImplemented

    __hash__ = None   # mutable, as a list

    def __contains__(self, port) -> bool:
        i = bisect_left(self, port)
        return i < len(self) and self[i] == port

    def __repr__(self) -> str:
        return f"PortNumbers({len(self)} ports)"

    def __reduce__(self):
        return (PortNumbers, (list(self),))


@dataclass
class ExtraPorts:
    """Ports a recording holds only as a count, the way nmap folds them.

    nmap lists the interesting ports one by one and folds the rest into
    ``<extraports state="closed" count="1995">``.  When the file says which ports
    those are, the reader expands them into ordinary PortResults; an ExtraPorts
    stays only for the ports it cannot name.  *reasons* maps each reason to how
    many of the folded ports had it; *ports* lists them when known (else None).
    A scan too large to keep port by port (see ``portlab.engine.FOLD_PORTS``)
    folds each host's commonest answer the same way, its ports a PortNumbers.
    """

    state: PortState
    count: int
    reasons: dict[str, int] = field(default_factory=dict)
    ports: Optional[Sequence[int]] = None   # a list, or PortNumbers
    protocol: str = "tcp"


@dataclass
class HostResult:
    address: str
    name: Optional[str] = None
    # A list, or the engine's PortColumns (portlab.portcolumns), which acts as one.
    ports: MutableSequence[PortResult] = field(default_factory=list)
    extraports: list[ExtraPorts] = field(default_factory=list)

    def port(self, number: int, protocol: Optional[str] = None) -> Optional[PortResult]:
        """The result for one port (and protocol), or None if it was not recorded one by one."""
        for result in self.ports:
            if result.port == number and (protocol is None or result.protocol == protocol):
                return result
        return None

    def counts(self) -> dict[str, int]:
        """state -> number of ports, extraports included, in nmap's state order."""
        # PortState is a str enum, so members and their plain-string values count
        # as one key; str() on 65535 ports would cost more than the counting.
        # The engine's PortColumns count a few answers instead of 65535 ports.
        tally_states = getattr(self.ports, "tally_states", None)
        tally: Counter[str] = tally_states() if tally_states else Counter(map(_STATE, self.ports))
        for extra in self.extraports:
            tally[str(extra.state)] += extra.count
        return {state: tally[state] for state in STATE_ORDER if tally[state]}


@dataclass
class ScanResult:
    scan_type: ScanType
    transport: str                # "connect" | "raw" | "sim" | "replay" | "nmap"
    started: datetime             # timezone-aware UTC
    elapsed_s: float
    hosts: list[HostResult] = field(default_factory=list)
    probes_sent: int = 0
    retries: int = 0
    portlab: str = __version__
    source: Optional[str] = None  # where a replayed result came from (a file path)

    # -- looking inside ---------------------------------------------------------

    def ports(self, state: Union[PortState, str, None] = None) -> Iterator[tuple[HostResult, PortResult]]:
        """Every (host, port) recorded one by one, optionally only those in *state*."""
        wanted = None if state is None else PortState(state)
        for host in self.hosts:
            for port in host.ports:
                if wanted is None or port.state == wanted:
                    yield host, port

    def counts(self) -> dict[str, int]:
        """state -> number of ports over all hosts (extraports included), nmap's state order."""
        tally: Counter[str] = Counter()
        for host in self.hosts:
            tally.update(host.counts())
        return {state: tally[state] for state in STATE_ORDER if tally[state]}

    def open_ports(self, address: Optional[str] = None) -> list[int]:
        """The sorted open port numbers of one host (by address or name), or of all hosts."""
        hosts = self.hosts if address is None else [self.host(address)]
        return sorted({p.port for h in hosts for p in h.ports if p.state == PortState.OPEN})

    def host(self, address: str) -> HostResult:
        """The host with this address (or name); KeyError names the hosts there are."""
        for host in self.hosts:
            if address in (host.address, host.name):
                return host
        known = ", ".join(h.address for h in self.hosts) or "none"
        raise KeyError(f"no host {address!r} in this result (hosts: {known})")

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {state}" for state, n in self.counts().items()) or "no ports"
        return (f"<ScanResult {ScanType(self.scan_type).value} via {self.transport}: "
                f"{len(self.hosts)} host(s), {counts}, {self.elapsed_s:.2f}s>")

    def _repr_html_(self) -> str:
        # Jupyter shows a result as nmap's table rather than a wall of dataclass fields.
        import html
        return f"<pre>{html.escape(self.table())}</pre>"

    # -- formats (each lives in portlab.formats; imported when used) -------------

    def to_json(self, indent: Optional[int] = None) -> str:
        from .formats import jsonfmt
        return jsonfmt.dumps(self, indent=indent)

    @classmethod
    def from_json(cls, data: Union[str, bytes, dict], where: str = "JSON") -> "ScanResult":
        from .formats import jsonfmt
        return jsonfmt.loads(data, where=where)

    def to_csv(self) -> str:
        from .formats import csvfmt
        return csvfmt.dumps(self)

    def to_xml(self) -> str:
        from .formats import nmapxml
        return nmapxml.dumps(self)

    @classmethod
    def from_xml(cls, text: Union[str, bytes], where: str = "XML") -> "ScanResult":
        from .formats import nmapxml
        return nmapxml.loads(text, where=where)

    def table(self, show_all: bool = False) -> str:
        from .formats import table
        return table.render(self, show_all=show_all)

    def to_dataframe(self) -> "pandas.DataFrame":
        from .formats import frame
        return frame.to_dataframe(self)

    def save(self, path: Union[str, Path], format: Optional[str] = None) -> Path:
        """Write the result; *format* (json, csv, xml, table) defaults to the file's extension."""
        from .formats import save
        return save(self, path, format=format)


def load(path: Union[str, Path]) -> ScanResult:
    """Read a portlab JSON or nmap ``-oX`` file (told apart by content, not by name)."""
    from .formats import load as _load
    return _load(path)
