"""The SYN ("half-open") scan over Linux raw sockets.

One raw TCP socket sends hand-built SYN segments (the kernel adds the IP header)
and receives every TCP segment that arrives; one raw ICMP socket receives the
unreachables.  Replies are matched to probes by address, ports and the
acknowledged sequence number, so stray traffic is ignored.

Why it is fast: a SYN costs one incremental checksum and one ``sendto``; sends go
out in batches with the receive queues drained between them (a large
``SO_RCVBUF`` absorbs the bursts of RSTs); the timeout follows the measured RTT
(srtt + 4·rttvar, RFC 6298) within the Timing bounds; only unanswered probes are
sent again, and only as often as answers show it helps (nmap's
max-successful-try rule).  ICMP errors are rate limited by the target's kernel,
so a rejected port may answer with silence, as a dropped one does.  When a host
leaves only a few probes silent (at most ``MAX_SILENT``), witness rounds settle
them (:mod:`portlab.transports.witness`): asked again, followed by a port of the
same host that answered with an ICMP error, they are drops if that witness gets
its error, else the next round waits for the bucket to refill.

IPv4 only: an IPv6 target is a BadInput (a connect scan handles IPv6).
Sockets are created in :meth:`run`, in the calling thread, so a scan that runs in
a thread which entered a network namespace sends from inside it.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import ipaddress
import random
import socket
import struct
import time
from operator import attrgetter
from typing import Iterable, Optional, Sequence

from ..errors import BadInput
from ..packets import SynTemplate, quoted_destination, unreachable_quote
from ..privilege import require_raw_privilege
from ..states import PROBE_PORT, PROBE_TARGET, Probe, Reply, ReplyKind, ScanType
from ..timing import RttEstimator, Timing
from .base import LOCAL_FIREWALL_ERRNOS, Exchange, Report, Transport, reported_rtt
from .probebook import ProbeBook
from .rawsend import SendHelper
from .rawsock import local_icmp_interval, open_raw
from .witness import GAVE_UP, MAX_SILENT, WitnessRounds, dropped_because, refill_gap

#: Scans of at least this many probes send from a helper process (rawsend.py): below
#: it, starting one (~20 ms) costs more than it saves.
HELPER_PROBES = 4096

SEND_BATCH = 256
# A raw probe holds no file descriptor, so the fd-driven parallelism cap of the
# timing templates is lifted to this, unless the template asks for serial probes.
RAW_MAX_IN_FLIGHT = 8192
# The try number rides in the low bits of the sequence number (see _seq).
_TRY_BITS = 4
_MAX_TRIES = 1 << _TRY_BITS

_TCP_REPLY = struct.Struct("!HHIIBB")
_QUOTED_TCP = struct.Struct("!HHI")
_SYN_ACK = Reply(ReplyKind.SYN_ACK)
_RST = Reply(ReplyKind.RST)
_NONE = Reply(ReplyKind.NONE)
_PACKED = attrgetter("packed")                       # of a _Target


def ipv4_targets(probes: Sequence[Probe], scan: str) -> None:
    """Raise BadInput for a target a raw IPv4 scan cannot probe."""
    for target in {probe.target for probe in probes}:
        try:
            version = ipaddress.ip_address(target).version
        except ValueError:
            raise BadInput(f"{scan} scan target {target!r}: expected an IPv4 address "
                           "(names are resolved before the transport)") from None
        if version != 4:
            raise BadInput(f"{scan} scan target {target}: raw scans are IPv4 only; "
                           "use -s connect for IPv6")


def route_source(target: str) -> str:
    """The address the kernel would send from to reach *target*.

    Connecting a UDP socket only looks up the route; no packet leaves.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((target, 9))
        except OSError as err:
            raise BadInput(f"no route to {target}: {err.strerror}") from None
        return sock.getsockname()[0]


