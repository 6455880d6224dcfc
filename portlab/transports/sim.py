"""The ``sim`` transport: scans answered by a simulated network, in virtual time.

Nothing is sent and nothing sleeps.  Every probe gets the answer a careful
scanner would end up with against real Linux machines built from the same
scenario (see :mod:`portlab.sim.network`); what the probe *costs* is modelled
separately, so that ``virtual_elapsed`` says how long the scan would take:

* an answered probe costs one round trip (``LINK_RTT``, 0.2 ms);
* packets leave at most one per ``SEND_INTERVAL`` (10 µs, ~100k packets/s), or
  slower under ``timing.rate`` / ``timing.scan_delay``;
* a silent probe (dropped) waits for the timeout, then is retransmitted once
  (nmap retransmits a silent port once unless it has seen later tries answered;
  never more than ``max_retries``).  The timeout is ``min_timeout`` once the host
  has answered anything (an RTT of 0.2 ms clamps to it), else ``initial_timeout``.
  ``max_parallel`` probes wait at once;
* an ICMP error (UDP closed ports, ICMP rejects, router errors) is rate-limited by
  the machine that sends it (:class:`portlab.sim.kernel.IcmpRateLimiter`: a burst
  of 6, then one a second per scanner).  Those probes are replayed against the
  limiter in virtual time.  UDP: an unanswered try costs a timeout and doubles
  the scanner's pause (from 50 ms up to 1 s, as nmap raises its scan delay when
  it sees drops), so a UDP scan of closed ports takes about a second a port
  (measured on the live lab: 30 ports, 24.6 s live, 24.0 s simulated).  TCP:
  an ICMP error only confirms "filtered", so scanners do not slow down for it;
  the retries follow the silent-port rule.  Either way the reply stays the true
  one unless ``icmp_loss=True``.  RSTs are never limited, which is why a SYN scan
  of closed ports is fast.

The network's clock moves forward by the scan's duration, so NAT mappings age and
ICMP buckets refill between scans as they would.
"""

from __future__ import annotations

import asyncio
import bisect
import errno as _errno
import ipaddress
from itertools import compress, repeat
from operator import getitem, sub
from typing import Optional, Sequence, Union

from ..errors import BadInput
from ..sim import kernel
from ..sim.firewall import ip_int
from ..sim.kernel import ICMP, LOCAL_ERROR, RST, SILENCE, SYN_ACK, UDP_REPLY
from ..sim.network import NO_NEIGHBOUR, SCAN_SOURCE_PORT, Answer, SimNetwork, load_scenario
from ..states import PROBE_PORT, PROBE_SCAN_TYPE, PROBE_TARGET, Probe, Reply, ReplyKind, ScanType
from ..timing import Timing
from .base import Exchange, ExchangeColumns, Report, TraceEvent, Transport, report_columns

LINK_RTT = 0.0002
SEND_INTERVAL = 1e-5
MIN_BACKOFF_DELAY = 0.05
MAX_UDP_SCAN_DELAY = 1.0   # nmap's --max-scan-delay default for UDP
ARP_TIMEOUT = 3.0          # connect() to an unanswered neighbour: EHOSTUNREACH after ~3 s

_NONE = Reply(ReplyKind.NONE)
_LOST = Answer(SILENCE, path=("the ICMP error was not sent: the target's ICMP rate limit was empty",))


def _one_scan_type(probes: Sequence[Probe]) -> Optional[ScanType]:
    """The scan type all *probes* share, or None when they mix (or there are none)."""
    # By id: hashing a str-Enum runs Python code, once per probe.
    return probes[0].scan_type if len(set(map(id, map(PROBE_SCAN_TYPE, probes)))) == 1 else None


