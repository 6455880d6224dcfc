"""The replay transport: answer probes from a recorded scan, send nothing.

A recording (portlab JSON, or nmap ``-oX`` XML) holds states and reasons; the
engine expects replies and classifies them itself.  So replay runs the
classifier backwards: :func:`reply_of_verdict` finds the reply that
:func:`portlab.states.classify` turns into the recorded (state, reason), and a
replayed scan goes through exactly the same code as a live one.

What replay does with a probe the recording cannot answer (documented choice):

* the port was recorded one by one -> its reply, tries, RTT and trace;
* the port was not, but the host has exactly one count-only fold for that
  protocol (an old nmap file: ``<extraports state="closed" count="995">`` without
  port numbers) -> that fold's state and reason, since nmap folds every scanned
  port it did not list;
* anything else (an unknown host, a port outside the recording, a reason no
  reply produces) -> BadInput before any probe is answered, saying what the
  recording holds.  Replay never invents a state.
"""

from __future__ import annotations

import errno as _errno
import functools
import ipaddress
import re
from pathlib import Path
from typing import Optional, Sequence, Union

from ..errors import BadInput
from ..formats.portlist import compress
from ..results import ExtraPorts, HostResult, ScanResult, load
from ..states import STATE_TABLE, PortState, Probe, Reply, ReplyKind, ScanType, classify
from ..timing import Timing
from .base import Exchange, Report, Transport


# -- the classifier, backwards (pure) -------------------------------------------

def _inverse_table() -> dict[tuple[ScanType, PortState, str], Reply]:
    inverse: dict[tuple[ScanType, PortState, str], Reply] = {}
    for (scan_type, kind, detail), (state, reason) in STATE_TABLE.items():
        if kind is ReplyKind.ICMP_UNREACH:
            reply = Reply.icmp(detail)
        elif kind is ReplyKind.CONNECT_ERROR:
            reply = Reply.connect_error(detail)
        else:
            reply = Reply(kind)
        # Several errnos give one verdict (EACCES and EPERM are both admin-prohibited);
        # the first in the table is as good as any, and keeping it makes replay stable.
        inverse.setdefault((scan_type, state, reason), reply)
    return inverse


INVERSE_TABLE: dict[tuple[ScanType, PortState, str], Reply] = _inverse_table()
_ICMP_CODE_REASON = re.compile(r"icmp-unreach-code-(\d+)$")


def reply_of_verdict(scan_type: Union[ScanType, str], state: Union[PortState, str], reason: str) -> Reply:
    """The reply that :func:`classify` turns into (*state*, *reason*) for *scan_type*.

    Covers the state table and the classifier's fallbacks (``icmp-unreach-code-N``,
    errno names).  ValueError when no reply gives that verdict (a ``reset`` to a UDP
    scan, an ``unfiltered`` port, a reason nmap has that portlab does not model).
    """
    scan_type, state = ScanType(scan_type), PortState(state)
    reply = INVERSE_TABLE.get((scan_type, state, reason))
    if reply is None:
        candidate: Optional[Reply] = None
        match = _ICMP_CODE_REASON.match(reason)
        if match and scan_type is not ScanType.CONNECT:
            candidate = Reply.icmp(int(match.group(1)))
        elif scan_type is ScanType.CONNECT and hasattr(_errno, reason.upper()):
            candidate = Reply.connect_error(getattr(_errno, reason.upper()))
        if candidate is not None and tuple(classify(scan_type, candidate)) == (state, reason):
            reply = candidate
    if reply is None:
        raise ValueError(f"no reply to a {scan_type} probe is classified {state} ({reason})")
    return reply


# A replay asks the same few (state, reason) pairs thousands of times.
_cached_reply_of_verdict = functools.lru_cache(maxsize=256)(reply_of_verdict)


# -- the transport ----------------------------------------------------------------

def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


