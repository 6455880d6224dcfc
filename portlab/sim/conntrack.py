"""Connection tracking, just enough to decide ``ct state established,related``.

A stateful firewall lets a packet through without reading its rules when it belongs
to a flow already allowed: a reply to a connection the machine opened, or a reply
(or ICMP error) to one it let in.  :class:`ConntrackTable` records flows by their
5-tuple as Linux conntrack does and answers "is this packet part of a known flow?".
Pure: time comes in as ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

# Linux's defaults (nf_conntrack_*_timeout): an unreplied UDP flow 30 s, a replied
# one ("stream") 120 s; TCP established 5 days, a half-open SYN_SENT 120 s.
UDP_TIMEOUT = 30.0
UDP_STREAM_TIMEOUT = 120.0
TCP_SYN_SENT_TIMEOUT = 120.0
TCP_ESTABLISHED_TIMEOUT = 432000.0


class FlowKey(NamedTuple):
    protocol: str
    src: str
    sport: int
    dst: str
    dport: int

    def reversed(self) -> "FlowKey":
        return FlowKey(self.protocol, self.dst, self.dport, self.src, self.sport)

    def __str__(self) -> str:
        return f"{self.protocol} {self.src}:{self.sport} > {self.dst}:{self.dport}"


@dataclass
class Flow:
    key: FlowKey           # the direction of the first packet ("original")
    created: float
    last_seen: float
    replied: bool = False

    @property
    def state(self) -> str:
        return "ESTABLISHED" if self.replied else "NEW"

    def timeout(self) -> float:
        if self.key.protocol == "tcp":
            return TCP_ESTABLISHED_TIMEOUT if self.replied else TCP_SYN_SENT_TIMEOUT
        return UDP_STREAM_TIMEOUT if self.replied else UDP_TIMEOUT


class ConntrackTable:
    """One machine's tracked flows."""

    def __init__(self) -> None:
        self._flows: dict[FlowKey, Flow] = {}

    def _live(self, key: FlowKey, now: float) -> Optional[Flow]:
        flow = self._flows.get(key)
        if flow is not None and now >= flow.last_seen + flow.timeout():
            del self._flows[key]
            return None
        return flow

    def track(self, key: FlowKey, now: float) -> Flow:
        """A packet of a new (or known) flow goes through in its original direction."""
        flow = self._live(key, now)
        if flow is None:
            flow = self._flows[key] = Flow(key, now, now)
        else:
            flow.last_seen = now
        return flow

    def is_reply(self, key: FlowKey, now: float) -> bool:
        """Is a packet with 5-tuple *key* the reply direction of a tracked flow?
        (ICMP errors about a flow are "related" and pass the same way.)  Marks it replied."""
        flow = self._live(key.reversed(), now)
        if flow is None:
            return False
        flow.replied = True
        flow.last_seen = now
        return True

    def flows(self, now: Optional[float] = None) -> list[Flow]:
        if now is not None:
            for key in list(self._flows):
                self._live(key, now)
        return list(self._flows.values())

    def __len__(self) -> int:
        return len(self._flows)