def observed_reply(answer: Answer, scan_type: ScanType) -> Reply:
    """What a scanner of *scan_type* observes for *answer*.

    A SYN or UDP scan reads the packet itself; a connect scan sees only the errno
    the kernel makes of it (:func:`portlab.sim.kernel.connect_errno`).  A sender
    without a route cannot send at all: ``connect()`` fails with ENETUNREACH, and
    raw SYN/UDP scans report it as ICMP net-unreachable (nmap's reason
    ``net-unreach``), the nearest thing a packet-reading scan can say.
    """
    kind = answer.kind
    if scan_type is ScanType.CONNECT:
        if kind == SYN_ACK:
            return Reply(ReplyKind.CONNECTED)
        if kind == RST:
            return Reply.connect_error(_errno.ECONNREFUSED)
        if kind == ICMP:
            return Reply.connect_error(kernel.connect_errno(answer.icmp_code))
        if kind == LOCAL_ERROR:
            return Reply.connect_error(answer.errno)
        if kind == NO_NEIGHBOUR:
            return Reply.connect_error(_errno.EHOSTUNREACH)
        return _NONE
    if kind == ICMP:
        return Reply.icmp(answer.icmp_code)
    if kind == LOCAL_ERROR:
        if answer.errno == _errno.ENETUNREACH:
            return Reply.icmp(kernel.ICMP_NET_UNREACH)
        return Reply.connect_error(answer.errno)
    if scan_type is ScanType.SYN:
        if kind == SYN_ACK:
            return Reply(ReplyKind.SYN_ACK)
        if kind == RST:
            return Reply(ReplyKind.RST)
        return _NONE
    if kind == UDP_REPLY:
        return Reply(ReplyKind.UDP_DATA)
    return _NONE