class ReplayTransport(Transport):
    """Answers from a recording: a :class:`ScanResult`, or the path of a JSON / nmap XML file."""

    name = "replay"
    scan_types = frozenset(ScanType)  # narrowed per instance to the recording's scan type
    sends_packets = False

    def answers_for(self) -> list[str]:
        """The recorded hosts: a replay may be asked about them and nothing else."""
        return [h.address for h in self.recording.hosts]

    def __init__(self, recording: Union[ScanResult, str, Path], keep_trace: bool = True):
        self.recording = recording if isinstance(recording, ScanResult) else load(recording)
        self.keep_trace = keep_trace
        self.scan_types = frozenset({ScanType(self.recording.scan_type)})
        self.virtual_elapsed: Optional[float] = None
        self._where = self.recording.source or "the recording"
        # (address, port, protocol) -> PortResult: a 65535-port replay must not search lists.
        self._hosts: dict[str, HostResult] = {}
        self._index = {(host.address, p.port, p.protocol): p
                       for host in self.recording.hosts for p in host.ports}

    def check(self, scan_type: ScanType) -> None:
        recorded = ScanType(self.recording.scan_type)
        if ScanType(scan_type) is not recorded:
            raise BadInput(f"replay of {self._where}: it records a {recorded} scan, "
                           f"so it can only answer {recorded} probes (asked for {ScanType(scan_type)})")

    # The whole recording is checked before any probe is answered, so that a probe
    # the recording cannot answer fails the scan cleanly instead of half-way.
    def exchange(self, probe: Probe) -> Exchange:
        """The exchange the recording gives for one probe (BadInput if it gives none)."""
        if probe.scan_type is not self.recording.scan_type:
            self.check(probe.scan_type)
        host = self._host(probe.target)
        recorded = self._index.get((host.address, probe.port, probe.protocol))
        if recorded is not None:
            state, reason = recorded.state, recorded.reason
        else:
            fold = self._fold(host, probe)
            state, reason = fold.state, max(fold.reasons, key=fold.reasons.get)
        try:
            reply = _cached_reply_of_verdict(probe.scan_type, state, reason)
        except ValueError as err:
            raise BadInput(f"replay of {self._where}: {probe.target} port {probe.port}/{probe.protocol}: "
                           f"{err}") from None
        if recorded is None:
            return Exchange(probe, reply)
        return Exchange(probe, reply, tries=recorded.tries, rtt=recorded.rtt,
                        trace=recorded.trace if self.keep_trace else ())

    def _host(self, target: str) -> HostResult:
        host = self._hosts.get(target)
        if host is None:
            host = self._hosts[target] = self._find_host(target)
        return host

    def _find_host(self, target: str) -> HostResult:
        for host in self.recording.hosts:
            if _same_address(target, host.address) or target == host.name:
                return host
        held = ", ".join(h.address for h in self.recording.hosts) or "no hosts"
        raise BadInput(f"replay of {self._where}: host {target} is not in the recording (it holds {held})")

    def _fold(self, host: HostResult, probe: Probe) -> ExtraPorts:
        folds = [e for e in host.extraports if e.protocol == probe.protocol and e.ports is None and e.reasons]
        named = [e for e in host.extraports if e.protocol == probe.protocol and e.ports and probe.port in e.ports]
        if named:
            return named[0]
        if len(folds) == 1:
            return folds[0]
        held = compress(p.port for p in host.ports if p.protocol == probe.protocol) or "none"
        raise BadInput(f"replay of {self._where}: {host.address} port {probe.port}/{probe.protocol} is not "
                       f"in the recording (it holds {probe.protocol} ports {held})")

    def _recorded_port_count(self) -> int:
        return sum(sum(host.counts().values()) for host in self.recording.hosts)

    async def run(self, probes: Sequence[Probe], timing: Timing, report: Report) -> None:
        exchanges = [self.exchange(probe) for probe in probes]
        total = self._recorded_port_count()
        # A replay of a part of the recording "takes" that part of the recorded time.
        self.virtual_elapsed = self.recording.elapsed_s * (len(probes) / total if total else 0.0)
        for exchange in exchanges:
            report(exchange)


__all__ = ["INVERSE_TABLE", "ReplayTransport", "reply_of_verdict"]
