"""The UDP scan: send a datagram, listen for a datagram or an ICMP error.

Any UDP reply → open; ICMP port unreachable → closed; another ICMP unreachable →
filtered; silence after the retries → open|filtered (states.classify decides).

Two ways to hear the ICMP errors, same results:

* privileged (root / CAP_NET_RAW): a raw ICMP socket reads every unreachable and
  the UDP header it quotes (transport name ``udp``);
* unprivileged (Linux): the probing socket sets ``IP_RECVERR``, and the kernel
  queues each ICMP error for it with the type, the code and the original
  destination (ip(7)), read with ``recvmsg(MSG_ERRQUEUE)`` (transport name
  ``udp-unprivileged``).  Unlike the usual connected-socket trick (ECONNREFUSED or
  nothing), this keeps the exact ICMP code, and it needs one socket for the whole
  scan, not one per port.

ICMP rate limiting.  Linux sends ICMP errors to one peer at about one per
``net.ipv4.icmp_ratelimit`` ms (1000) after a burst of 6, plus a host-wide cap
(``icmp_msgs_per_sec``).  A scanner that fires every probe once calls most closed
ports open|filtered.  So after the first round, a target that has answered with
ICMP but left probes unanswered is *rate limited*: its unanswered probes go into
a paced queue, one every *gap* seconds, where *gap* is measured from the ICMP
arrivals of the first round when there were enough of them, else the local
``icmp_ratelimit`` (the peer is usually configured alike).  A probe that stays
silent while paced costs no token, so the next goes out as soon as it times out;
a paced probe that was silent and then answered on a later try shows that the
gap was too short, and the gap grows by a quarter.  The kernel keeps one bucket per
peer per machine, not per address: targets whose first round drew less than a full
burst (6) share their bucket with another address of the scan (a router's
interfaces), and are paced together as one.

Sockets are created in :meth:`run`, in the calling thread (see raw.py).  IPv4 only.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import socket
import struct
import sys
import time
from typing import Optional, Sequence

from ..errors import BadInput, MissingPrivilege
from ..packets import quoted_destination, unreachable_quote
from ..privilege import has_raw_socket_privilege
from ..states import Probe, Reply, ReplyKind, ScanType
from ..timing import Timing
from ..udp_payloads import payload_for
from .base import LOCAL_FIREWALL_ERRNOS, Exchange, Report, Transport, reported_rtt
from .probebook import ProbeBook
from .raw import Pacer, RttEstimator, allowed_tries, ipv4_targets, wait_readable
from .rawsock import local_icmp_interval, open_raw

IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
SO_EE_ORIGIN_ICMP = 2
_EXTENDED_ERR = struct.Struct("=IBBBBII")   # struct sock_extended_err (linux/errqueue.h)
_QUOTED_PORTS = struct.Struct("!HH")
_UDP_DATA = Reply(ReplyKind.UDP_DATA)
_NONE = Reply(ReplyKind.NONE)
SEND_BATCH = 128
# How many ICMP arrival times per target are kept to measure its ICMP rate.
_ARRIVALS_KEPT = 4096
_GAP_MARGIN = 1.02          # pace a little slower than the measured rate: jitter must not cost a token
_GAP_SLACK = 0.005
# Linux's per-peer ICMP burst (XRLIM_BURST_FACTOR in net/ipv4/icmp.c).
LINUX_ICMP_BURST = 6
# A target that never sent ICMP leaves a shared bucket after this many silent paced probes.
_SILENT_TO_LEAVE = 2


def measured_gap(arrivals: Sequence[float]) -> Optional[float]:
    """The ICMP interval a target keeps once its burst is spent, from arrival times.

    The first half of the arrivals is the burst (or part of it) and is skipped; the
    second half arrives at the sustained rate.  None when there are too few.
    """
    n = len(arrivals)
    if n < 10:
        return None
    half = n // 2
    span = arrivals[-1] - arrivals[half]
    if span <= 0:
        return None
    return span / (n - 1 - half)


class UdpTransport(Transport):
    """UDP scan.  ``privileged=None`` picks the raw ICMP socket when allowed, else IP_RECVERR."""

    name = "udp"
    scan_types = frozenset({ScanType.UDP})

    def __init__(self, privileged: Optional[bool] = None, *, keep_trace: Optional[bool] = None,
                 source_port: Optional[int] = None) -> None:
        self.privileged = privileged
        self.keep_trace = keep_trace
        self.source_port = source_port
        self.probes_sent = 0
        self.gaps: dict[str, float] = {}   # the ICMP pacing used per target (for reports)
        self.shared: list[set[str]] = []    # targets paced as one ICMP bucket (one machine)

    def _use_raw(self) -> bool:
        return has_raw_socket_privilege() if self.privileged is None else self.privileged

    def check(self, scan_type: ScanType) -> None:
        if ScanType(scan_type) is not ScanType.UDP:
            raise BadInput(f"the udp transport runs UDP scans, not {scan_type}")
        if self._use_raw():
            if self.privileged and not has_raw_socket_privilege():
                raise MissingPrivilege("a privileged UDP scan reads ICMP from a raw socket and needs "
                                       "root or CAP_NET_RAW; leave privileged unset to scan without")
            self.name = "udp"
        elif not sys.platform.startswith("linux"):
            raise MissingPrivilege("a UDP scan needs root (raw ICMP socket) or Linux (IP_RECVERR) "
                                   "to hear ICMP errors; use -s connect for TCP instead")
        else:
            self.name = "udp-unprivileged"

    async def run(self, probes: Sequence[Probe], timing: Timing, report: Report) -> None:
        self.check(ScanType.UDP)
        ipv4_targets(probes, "UDP")
        if not probes:
            return
        raw = self.name == "udp"
        udp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        icmp_sock: Optional[socket.socket] = None
        try:
            udp_sock.setblocking(False)
            udp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            udp_sock.bind(("0.0.0.0", self.source_port or 0))
            if raw:
                icmp_sock = open_raw(socket.IPPROTO_ICMP)
            else:
                udp_sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            scan = _UdpScan(probes, timing, report, udp_sock, icmp_sock,
                            trace=self.keep_trace if self.keep_trace is not None else len(probes) <= 1024)
            socks = [s for s in (udp_sock, icmp_sock) if s is not None]
            while not scan.finished:
                now = time.monotonic()
                scan.receive()
                scan.expire(now)
                sent = scan.send(now)
                scan.receive()
                if sent:
                    await asyncio.sleep(0)
                else:
                    await wait_readable(socks, scan.idle_wait(time.monotonic()))
            self.probes_sent = scan.sent_total
            self.gaps = {t.address: t.bucket.gap for t in scan.targets.values() if t.bucket}
            buckets = {id(t.bucket): t.bucket for t in scan.targets.values() if t.bucket}
            self.shared = [set(b.members) for b in buckets.values() if len(b.members) > 1]
        finally:
            udp_sock.close()
            if icmp_sock is not None:
                icmp_sock.close()


class _Bucket:
    """One ICMP rate limiter on the far side, as far as we can tell: usually one per
    target, but the addresses of one machine (a router's interfaces) share the kernel's
    bucket, since Linux keys it by the peer it answers, not by the address it answers for."""

    __slots__ = ("gap", "token_at", "paced", "members")

    def __init__(self, gap: float, token_at: float) -> None:
        self.gap = gap                      # seconds between paced probes
        self.token_at = token_at            # when the last ICMP token was (assumed) spent
        self.paced: collections.deque[int] = collections.deque()
        self.members: list[str] = []


class _Target:
    __slots__ = ("address", "rtt", "best_try", "arrivals", "bucket", "icmp_seen", "first_sent",
                 "silent_paced", "never_pace")

    def __init__(self, address: str, timing: Timing) -> None:
        self.address = address
        self.rtt = RttEstimator(timing)
        self.best_try = 1
        self.arrivals: list[float] = []     # ICMP error arrival times (first _ARRIVALS_KEPT)
        self.icmp_seen = 0
        self.bucket: Optional[_Bucket] = None   # set once its ICMP errors look rate limited
        self.silent_paced = 0               # paced probes in a row that drew nothing
        self.never_pace = False             # shown to be silent, not starved of ICMP
        self.first_sent: Optional[float] = None


class _UdpScan(ProbeBook):
    """The state of one UDP scan: the probe book and the ICMP pacing only UDP needs."""

    def __init__(self, probes: Sequence[Probe], timing: Timing, report: Report,
                 udp_sock: socket.socket, icmp_sock: Optional[socket.socket], *, trace: bool) -> None:
        super().__init__(probes, report, trace=trace, started=time.monotonic())
        self.timing = timing
        self.udp_sock = udp_sock
        self.icmp_sock = icmp_sock
        self.sport = udp_sock.getsockname()[1]
        self.prior_gap = local_icmp_interval()
        self.targets: dict[str, _Target] = {}
        self.index: dict[tuple[str, int], int] = {}
        self.target_of: list[_Target] = []
        for i, probe in enumerate(self.probes):
            target = self.targets.get(probe.target)
            if target is None:
                target = self.targets[probe.target] = _Target(probe.target, timing)
            self.target_of.append(target)
            self.index.setdefault((probe.target, probe.port), i)
        self.paced_miss = [False] * len(self.probes)   # a paced try of it went unanswered
        self.buckets: list[_Bucket] = []
        # The bucket of targets that drew less than a full ICMP burst: one machine's
        # bucket, shared by several of its addresses.
        self.low_burst: Optional[_Bucket] = None
        # Retries held back until a target's ICMP bucket has had time to refill (see expire).
        self.deferred: collections.deque[tuple[float, int]] = collections.deque()
        self.pacer = Pacer(timing)
        self.max_in_flight = max(1, timing.max_parallel)
        self._backoff_until = 0.0

    # --- sending ----------------------------------------------------------------

    def _send_one(self, i: int, now: float, paced: bool) -> bool:
        probe = self.probes[i]
        try:
            self.udp_sock.sendto(payload_for(probe.port), (probe.target, probe.port))
        except (BlockingIOError, InterruptedError):
            self._backoff_until = now + 0.001
            return False
        except OSError as err:
            if err.errno in (errno.ENOBUFS, errno.EAGAIN):
                self._backoff_until = now + 0.001
                return False
            if err.errno not in LOCAL_FIREWALL_ERRNOS:
                # With IP_RECVERR a pending ICMP error is also reported by the next send,
                # which then sends nothing; the error itself waits in the error queue.
                self._backoff_until = now
                return False
            # This machine's own output firewall dropped the datagram.  To the scan
            # that is a probe sent and never answered, as nmap counts it: it times out
            # and is retried like any other, instead of being offered again forever.
        self.sent(i, now, paced)
        target = self.target_of[i]
        if target.first_sent is None:
            target.first_sent = now
        if self.trace_on:
            self.note(i, now, "sent", f"UDP :{self.sport} > {probe.target}:{probe.port} "
                                      f"({len(payload_for(probe.port))} bytes)")
        return True

    def send(self, now: float) -> int:
        while self.deferred and self.deferred[0][0] <= now:
            self.queue.append(self.deferred.popleft()[1])
        sent = self._send_paced(now)
        if now < self._backoff_until:
            return sent
        want = min(SEND_BATCH, self.max_in_flight - self.live, len(self.queue))
        if want <= 0:
            return sent
        want = self.pacer.allowance(now, want)
        n = 0
        while n < want and self.queue:
            i = self.queue[0]
            if self.done[i]:
                self.queue.popleft()
                continue
            target = self.target_of[i]
            if self.tries[i] and self._starved(target):
                self._join(target, self.low_burst)
            if target.bucket is not None:
                # Retries to a rate-limited target wait their turn in its bucket's paced queue.
                self.queue.popleft()
                target.bucket.paced.append(i)
                continue
            if not self._send_one(i, now, paced=False):
                break
            self.queue.popleft()
            n += 1
        return sent + n

    def _send_paced(self, now: float) -> int:
        sent = 0
        for bucket in self.buckets:
            if not bucket.paced or now < bucket.token_at + bucket.gap:
                continue
            while bucket.paced and self.done[bucket.paced[0]]:
                bucket.paced.popleft()
            if not bucket.paced:
                continue
            i = bucket.paced[0]
            if self.target_of[i].bucket is not bucket:   # its target left the bucket
                self.queue.append(bucket.paced.popleft())
                continue
            if self._send_one(i, now, paced=True):
                bucket.paced.popleft()
                # Assume the probe spends the token; a silent outcome gives it back (expire).
                bucket.token_at = now
                sent += 1
        return sent

    # --- receiving --------------------------------------------------------------

    def receive(self) -> None:
        self._receive_udp()
        if self.icmp_sock is not None:
            self._receive_icmp_raw()
        else:
            self._receive_errqueue()

    def _receive_udp(self) -> None:
        while True:
            try:
                data, (addr, port) = self.udp_sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                if err.errno in (errno.EAGAIN,):
                    return
                # IP_RECVERR: the socket reports a queued ICMP error once; read it from the queue.
                continue
            i = self.index.get((addr, port))
            if i is None or self.done[i]:
                continue
            bucket = self.target_of[i].bucket
            if bucket is not None and bucket.token_at == self.sent_at[i]:
                bucket.token_at = 0.0   # a UDP answer spends no ICMP token
            self._answer(i, _UDP_DATA, f"UDP {addr}:{port} > :{self.sport} ({len(data)} bytes)")

    def _receive_icmp_raw(self) -> None:
        recv = self.icmp_sock.recv
        while True:
            try:
                packet = recv(576)
            except (BlockingIOError, InterruptedError):
                return
            quote = unreachable_quote(packet, socket.IPPROTO_UDP, 4)
            if quote is None:
                continue
            code, offset = quote
            q_sport, q_dport = _QUOTED_PORTS.unpack_from(packet, offset)
            if q_sport != self.sport:
                continue
            dst = socket.inet_ntoa(quoted_destination(packet))
            self._icmp(dst, q_dport, code, socket.inet_ntoa(packet[12:16]))

    def _receive_errqueue(self) -> None:
        while True:
            try:
                _data, ancdata, _flags, addr = self.udp_sock.recvmsg(64, 512, MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                if err.errno == errno.EAGAIN:
                    return
                continue
            for level, kind, cmsg in ancdata:
                if level != socket.IPPROTO_IP or kind != IP_RECVERR or len(cmsg) < _EXTENDED_ERR.size:
                    continue
                _errno, origin, icmp_type, code, _pad, _info, _data2 = _EXTENDED_ERR.unpack_from(cmsg)
                if origin != SO_EE_ORIGIN_ICMP or icmp_type != 3 or not addr:
                    continue
                # The offender (who sent the ICMP) follows the struct as a sockaddr_in.
                offender = addr[0]
                if len(cmsg) >= _EXTENDED_ERR.size + 8:
                    offender = socket.inet_ntoa(cmsg[_EXTENDED_ERR.size + 4:_EXTENDED_ERR.size + 8])
                self._icmp(addr[0], addr[1], code, offender)

    def _icmp(self, dst: str, port: int, code: int, offender: str) -> None:
        target = self.targets.get(dst)
        if target is None:
            return
        now = time.monotonic()
        target.icmp_seen += 1
        target.silent_paced = 0
        if len(target.arrivals) < _ARRIVALS_KEPT:
            target.arrivals.append(now)
        i = self.index.get((dst, port))
        if i is None or self.done[i]:
            return
        bucket = target.bucket
        if bucket is not None:
            if self.paced_miss[i]:
                # It was silent when paced, and answers now: the gap was too short.
                bucket.gap = min(bucket.gap * 1.25, max(self.timing.max_timeout, bucket.gap))
            bucket.token_at = max(bucket.token_at, now - (target.rtt.srtt or 0.0))
        self._answer(i, Reply.icmp(code), f"ICMP unreachable code {code} from {offender}")

    def _answer(self, i: int, reply: Reply, summary: str) -> None:
        now = time.monotonic()
        target = self.target_of[i]
        rtt = None
        if self.flying[i]:
            rtt = now - self.sent_at[i]
            # Karn's rule is approximate here (UDP carries no try number): a reply while a
            # try is in flight is credited to it.
            if self.tries[i] == 1:
                target.rtt.sample(rtt)
            rtt = reported_rtt(rtt)
        if self.tries[i] > target.best_try:
            target.best_try = self.tries[i]
        self.note(i, now, "recv", summary)
        self.finish(i, Exchange(self.probes[i], reply, tries=self.tries[i], rtt=rtt, trace=self.trace_of(i)))

    # --- timeouts and rounds -----------------------------------------------------

    def expire(self, now: float) -> None:
        while (due := self.oldest_due(now, self._timeout_of)) is not None:
            sent, i, tryno, paced = due
            target = self.target_of[i]
            self.park(i)
            if paced and target.bucket is not None:
                self.paced_miss[i] = True
                if target.bucket.token_at == sent:
                    target.bucket.token_at = 0.0   # silent: it spent no token, the next may go now
                if not target.icmp_seen:
                    target.silent_paced += 1
                    if target.silent_paced >= _SILENT_TO_LEAVE:
                        # It had the bucket's turn several times and never answered: a
                        # silent host, not a starved one.  Retry it like any other.
                        target.bucket.members.remove(target.address)
                        target.bucket = None
                        target.never_pace = True
            if target.icmp_seen and target.bucket is None:
                self._start_pacing(target, now)
            elif self._starved(target):
                self._join(target, self.low_burst)
            if tryno < self._allowed(target):
                if target.bucket is not None:
                    target.bucket.paced.append(i)
                elif not target.icmp_seen:
                    # No ICMP from this target yet: its ports may be silent, or its ICMP
                    # bucket may be empty (spent by an earlier scan).  Retry only once a
                    # token has had time to come back, or every closed port looks silent.
                    release = max(now, (target.first_sent or now) + self.prior_gap * _GAP_MARGIN + _GAP_SLACK)
                    self.deferred.append((release, i))
                else:
                    self.queue.append(i)
            else:
                self.finish(i, Exchange(self.probes[i], _NONE, tries=tryno, trace=self.trace_of(i)))

    def _timeout_of(self, i: int) -> float:
        return self.target_of[i].rtt.timeout

    def _allowed(self, target: _Target) -> int:
        tries = allowed_tries(self.timing, target.best_try)
        if target.bucket is not None:
            # A closed port whose first try met an empty ICMP bucket is answered on the
            # first paced try: a rate-limited target always earns that one more try.
            tries = max(tries, min(1 + self.timing.max_retries, 3))
        return tries

    def _start_pacing(self, target: _Target, now: float) -> None:
        """The target answers with ICMP yet leaves probes unanswered: rate limiting.

        A target whose first round drew fewer ICMP errors than a Linux burst found its
        bucket partly spent, most likely by another address of the same machine in
        this scan; all such targets are paced as one bucket.  A target that drew a
        full burst has a bucket of its own.
        """
        measured = measured_gap(target.arrivals)
        gap = (measured if measured is not None else self.prior_gap) * _GAP_MARGIN + _GAP_SLACK
        token_at = target.arrivals[-1] if target.arrivals else now
        if target.icmp_seen < LINUX_ICMP_BURST and self.low_burst is not None:
            bucket = self.low_burst
            bucket.gap = max(bucket.gap, gap)
            bucket.token_at = max(bucket.token_at, token_at)
        elif target.icmp_seen < LINUX_ICMP_BURST:
            bucket = self.low_burst = _Bucket(gap, token_at)
            self.buckets.append(bucket)
        else:
            bucket = _Bucket(gap, token_at)
            self.buckets.append(bucket)
        self._join(target, bucket)

    def _starved(self, target: _Target) -> bool:
        """No ICMP from it at all while another target's bucket ran short: maybe an address
        of that same machine spent every token before our probes came.  Pace it with
        them; if it stays silent on its turns it leaves again (a dead host costs
        _SILENT_TO_LEAVE timeouts, not a wrong answer)."""
        return (target.bucket is None and not target.icmp_seen and not target.never_pace
                and self.low_burst is not None)

    @staticmethod
    def _join(target: _Target, bucket: _Bucket) -> None:
        bucket.members.append(target.address)
        target.bucket = bucket

    def idle_wait(self, now: float) -> float:
        waits = [0.05]
        if self.queue:
            waits.append(max(self.pacer.wait(now), self._backoff_until - now, 0.0005))
        if self.deferred:
            waits.append(max(0.0005, self.deferred[0][0] - now))
        for bucket in self.buckets:
            if bucket.paced:
                waits.append(max(0.0005, bucket.token_at + bucket.gap - now))
        if self.in_flight:
            sent, i, _, _ = self.in_flight[0]
            waits.append(max(0.0, sent + self.target_of[i].rtt.timeout - now))
        return min(waits)
