"""A NAT's translation table with the behaviours RFC 4787 (UDP) and RFC 5382 (TCP) name.

Pure: no sockets, and no clock of its own -- every call takes ``now`` (seconds of
the simulator's virtual clock), so tests can step time exactly.

* **Mapping** (RFC 4787 §4.1): which outgoing flows share one outside port.
  ``endpoint-independent``: every flow from one inside address:port (REQ-1;
  RFC 5382 REQ-1 for TCP); ``address-dependent``: those to the same remote
  address; ``address-and-port-dependent``: those to the same remote address:port.
* **Filtering** (§5): which inbound packets to an outside port get in.
  ``endpoint-independent``: from anyone while the mapping lives;
  ``address-dependent``: from addresses the inside endpoint has sent to;
  ``address-and-port-dependent``: only from address:port pairs it has sent to
  (what Linux conntrack does).
* **Port allocation** (§4.2.1): ``preserve`` keeps the inside port when it is free
  (Linux), ``sequential`` hands out ports in order from 1024, ``random`` draws them
  from a seeded generator.  Ports are never shared between two mappings of one
  protocol ("port overloading" is forbidden by §4.2.1 REQ-3).  When ``preserve``
  finds the port taken, the simulator gives the next free one above it, so a table
  stays easy to read; Linux draws a random free one.  Either way the mapping is
  endpoint-independent only while the port could be kept: Linux checks only that the
  whole connection is unique, so a later connection of the same program, to another
  remote, may get its own port back (a new mapping).
* **Timeouts**, as Linux conntrack has them (on a Linux router the NAT row *is* the
  conntrack entry): a session (one inside endpoint talking to one remote endpoint)
  is forgotten when idle for ``udp_timeout`` (``nf_conntrack_udp_timeout``, 30 s), or
  ``udp_stream_timeout`` (``nf_conntrack_udp_timeout_stream``, 120 s) once it is a
  *stream* -- answered, and still sending more than 2 s after its first packet -- or
  ``tcp_timeout`` (``nf_conntrack_tcp_timeout_established``, 432000 s = 5 days).
  Traffic either way refreshes a session.  The simulator has no TCP state machine, so
  the established value applies to every TCP session.  The RFCs ask NATs for at
  least 2 minutes (UDP: RFC 4787 §4.3 REQ-5, 5 minutes recommended) and at least
  2 h 4 min (an established TCP connection: RFC 5382 REQ-5); Linux's 30 s for a UDP
  flow that is not a stream is below the first.
* **Filtering is not a firewall.**  A packet the table does not translate (no forward,
  no mapping, or a mapping whose filtering turns this remote away) is simply not
  translated: it is for the router itself, whose own input firewall and services
  answer it (:mod:`portlab.sim.network`).  Whether new connections may pass *through*
  the router is its firewall's ``forward_drop_new_from``, not the NAT's.
* **Static forwards** (DNAT) win over dynamic mappings and are never allocated to
  one.  **Hairpinning** (§6) is decided by :mod:`portlab.sim.network`, which asks
  :meth:`NatTable.inbound` on behalf of an inside sender.

Rows from :meth:`NatTable.entries` (and :meth:`NatTable.to_dataframe`) show the
table as a router's ``conntrack -L`` would: one row per session.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

from ..scenario.model import LINUX_TCP_TIMEOUT, LINUX_UDP_STREAM_TIMEOUT, LINUX_UDP_TIMEOUT

EIM = "endpoint-independent"
ADM = "address-dependent"
APDM = "address-and-port-dependent"
BEHAVIOURS = (EIM, ADM, APDM)
# The filtering behaviours (RFC 4787 §5) carry the same three words, usually shortened
# to EIF, ADF and APDF; the names keep a filtering question apart from a mapping one.
EIF, ADF, APDF = EIM, ADM, APDM
ALLOCATIONS = ("preserve", "sequential", "random")

FIRST_DYNAMIC_PORT = 1024  # allocated outside ports stay clear of the system range

Endpoint = tuple[str, int]   # (address, port)


def _ep(endpoint) -> Endpoint:
    address, port = endpoint
    return str(address), int(port)


class NatRow(NamedTuple):
    """One session of the table, as a notebook shows it."""

    protocol: str
    inside: str
    outside: str
    remote: str
    created: float
    last_used: float
    expires: float
    kind: str      # "dynamic" or "forward"


#: Linux calls a replied UDP flow a stream when a packet comes more than this long
#: after its first one (nf_conntrack_proto_udp.c: ``stream_ts = 2 * HZ + jiffies``).
UDP_STREAM_AFTER = 2.0


@dataclass
class _Session:
    remote: Endpoint
    created: float
    last_used: float
    replied: bool = False    # an answer came back (conntrack's SEEN_REPLY)
    stream: bool = False     # UDP: replied and still active after UDP_STREAM_AFTER

    def refresh(self, protocol: str, now: float, reply: bool = False) -> None:
        """A packet of this session at *now*; *reply*: it came from the remote.

        As conntrack does: the packet is judged by what was seen before it (the first
        reply still gets the short timeout), and only then counts as a reply.
        """
        if protocol == "udp" and self.replied and now > self.created + UDP_STREAM_AFTER:
            self.stream = True
        self.last_used = now
        if reply:
            self.replied = True


@dataclass
class _Mapping:
    protocol: str
    inside: Endpoint
    outside_port: int
    key: tuple
    sessions: dict[Endpoint, _Session] = field(default_factory=dict)


class NatTable:
    """The translation state of one NAT router's outside interface."""

    def __init__(self, outside_address, *, mapping: str = EIM, filtering: str = APDF,
                 port_allocation: str = "preserve", udp_timeout: float = LINUX_UDP_TIMEOUT,
                 udp_stream_timeout: float = LINUX_UDP_STREAM_TIMEOUT, tcp_timeout: float = LINUX_TCP_TIMEOUT,
                 hairpin: bool = True, forwards=(), seed: int = 0) -> None:
        if mapping not in BEHAVIOURS or filtering not in BEHAVIOURS:
            raise ValueError(f"NAT behaviour must be one of {', '.join(BEHAVIOURS)}")
        if port_allocation not in ALLOCATIONS:
            raise ValueError(f"port allocation must be one of {', '.join(ALLOCATIONS)}")
        self.outside_address = str(outside_address)
        self.mapping = mapping
        self.filtering = filtering
        self.port_allocation = port_allocation
        self.timeouts = {"udp": float(udp_timeout), "tcp": float(tcp_timeout)}
        self.udp_stream_timeout = float(udp_stream_timeout)
        self.hairpin = hairpin
        # (protocol, outside port) -> inside endpoint
        self.forwards: dict[tuple[str, int], Endpoint] = {
            (f.protocol, int(f.port)): (str(f.to_address), int(f.to_port)) for f in forwards}
        self._forward_hits: dict[tuple[str, int, Endpoint], _Session] = {}
        self._by_key: dict[tuple, _Mapping] = {}
        self._by_port: dict[tuple[str, int], _Mapping] = {}
        self._next_port = {"udp": FIRST_DYNAMIC_PORT, "tcp": FIRST_DYNAMIC_PORT}
        self._random = random.Random(seed)
        #: Bumped on every change a cached answer could depend on.
        self.version = 0

    @classmethod
    def from_nat(cls, nat, outside_address, seed: int = 0) -> "NatTable":
        """Build from a :class:`portlab.scenario.Nat`."""
        return cls(outside_address, mapping=nat.mapping, filtering=nat.filtering,
                   port_allocation=nat.port_allocation, udp_timeout=nat.udp_timeout,
                   udp_stream_timeout=nat.udp_stream_timeout, tcp_timeout=nat.tcp_timeout,
                   hairpin=nat.hairpin, forwards=nat.forwards, seed=seed)

    # -- time

    def timeout(self, protocol: str, session: _Session) -> float:
        """How long *session* may stay idle now."""
        if protocol == "udp" and session.stream:
            return self.udp_stream_timeout
        return self.timeouts[protocol]

    def _expired(self, protocol: str, session: _Session, now: float) -> bool:
        return now >= session.last_used + self.timeout(protocol, session)

    def expire(self, now: float) -> int:
        """Forget sessions (and then mappings) idle past their timeout; how many sessions went."""
        gone = 0
        for key, mapping in list(self._by_key.items()):
            for remote, session in list(mapping.sessions.items()):
                if self._expired(mapping.protocol, session, now):
                    del mapping.sessions[remote]
                    gone += 1
            if not mapping.sessions:
                del self._by_key[key]
                del self._by_port[(mapping.protocol, mapping.outside_port)]
        for key, session in list(self._forward_hits.items()):
            if self._expired(key[0], session, now):
                del self._forward_hits[key]
                gone += 1
        if gone:
            self.version += 1
        return gone

    # -- outbound

    def _mapping_key(self, protocol: str, inside: Endpoint, remote: Endpoint) -> tuple:
        if self.mapping == EIM:
            return (protocol, inside)
        if self.mapping == ADM:
            return (protocol, inside, remote[0])
        return (protocol, inside, remote)

    def _port_free(self, protocol: str, port: int) -> bool:
        return (protocol, port) not in self._by_port and (protocol, port) not in self.forwards

    def _allocate(self, protocol: str, inside_port: int) -> int:
        span = 65536 - FIRST_DYNAMIC_PORT
        if self.port_allocation == "preserve" and self._port_free(protocol, inside_port):
            return inside_port
        if self.port_allocation == "random":
            for _ in range(64):
                port = self._random.randrange(FIRST_DYNAMIC_PORT, 65536)
                if self._port_free(protocol, port):
                    return port
            start = self._random.randrange(FIRST_DYNAMIC_PORT, 65536)
        elif self.port_allocation == "sequential":
            start = self._next_port[protocol]
        else:  # preserve, but the port is taken: the next free one above it (Linux: a random free one)
            start = max(inside_port, FIRST_DYNAMIC_PORT)
        for i in range(span):
            port = FIRST_DYNAMIC_PORT + (start - FIRST_DYNAMIC_PORT + i) % span
            if self._port_free(protocol, port):
                if self.port_allocation == "sequential":
                    self._next_port[protocol] = port + 1 if port < 65535 else FIRST_DYNAMIC_PORT
                return port
        raise RuntimeError(f"NAT {self.outside_address}: no free {protocol} port left")

    def outbound(self, protocol: str, inside, remote, now: float) -> Endpoint:
        """An inside endpoint sends to *remote*: the outside endpoint the packet leaves with.

        Creates the mapping (and the session that filtering checks) or refreshes it.
        """
        inside, remote = _ep(inside), _ep(remote)
        self.expire(now)
        key = self._mapping_key(protocol, inside, remote)
        mapping = self._by_key.get(key)
        if mapping is None:
            port = self._allocate(protocol, inside[1])
            mapping = _Mapping(protocol, inside, port, key)
            self._by_key[key] = mapping
            self._by_port[(protocol, port)] = mapping
        session = mapping.sessions.get(remote)
        if session is None:
            mapping.sessions[remote] = _Session(remote, now, now)
        else:
            session.refresh(protocol, now)
        self.version += 1
        return self.outside_address, mapping.outside_port

    def answered(self, protocol: str, inside, remote) -> None:
        """The remote answered the inside endpoint's packet (what conntrack calls
        SEEN_REPLY): a UDP session refreshed after 2 s from now on counts as a stream."""
        inside, remote = _ep(inside), _ep(remote)
        mapping = self._by_key.get(self._mapping_key(protocol, inside, remote))
        session = mapping.sessions.get(remote) if mapping is not None else None
        if session is not None and not session.replied:
            session.replied = True
            self.version += 1

    # -- inbound

    def _filter_allows(self, mapping: _Mapping, remote: Endpoint) -> bool:
        if self.filtering == EIF:
            return True
        if self.filtering == ADF:
            return any(r[0] == remote[0] for r in mapping.sessions)
        return remote in mapping.sessions

    def lookup_inbound(self, protocol: str, remote, outside_port: int) -> tuple[Optional[Endpoint], str]:
        """Where a packet from *remote* to the outside *outside_port* goes, without changing
        anything: ``(inside endpoint, "forward" | "mapping")`` or ``(None, why)``.

        Call :meth:`expire` first if time has passed.
        """
        remote = _ep(remote)
        target = self.forwards.get((protocol, outside_port))
        if target is not None:
            return target, "forward"
        mapping = self._by_port.get((protocol, outside_port))
        if mapping is None:
            return None, "no-mapping"
        if not self._filter_allows(mapping, remote):
            return None, "filtered"
        return mapping.inside, "mapping"

    def inbound(self, protocol: str, remote, outside_port: int, now: float,
                record: bool = True) -> Optional[Endpoint]:
        """A packet from *remote* reaches the outside address on *outside_port*: the inside
        endpoint it is translated to, or ``None`` if no forward or mapping lets it in.

        A packet let in refreshes its session.  A forward hit is recorded as a row
        (a DNAT session) when *record* is true.
        """
        remote = _ep(remote)
        self.expire(now)
        target, how = self.lookup_inbound(protocol, remote, outside_port)
        if target is None:
            return None
        if how == "forward":
            if record:
                key = (protocol, outside_port, remote)
                hit = self._forward_hits.get(key)
                if hit is None:
                    self._forward_hits[key] = _Session(remote, now, now)
                else:
                    hit.refresh(protocol, now)
                self.version += 1
            return target
        mapping = self._by_port[(protocol, outside_port)]
        session = mapping.sessions.get(remote)
        if session is None:
            # A remote the inside never sent to, let in by a looser filter: conntrack
            # would track it as a flow of its own, so it becomes a session (a row).
            mapping.sessions[remote] = _Session(remote, now, now)
        else:
            session.refresh(protocol, now, reply=True)
        self.version += 1
        return target

    def special_ports(self, protocol: str) -> list[int]:
        """Outside ports with a forward or a mapping (sorted): every other port answers alike."""
        ports = {p for (proto, p) in self.forwards if proto == protocol}
        ports.update(p for (proto, p) in self._by_port if proto == protocol)
        return sorted(ports)

    # -- inspection

    def entries(self, now: Optional[float] = None) -> list[NatRow]:
        """Every live session, dynamic mappings first, then forward hits."""
        if now is not None:
            self.expire(now)
        rows = []
        out = self.outside_address
        for mapping in self._by_key.values():
            for session in mapping.sessions.values():
                rows.append(NatRow(mapping.protocol, f"{mapping.inside[0]}:{mapping.inside[1]}",
                                   f"{out}:{mapping.outside_port}",
                                   f"{session.remote[0]}:{session.remote[1]}",
                                   session.created, session.last_used,
                                   session.last_used + self.timeout(mapping.protocol, session), "dynamic"))
        for (protocol, port, remote), session in self._forward_hits.items():
            inside = self.forwards[(protocol, port)]
            rows.append(NatRow(protocol, f"{inside[0]}:{inside[1]}", f"{out}:{port}",
                               f"{remote[0]}:{remote[1]}", session.created, session.last_used,
                               session.last_used + self.timeout(protocol, session), "forward"))
        return rows

    def to_dataframe(self, now: Optional[float] = None):
        import pandas as pd
        return pd.DataFrame(self.entries(now), columns=list(NatRow._fields))

    def __len__(self) -> int:
        return sum(len(m.sessions) for m in self._by_key.values()) + len(self._forward_hits)

    def __repr__(self) -> str:
        return (f"NatTable({self.outside_address}, mapping={self.mapping}, filtering={self.filtering}, "
                f"allocation={self.port_allocation}, sessions={len(self)})")