def port_filter(dport_offset: int, port: int) -> bytes:
    """A classic BPF program: keep IPv4 packets whose transport header has *port* at
    *dport_offset* (2 = destination port), drop the rest.

    A raw TCP socket gets a copy of every TCP segment the host receives; filtering in
    the kernel means Python never wakes up for traffic that is not ours (and, on
    loopback, not for our own SYNs coming back in).
    """
    insns = [
        (0xB1, 0, 0, 0),             # ldxb 4*([0]&0xf)   X = IP header length
        (0x48, 0, 0, dport_offset),  # ldh [x + offset]
        (0x15, 0, 1, port),          # jeq #port, accept, drop
        (0x06, 0, 0, 0xFFFF),        # ret #65535          accept
        (0x06, 0, 0, 0),             # ret #0              drop
    ]
    return b"".join(struct.pack("HBBI", *insn) for insn in insns)


def attach_filter(sock: socket.socket, program: bytes) -> None:
    """SO_ATTACH_FILTER; the kernel copies the program, so the buffer may go after."""
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("HP", len(program) // 8, ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, 26, fprog)  # SO_ATTACH_FILTER


async def wait_readable(socks: Iterable[socket.socket], timeout: float) -> None:
    """Sleep until one of *socks* has data or *timeout* passes (cancellation-safe)."""
    if timeout <= 0:
        await asyncio.sleep(0)
        return
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fds = [s.fileno() for s in socks]

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    for fd in fds:
        loop.add_reader(fd, wake)
    try:
        await asyncio.wait_for(ready, timeout)
    except asyncio.TimeoutError:
        pass
    finally:
        for fd in fds:
            loop.remove_reader(fd)


class Pacer:
    """Spaces sends by ``timing.rate`` (packets/s) and ``timing.scan_delay``."""

    __slots__ = ("interval", "next_at")

    def __init__(self, timing: Timing) -> None:
        interval = timing.scan_delay or 0.0
        if timing.rate:
            interval = max(interval, 1.0 / timing.rate)
        self.interval = interval
        self.next_at = 0.0

    def allowance(self, now: float, wanted: int) -> int:
        """How many packets may go now (at most *wanted*)."""
        if not self.interval:
            return wanted
        if now < self.next_at:
            return 0
        # Allow a small catch-up burst, not an unbounded one after an idle wait.
        n = min(wanted, max(1, int((now - self.next_at) / self.interval) + 1), 64)
        self.next_at = max(self.next_at, now - self.interval) + n * self.interval
        return n

    def wait(self, now: float) -> float:
        return max(0.0, self.next_at - now) if self.interval else 0.0


def allowed_tries(timing: Timing, best_answered_try: int) -> int:
    """How many times an unanswered probe is sent.

    nmap's rule: one try more than the latest try that ever got an answer (at
    least 2), never more than 1 + max_retries.  On a clean network every answer
    comes on the first try, so silent ports are sent twice, not eleven times.
    """
    return max(1, min(1 + timing.max_retries, _MAX_TRIES, max(2, best_answered_try + 1)))




class _Target:
    __slots__ = ("address", "packed", "source", "template", "rtt", "best_try",
                 "witness", "limbo", "overflow", "rounds")

    def __init__(self, address: str, source: str, sport: int, timing: Timing) -> None:
        self.address = address
        self.packed = socket.inet_aton(address)
        self.source = source
        self.template = SynTemplate(source, address, sport)
        self.rtt = RttEstimator(timing)
        self.best_try = 1
        self.witness: Optional[int] = None  # a port that answered with an ICMP error
        self.limbo: list[int] = []          # silent after its tries, waiting for the rounds
        self.overflow = False               # too many silent probes: a dropped range
        self.rounds: Optional[WitnessRounds[int]] = None


class RawSynTransport(Transport):
    """SYN scan: SYN/ACK → open, RST → closed, ICMP unreachable or silence → filtered."""

    name = "raw"
    scan_types = frozenset({ScanType.SYN})

    def __init__(self, *, keep_trace: Optional[bool] = None, source_port: Optional[int] = None,
                 send_helper: bool = True) -> None:
        # keep_trace=None keeps packet traces for small scans only (they are for teaching;
        # 65535 of them cost time and memory nobody reads).
        self.keep_trace = keep_trace
        self.source_port = source_port
        # Large scans send from a helper process (see rawsend.py); False sends inline.
        self.send_helper = send_helper
        self.probes_sent = 0

    def check(self, scan_type: ScanType) -> None:
        if ScanType(scan_type) is not ScanType.SYN:
            raise BadInput(f"the raw transport runs SYN scans, not {scan_type}")
        require_raw_privilege("SYN (-s syn)", "-s connect (a full TCP connect, no privilege needed)")

    async def run(self, probes: Sequence[Probe], timing: Timing, report: Report) -> None:
        self.check(ScanType.SYN)
        ipv4_targets(probes, "SYN")
        if not probes:
            return
        tcp_sock = open_raw(socket.IPPROTO_TCP)
        try:
            icmp_sock = open_raw(socket.IPPROTO_ICMP)
        except BaseException:
            tcp_sock.close()
            raise
        helper = None
        try:
            scan = _SynScan(probes, timing, report, tcp_sock, icmp_sock,
                            trace=self.keep_trace if self.keep_trace is not None else len(probes) <= 1024,
                            sport=self.source_port)
            if len(probes) >= HELPER_PROBES and timing.max_parallel > 1 and self.send_helper:
                try:
                    helper = scan.helper = SendHelper(tcp_sock)
                except OSError:
                    helper = None   # no interpreter to start (an embedded Python): send inline
            while not scan.finished:
                now = time.monotonic()
                scan.receive()
                scan.expire(now)
                sent = scan.send(now)
                scan.receive()
                if sent:
                    await asyncio.sleep(0)  # let a cancellation in between batches
                else:
                    await wait_readable((tcp_sock, icmp_sock), scan.idle_wait(time.monotonic()))
            if helper is not None:
                helper.check()
            self.probes_sent = scan.sent_total
        finally:
            if helper is not None:
                helper.close()
            tcp_sock.close()
            icmp_sock.close()


def syn_error_quote(packet: bytes, sport: int) -> Optional[tuple[int, bytes, int, int]]:
    """If *packet* (IPv4 with header, as a raw ICMP socket reads it) is an ICMP
    destination-unreachable quoting a TCP segment sent from our source port *sport*:
    ``(code, quoted destination address, quoted destination port, quoted seq)``.

    Pure, so that what the SYN scan accepts is tested without a raw socket: an error
    that quotes another source port answers someone else's connection, never our probe.
    """
    quote = unreachable_quote(packet, socket.IPPROTO_TCP, 8)
    if quote is None:
        return None
    code, offset = quote
    q_sport, q_dport, q_seq = _QUOTED_TCP.unpack_from(packet, offset)
    if q_sport != sport:
        return None
    return code, quoted_destination(packet), q_dport, q_seq


class _SynScan(ProbeBook):
    """The state of one SYN scan: the probe book (queued, in flight, answered) and what
    only a SYN scan keeps.  Socket calls only in send() and receive()."""

    def __init__(self, probes: Sequence[Probe], timing: Timing, report: Report,
                 tcp_sock: socket.socket, icmp_sock: socket.socket, *, trace: bool,
                 sport: Optional[int]) -> None:
        super().__init__(probes, report, trace=trace, started=time.monotonic())
        self.timing = timing
        self.tcp_sock = tcp_sock
        self.icmp_sock = icmp_sock
        self.sport = sport or random.randint(40000, 59999)
        attach_filter(tcp_sock, port_filter(2, self.sport))
        self.base_seq = random.getrandbits(32)
        self.targets: dict[bytes, _Target] = {}
        by_address: dict[str, _Target] = {}
        addresses = list(map(PROBE_TARGET, self.probes))
        for address in dict.fromkeys(addresses):
            packed = socket.inet_aton(address)
            target = self.targets.get(packed)
            if target is None:
                target = self.targets[packed] = _Target(address, route_source(address), self.sport, timing)
            by_address[address] = target
        self.target_of: list[_Target] = list(map(by_address.__getitem__, addresses))
        # (packed address, port) -> the first probe that asks it (built back to front,
        # so the first one wins), in C loops: a Python loop here cost 0.1 s a full range.
        keys = list(zip(map(_PACKED, self.target_of), map(PROBE_PORT, self.probes)))
        self.index: dict[tuple[bytes, int], int] = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1)))
        self.pacer = Pacer(timing)
        self.max_in_flight = 1 if timing.max_parallel <= 1 else max(timing.max_parallel, RAW_MAX_IN_FLIGHT)
        self._backoff_until = 0.0
        self.helper: Optional[SendHelper] = None   # set by the transport for large scans
        self.prior_gap = local_icmp_interval()
        self.held: set[int] = set()               # probes in a limbo or the witness rounds
        self.round_targets: Optional[list[_Target]] = None   # set when the rounds begin

    def _seq(self, port: int, tryno: int) -> int:
        # Port in the high bits, try in the low bits: a reply's ACK names both the probe
        # and which try it answers (for a clean RTT sample, Karn's rule).
        return (self.base_seq + (port << _TRY_BITS) + tryno) & 0xFFFFFFFF

    def _try_of(self, port: int, seq: int) -> int:
        return (seq - self.base_seq - (port << _TRY_BITS)) & 0xFFFFFFFF

    # --- sending ----------------------------------------------------------------

    def send(self, now: float) -> int:
        sent = self._send_rounds(now) if self.held and not self.queue else self._send_main(now)
        if self.helper is not None:
            self.helper.flush()
        return sent

    def _send_main(self, now: float) -> int:
        if now < self._backoff_until:
            return 0
        room = self.max_in_flight - self.live
        want = min(SEND_BATCH, room, len(self.queue))
        if want <= 0:
            return 0
        want = self.pacer.allowance(now, want)
        sent = 0
        while sent < want and self.queue:
            i = self.queue[0]
            if self.done[i]:
                self.queue.popleft()
                continue
            if not self._send_probe(i, now):
                break
            self.queue.popleft()
            sent += 1
        return sent

    def _send_probe(self, i: int, now: float) -> bool:
        probe = self.probes[i]
        target = self.target_of[i]
        tryno = self.tries[i]
        segment = target.template.segment(probe.port, self._seq(probe.port, tryno))
        if not self._emit(segment, target, now):
            return False
        self.sent(i, now)
        if self.trace_on:
            self.note(i, now, "sent", f"SYN {target.source}:{self.sport} > {target.address}:{probe.port}")
        return True

    def _emit(self, segment: bytes, target: _Target, now: float) -> bool:
        """Send one segment (or queue it for the send helper); False: not sent (the
        device queue is full), try later."""
        if self.helper is not None:
            self.helper.add(segment, target.packed)
            return True
        try:
            self.tcp_sock.sendto(segment, (target.address, 0))
        except (BlockingIOError, InterruptedError):
            self._backoff_until = now + 0.001
            return False
        except OSError as err:
            if err.errno in (errno.ENOBUFS, errno.EAGAIN):
                self._backoff_until = now + 0.001  # the device queue is full; let it drain
                return False
            if err.errno not in LOCAL_FIREWALL_ERRNOS:
                raise
            # This machine's own output firewall dropped the SYN (netfilter answers the
            # sender with EPERM).  nmap counts it as sent and unanswered: filtered,
            # no-response after the retries.  So do we.
        return True

    def _send_rounds(self, now: float) -> int:
        """The witness rounds, once the main round is over (nothing queued or flying)."""
        if self.round_targets is None:
            if self.queue or self.live:
                return 0
            self._start_rounds(now)
        sent = 0
        for target in self.round_targets:
            book = target.rounds
            if not book.due(now) or now < self._backoff_until:
                continue
            for i in book.start(now):
                if self._send_probe(i, now):
                    sent += 1
            seq = self._seq(target.witness, _MAX_TRIES - 1)
            if self._emit(target.template.segment(target.witness, seq), target, now):
                self.sent_total += 1
                sent += 1
        return sent

    def _start_rounds(self, now: float) -> None:
        gap = refill_gap(self.prior_gap)
        self.round_targets = []
        for target in self.targets.values():
            if not target.limbo:
                continue
            held, target.limbo = target.limbo, []
            if target.witness is None:
                # No port of this host answered with ICMP: nothing tells a drop from a
                # lost error, and silence it is (as nmap says).
                for i in held:
                    self.held.discard(i)
                    self.finish(i, self._silent(i))
                continue
            target.rounds = WitnessRounds(held, target.witness, gap, now)
            self.round_targets.append(target)

    def _silent(self, i: int, why: str = "") -> Exchange:
        """Probe *i* ended without an answer; *why* goes into its trace."""
        if why:
            self.note(i, time.monotonic(), "recv", why)
        return Exchange(self.probes[i], _NONE, tries=self.tries[i], trace=self.trace_of(i))

    def _witness_heard(self, target: _Target) -> None:
        self._receive_tcp()   # answers to the round that came before the witness's error
        for i in target.rounds.witness_heard():
            self.held.discard(i)
            if self.flying[i]:
                self.park(i)
            self.finish(i, self._silent(i, dropped_because(target.witness)))

    def _round_timeouts(self, now: float) -> None:
        for target in self.round_targets or ():
            book = target.rounds
            if not book.running or now - book.sent_at < target.rtt.timeout:
                continue
            for i in book.pending:
                if self.flying[i]:
                    self.park(i)
            for i in book.round_over(now):
                self.held.discard(i)
                self.finish(i, self._silent(i, GAVE_UP))

    # --- receiving --------------------------------------------------------------

    def receive(self) -> None:
        self._receive_tcp()
        self._receive_icmp()

    def _receive_tcp(self) -> None:
        recv = self.tcp_sock.recv
        unpack = _TCP_REPLY.unpack_from
        targets, index, sport = self.targets, self.index, self.sport
        done, tries, sent_at = self.done, self.tries, self.sent_at
        # The common answer (to a first and only try, no trace, no witness round
        # running) is settled in bulk: see ProbeBook.settle.
        quick = not self.trace_on and not self.held
        monotonic = time.monotonic
        while True:
            try:
                packet = recv(256)
            except (BlockingIOError, InterruptedError):
                break
            ihl = (packet[0] & 0x0F) << 2
            if len(packet) < ihl + 14:
                continue
            src = packet[12:16]
            if src not in targets:
                continue
            r_sport, r_dport, _seq, ack, _off, flags = unpack(packet, ihl)
            if r_dport != sport:
                continue
            i = index.get((src, r_sport))
            if i is None or done[i]:
                continue
            if flags & 0x12 == 0x12:
                reply = _SYN_ACK
            elif flags & 0x04:
                reply = _RST
            else:
                continue
            if flags & 0x10:
                tryno = self._try_of(r_sport, (ack - 1) & 0xFFFFFFFF)
            else:
                # A bare RST (no ACK, so no acknowledgment number to check; some firewalls
                # send these): the ports alone say which probe it answers, as nmap accepts.
                tryno = tries[i] - 1
            if not 1 <= tryno + 1 <= tries[i]:
                continue  # not an answer to any SYN of ours (a stale or forged segment)
            if quick and tries[i] == 1:
                self.settle(i, reply, monotonic() - sent_at[i])
                continue
            self._answer(i, reply, tryno + 1,
                         f"{'SYN/ACK' if reply is _SYN_ACK else 'RST'} "
                         f"{self.target_of[i].address}:{r_sport} > {self.target_of[i].source}:{sport}"
                         if self.trace_on else "")
        self._report_settled()

    def _report_settled(self) -> None:
        rows, rtts = self.report_settled(ScanType.SYN)
        if len(self.targets) == 1:
            self.target_of[0].rtt.sample_many(rtts)
        else:
            for i, rtt in zip(rows, rtts):
                self.target_of[i].rtt.sample(rtt)

    def _receive_icmp(self) -> None:
        recv = self.icmp_sock.recv
        while True:
            try:
                packet = recv(576)
            except (BlockingIOError, InterruptedError):
                return
            quoted = syn_error_quote(packet, self.sport)
            if quoted is None or quoted[1] not in self.targets:
                continue
            code, dst, q_dport, q_seq = quoted
            target = self.targets[dst]
            if target.rounds is not None and target.rounds.running and q_dport == target.witness:
                self._witness_heard(target)
                continue
            i = self.index.get((dst, q_dport))
            if i is None or self.done[i]:
                continue
            tryno = self._try_of(q_dport, q_seq)
            if not 0 <= tryno < self.tries[i]:
                continue
            target.witness = q_dport
            self._answer(i, Reply.icmp(code), tryno + 1,
                         f"ICMP unreachable code {code} from {socket.inet_ntoa(packet[12:16])}"
                         if self.trace_on else "")

    def _answer(self, i: int, reply: Reply, answered_try: int, summary: str) -> None:
        now = time.monotonic()
        target = self.target_of[i]
        rtt = None
        if answered_try == self.tries[i]:  # Karn: only a reply to the latest try times cleanly
            rtt = now - self.sent_at[i]
            target.rtt.sample(rtt)
            rtt = reported_rtt(rtt)
        if answered_try > target.best_try:
            target.best_try = answered_try
        self.note(i, now, "recv", summary)
        self.finish(i, Exchange(self.probes[i], reply, tries=self.tries[i], rtt=rtt, trace=self.trace_of(i)))

    def finish(self, i: int, exchange: Exchange) -> None:
        if i in self.held:
            self.held.discard(i)
            target = self.target_of[i]
            if target.rounds is not None:
                target.rounds.answered(i)
            elif i in target.limbo:
                target.limbo.remove(i)   # a late answer while it waited
        super().finish(i, exchange)

    # --- timeouts ---------------------------------------------------------------

    def expire(self, now: float) -> None:
        self._round_timeouts(now)
        while (due := self.oldest_due(now, self._timeout_of)) is not None:
            _sent, i, tryno, _paced = due
            target = self.target_of[i]
            if i in self.held:
                if self.flying[i]:
                    self.park(i)   # a round's try: the round's witness decides (_round_timeouts)
                continue
            if tryno < allowed_tries(self.timing, target.best_try):
                self.park(i)
                self.queue.append(i)
                continue
            elif not target.overflow and self.timing.max_retries:
                # Silent after its tries: a drop, or an ICMP error the target's rate limit
                # swallowed.  The witness rounds tell, after the main round.
                if len(target.limbo) < MAX_SILENT:
                    self.park(i)
                    target.limbo.append(i)
                    self.held.add(i)
                    continue
                target.overflow = True   # a dropped range, not a rate limit: let them all go
                for j in list(target.limbo):
                    self.finish(j, self._silent(j))
            self.finish(i, self._silent(i))

    def _timeout_of(self, i: int) -> float:
        return self.target_of[i].rtt.timeout

    def idle_wait(self, now: float) -> float:
        """How long to sleep when nothing can be sent: until the oldest probe times out,
        the pacer allows the next send, or a reply arrives (whichever is first)."""
        waits = [0.05]
        if self.queue:
            waits.append(max(self.pacer.wait(now), self._backoff_until - now, 0.0005))
        if self.in_flight:
            sent, i, _, _ = self.in_flight[0]
            waits.append(max(0.0, sent + self.target_of[i].rtt.timeout - now))
        for target in self.round_targets or ():
            book = target.rounds
            at = book.sent_at + target.rtt.timeout if book.running else book.wake_at()
            if at is not None:
                waits.append(max(0.0005, at - now))
        if self.held and not self.queue and not self.live and self.round_targets is None:
            waits.append(0.0)   # the main round just ended: start the rounds now
        return min(waits)