class SimTransport(Transport):
    """Scan the simulated network of a scenario (a :class:`~portlab.scenario.Scenario`,
    a file path, or the name of a shipped scenario).

    ``keep_trace=False`` skips building per-probe trace events (the engine passes its
    ``keep_trace``); a full-range scan is then a few microseconds a probe.

    ``icmp_loss=True`` shows what nmap and portlab's live TCP scans really report
    when more ports answer with ICMP errors than the target's rate limit lets out:
    a TCP probe whose every try met an empty bucket gets no reply (``filtered``,
    ``no-response`` instead of ``admin-prohibited``...).  The default keeps the true
    answer of every port (what a scan that paced itself would see), which is what
    the live-lab fidelity check compares.
    """

    name = "sim"
    scan_types = frozenset(ScanType)
    sends_packets = False

    def __init__(self, scenario, *, seed: int = 0, keep_trace: bool = True, icmp_loss: bool = False) -> None:
        self.scenario = load_scenario(scenario)
        self.network = SimNetwork(self.scenario, seed=seed)
        self.keep_trace = keep_trace
        self.icmp_loss = icmp_loss
        self.virtual_elapsed: Optional[float] = None

    @property
    def networks(self) -> list[str]:
        """The scenario's CIDRs: the engine's scope guard lets a simulated scan address them."""
        return self.scenario.cidrs()

    def answers_for(self) -> list[str]:
        return [str(n) for n in self.networks]

    def check(self, scan_type: ScanType) -> None:
        """Nothing to check: a simulated scan needs no privilege."""

    def explain(self, target: str, port: int, scan_type: Union[ScanType, str] = ScanType.SYN) -> list[str]:
        """The story of one probe, hop by hop (for notebooks)."""
        scan_type = ScanType(scan_type)
        answer = self.network.send("scanner", target, port, scan_type.protocol)
        return list(answer.path)

    async def run(self, probes: Sequence[Probe], timing: Timing, report: Report) -> None:
        net = self.network
        # The probes' columns, read once: each pass over 65,535 shuffled probes costs
        # 15-25 ms of cache misses, more than the work done with what it reads.
        targets, ports = list(map(PROBE_TARGET, probes)), list(map(PROBE_PORT, probes))
        scan_type = _one_scan_type(probes)
        for target in set(targets):
            try:
                ipaddress.IPv4Address(target)
            except ValueError:
                raise BadInput(f"target {target}: the simulator models IPv4 networks only "
                               f"(expected an address of scenario {self.scenario.name}: "
                               f"{', '.join(self.networks)})") from None
        net.expire()
        start = net.clock.now
        answers = self._answers_by_table(targets, ports, scan_type) if scan_type is not None else None
        if answers is None:
            answers = await self._answers_one_by_one(probes)

        tries, rtts, sent_at, waits, elapsed, lost = self._schedule(probes, targets, answers, timing, start)
        self.virtual_elapsed = elapsed
        if self.icmp_loss:
            for i in lost:
                answers[i] = _LOST
                rtts[i] = None

        # One Reply per distinct answer and scan type, shared by every probe it answers.
        keep = self.keep_trace
        if not keep and scan_type is not None:
            # The engine's case (one scan type, no traces): the whole scan as columns,
            # each built by a C loop over the probes.
            distinct = dict(zip(map(id, answers), answers))
            reply_of = {key: observed_reply(answer, scan_type) for key, answer in distinct.items()}
            replies_column = list(map(reply_of.__getitem__, map(id, answers)))
            report_columns(report, ExchangeColumns(scan_type, targets, ports, replies_column, tries, rtts))
            net.clock.advance(elapsed)
            return
        replies_by_type: dict[str, dict[int, Reply]] = {}
        scanner = _addr_of(net)
        last_type = None
        replies: dict[int, Reply] = {}
        for i, probe in enumerate(probes):
            answer = answers[i]
            scan_type = probe.scan_type
            if scan_type is not last_type:
                last_type = scan_type
                replies = replies_by_type.setdefault(scan_type.value, {})
            reply = replies.get(id(answer))
            if reply is None:
                reply = replies[id(answer)] = observed_reply(answer, scan_type)
            if keep:
                trace = self._trace(probe, answer, scanner, tries[i], sent_at[i] - start, rtts[i], waits[i])
                report(Exchange(probe, reply, tries[i], rtts[i], trace))
            else:
                report(Exchange(probe, reply, tries[i], rtts[i]))
            if not i & 0x3FFF:
                await asyncio.sleep(0)
        net.clock.advance(elapsed)

    def _answers_by_table(self, targets: list[str], ports: list[int],
                          scan_type: ScanType) -> Optional[list[Answer]]:
        """The answer to each probe (its target and port, all of *scan_type*), read from
        one answer table per target (SimNetwork.answer_table) with C loops; None when
        few ports spread over many hosts (the tables would outgrow the probes)."""
        if not ports:
            return []
        hosts = set(targets)
        lo, hi = min(ports), max(ports)
        if len(hosts) * (hi - lo + 1) > 2 * len(ports) + 65536:
            return None
        protocol = "udp" if scan_type is ScanType.UDP else "tcp"
        net = self.network
        tables = {host: net.answer_table(ip_int(host), protocol, lo, hi) for host in hosts}
        offsets = map(sub, ports, repeat(lo)) if lo else ports
        if len(tables) == 1:
            (table,) = tables.values()
            return list(map(table.__getitem__, offsets))
        return list(map(getitem, map(tables.__getitem__, targets), offsets))

    async def _answers_one_by_one(self, probes: Sequence[Probe]) -> list[Answer]:
        """Every probe's answer, looked up one probe at a time (any mix of probes)."""
        net = self.network
        n = len(probes)
        answers: list[Answer] = [None] * n  # type: ignore[list-item]
        # Per (target, protocol): the network's answers cached by port range.  Keys
        # are plain strings (hashing a str-Enum runs Python code), and consecutive
        # probes to the same target skip the lookup altogether.
        segments_of: dict[tuple[str, str], tuple] = {}
        bisect_right = bisect.bisect_right
        last_target = last_type = None
        dst = 0
        protocol = ""
        starts = ends = found = ()
        for i, probe in enumerate(probes):
            port = probe.port
            if probe.target is not last_target or probe.scan_type is not last_type:
                last_target, last_type = probe.target, probe.scan_type
                protocol = "udp" if last_type is ScanType.UDP else "tcp"
                segs = segments_of.get((last_target, protocol))
                if segs is None:
                    dst = ip_int(last_target)
                    segs = segments_of[(last_target, protocol)] = (dst, *net.segments(dst, protocol))
                dst, starts, ends, found = segs
            j = bisect_right(starts, port) - 1
            if j >= 0 and port <= ends[j]:
                answers[i] = found[j]
            else:
                answers[i] = net.scan_answer(dst, port, protocol)
            if not i & 0x3FFF:
                await asyncio.sleep(0)   # stay cancellable on very large scans

        return answers

    # -- virtual time

    def _schedule(self, probes: Sequence[Probe], targets: list[str], answers: list[Answer], timing: Timing,
                  start: float) -> tuple[list[int], list[Optional[float]], list[float], list[float], float,
                                         list[int]]:
        """Per probe: tries, RTT, first send time and the wait between tries; the scan's
        duration; and the TCP probes whose ICMP errors the rate limit ate on every try."""
        n = len(probes)
        interval = SEND_INTERVAL
        if timing.rate:
            interval = max(interval, 1.0 / timing.rate)
        delay = max(timing.scan_delay, 0.0)
        parallel = max(1, timing.max_parallel)
        silent_tries = 1 + min(1, timing.max_retries)

        # Hosts that answered anything get the short, RTT-based timeout.
        # (From the distinct (target, answer object) pairs: answers are shared, so there
        # are a few dozen, where a Python loop over 65535 probes cost 40 ms.)
        answer_of = dict(zip(map(id, answers), answers))
        answered_hosts = {target for target, key in set(zip(targets, map(id, answers)))
                          if answer_of[key].kind not in (SILENCE, NO_NEIGHBOUR)}

        tries = [1] * n
        rtts: list[Optional[float]] = [LINK_RTT] * n
        step = max(interval, delay)
        sent_at = [start + i * step for i in range(n)] if n else []
        waits = [timing.min_timeout] * n
        silent_cost = 0.0                       # total waiting of silent probes
        limited: dict[tuple[str, str], list[int]] = {}
        # Only silences, local errors and rate-limited ICMP errors cost more than a round
        # trip: visit those probes alone (in order), found by a C loop over answer ids.
        costly = {key for key, answer in answer_of.items()
                  if answer.kind in (SILENCE, NO_NEIGHBOUR, LOCAL_ERROR) or answer.limiter is not None}
        for i in compress(range(n), map(costly.__contains__, map(id, answers))):
            answer = answers[i]
            kind = answer.kind
            if kind in (SILENCE, NO_NEIGHBOUR):
                timeout = timing.min_timeout if targets[i] in answered_hosts else timing.initial_timeout
                if kind == NO_NEIGHBOUR and probes[i].scan_type is ScanType.CONNECT:
                    cost = ARP_TIMEOUT
                    tries[i] = 1
                    rtts[i] = ARP_TIMEOUT
                else:
                    cost = silent_tries * timeout
                    tries[i] = silent_tries
                    rtts[i] = None
                    waits[i] = timeout
                silent_cost += cost
            elif kind == LOCAL_ERROR:
                rtts[i] = 0.0
            elif answer.limiter is not None:
                limited.setdefault(answer.limiter, []).append(i)

        # ICMP errors: replay each limiter's probes against its bucket.
        limited_end = start
        lost: list[int] = []
        tcp_tries = 1 + min(1, timing.max_retries)
        for (machine_name, peer), indices in limited.items():
            limiter = self.network.machines[machine_name].icmp
            timeout = timing.min_timeout
            t = start
            pause = delay
            for i in indices:
                if probes[i].scan_type is not ScanType.UDP:
                    # TCP: an ICMP error only confirms "filtered", so scanners do not slow
                    # down for it (nmap 7.93 -sS against 30 admin-prohibited ports: 1.5 s,
                    # 7 ICMP reasons, 23 no-response).  Retries follow the silent-port rule.
                    tried, got, sent = 0, False, t
                    while tried < tcp_tries and not got:
                        tried += 1
                        got = limiter.allow(peer, sent + (tried - 1) * timeout)
                    tries[i] = tried
                    sent_at[i] = t
                    if not got:
                        lost.append(i)
                    limited_end = max(limited_end, sent + (tried - 1) * timeout + (0 if got else timeout))
                    t += max(interval, delay)
                    continue
                # UDP: the ICMP error is the only way to tell closed from open|filtered, so a
                # careful scanner (nmap) backs off until the replies come: ~1 port a second.
                tried = 0
                first = t
                while True:
                    tried += 1
                    if limiter.allow(peer, t):
                        t += max(pause, interval)
                        break
                    t += timeout
                    pause = min(max(pause * 2, MIN_BACKOFF_DELAY), MAX_UDP_SCAN_DELAY)
                    if tried > timing.max_retries:
                        # A real scan would give up here; the simulator keeps the true
                        # answer (see the module docstring) but counts what it cost.
                        break
                tries[i] = tried
                sent_at[i] = first
                limited_end = max(limited_end, t)

        packets = sum(tries)
        if parallel == 1:
            # One probe at a time (T0-T2): waits add up, as do the pauses between packets.
            answered_wait = sum(LINK_RTT for i in range(n) if rtts[i] == LINK_RTT)
            elapsed = silent_cost + answered_wait + packets * max(interval, delay)
            elapsed = max(elapsed, limited_end - start)
        else:
            send_time = packets * max(interval, delay)
            silent_time = silent_cost / parallel
            if silent_cost:
                # The last wave waits a full timeout whatever the parallelism.
                silent_time = max(silent_time, silent_cost / max(1, sum(1 for r in rtts if r is None)))
            elapsed = max(send_time, silent_time, limited_end - start) + (LINK_RTT if n else 0.0)
        return tries, rtts, sent_at, waits, elapsed, lost

    # -- traces

    @staticmethod
    def _trace(probe: Probe, answer: Answer, scanner: str, tries: int, t0: float,
               rtt: Optional[float], wait: float) -> tuple[TraceEvent, ...]:
        target, port = probe.target, probe.port
        sport = SCAN_SOURCE_PORT
        scan_type = probe.scan_type
        if scan_type is ScanType.CONNECT:
            out = f"connect() {scanner}:{sport} > {target}:{port}"
        elif scan_type is ScanType.SYN:
            out = f"SYN {scanner}:{sport} > {target}:{port}"
        else:
            out = f"UDP {scanner}:{sport} > {target}:{port}"
        kind = answer.kind
        # Unanswered tries are resent after the wait; the last one gets the answer.
        events = [TraceEvent(t0 + k * wait, "sent", out) for k in range(tries)]
        t_last = events[-1].t
        if kind in (SILENCE, NO_NEIGHBOUR) and not (kind == NO_NEIGHBOUR and scan_type is ScanType.CONNECT):
            return tuple(events)
        if scan_type is ScanType.CONNECT:
            reply = observed_reply(answer, scan_type)
            if reply.kind is ReplyKind.CONNECTED:
                text = "connect() succeeded (SYN/ACK)"
            else:
                name = _errno.errorcode.get(reply.errno, str(reply.errno))
                text = f"connect() failed: {name}" + (f" ({answer.describe()})" if kind == ICMP else "")
        elif kind == SYN_ACK:
            text = f"SYN/ACK {answer.responder}:{port} > {scanner}:{sport}"
        elif kind == RST:
            text = f"RST {answer.responder}:{port} > {scanner}:{sport}"
        elif kind == UDP_REPLY:
            text = f"UDP {answer.responder}:{port} > {scanner}:{sport}"
        elif kind == ICMP:
            name = kernel.ICMP_CODE_NAMES.get(answer.icmp_code, "")
            text = f"ICMP 3/{answer.icmp_code} {name} from {answer.responder}"
        else:
            text = f"send failed: {_errno.errorcode.get(answer.errno, answer.errno)}"
        events.append(TraceEvent(t_last + (rtt or 0.0), "recv", text))
        return tuple(events)


def _addr_of(net: SimNetwork) -> str:
    import ipaddress
    return str(ipaddress.IPv4Address(next(iter(net.scanner.addresses))))
