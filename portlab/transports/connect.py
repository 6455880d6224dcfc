"""The connect transport: ask each port with an ordinary non-blocking ``connect()``.

Needs no privilege and works on any OS with epoll (Linux) or select.  A loop (one
per usable core, at most two, for large scans: see ``shards``; threads, or forked
children on the command line: forked.py) takes chunks of probes from a shared feed
(chunkfeed.py) and runs tight: keep up to N sockets connecting; ask each for its outcome
at once with a second ``connect()`` (on loopback the kernel usually has it already),
else wait for writability with epoll and read ``getsockopt(SO_ERROR)``.  A socket
whose connection was refused is reused for the next probe (Linux allows it), which
halves the system calls of a scan that is mostly closed ports.  A successful
connection is closed at once with SO_LINGER 0, which sends a RST instead of a FIN:
neither side keeps the port in TIME_WAIT (65535 probes would otherwise exhaust the
ephemeral ports; nmap does the same).

Timeouts follow RFC 6298 as nmap does (srtt + 4*rttvar, clamped), and an unanswered
probe is retried only as often as retries have ever been seen to help (nmap's
``max_successful_tryno`` rule): on a network that drops nothing but a firewalled
port, a filtered port costs two tries, not eleven.

ICMP errors are rate limited by the target's kernel (Linux: a burst of 6, then one
per ``icmp_ratelimit``, 1 s by default), so a host that rejects ports with ICMP may
answer some of them with silence, and silence is also what a dropped port gives.
Probes silent after their tries are held (at most ``MAX_SILENT`` per host; more is a
dropped range, which ends as ``no-response`` at once, as in nmap) and settled after
the main round by witness rounds (:mod:`portlab.transports.witness`): each asks them
again, then a port of the same host that answered with an ICMP error.  A host that
never answered with one has no witness: its silent probes are ``no-response``.

connect() shows an ICMP port-unreachable as ECONNREFUSED, the same errno as a RST.
With raw-socket privilege (root or CAP_NET_RAW) the scan also reads the ICMP errors
the targets send (:class:`IcmpWatch`), so such a port can be the witness too; without
it, only ports whose errno an ICMP error alone produces (EHOSTUNREACH, ...) can.
"""

from __future__ import annotations

import _socket
import asyncio
import errno as _errno
import heapq
import os
import select
import selectors
import socket
import struct
import sys
import threading
import time
from collections import deque
from typing import Optional, Sequence

from ..errors import BadInput
from ..packets import quoted_destination, unreachable_quote
from ..portcolumns import picker
from ..states import Probe, Reply, ReplyKind, ScanType
from ..timing import RttEstimator, Timing
from .base import Exchange, ExchangeColumns, Report, TraceEvent, Transport, report_columns, reported_rtt
from .chunkfeed import ChunkFeed
from .forked import can_fork, fork_shards
from .witness import GAVE_UP, MAX_SILENT, WitnessRounds, dropped_because, refill_gap

_LINGER_RESET = struct.pack("ii", 1, 0)   # on close: send RST, skip TIME_WAIT
_LAUNCH_BURST = 256                       # probes launched between two looks at the answers
_POLL_SLICE = 0.05                        # how often the loop looks at the stop flag
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)
# Linux lets a TCP socket whose connect() was refused connect() again; other systems
# (BSD, macOS) do not, so there every probe gets a fresh socket.
_REUSE_REFUSED = sys.platform.startswith("linux")
# The bare C socket type: a probe socket needs none of socket.socket's Python layer,
# and skipping it saves measurable time per probe.
_new_socket = _socket.socket
# connect() failures that mean "this process ran out of something", not "the port answered".
_MAX_SHARDS = 2


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_LOCAL_SHORTAGE = {_errno.EMFILE, _errno.ENFILE, _errno.ENOBUFS, _errno.ENOMEM, _errno.EADDRNOTAVAIL}


# connect() errnos that only an ICMP error produces (ECONNREFUSED is also a RST's,
# so it cannot say whether the target spent an ICMP token).
_ICMP_ERRNOS = frozenset({_errno.EHOSTUNREACH, _errno.ENETUNREACH, _errno.EACCES, _errno.EPERM,
                          _errno.ENOPROTOOPT})


class _Silent:
    """A probe that got no answer in the main round, waiting for the witness rounds."""

    __slots__ = ("probe", "tries", "trace")

    def __init__(self, probe: Probe, tries: int, trace: list):
        self.probe, self.tries, self.trace = probe, tries, trace


class SilentHold:
    """What the loops (possibly several threads) learn per host for the witness rounds
    (:mod:`portlab.transports.witness`): which probes went silent, and a port that
    answered with an ICMP error (the witness)."""

    def __init__(self, report: Report, keep_trace: bool):
        self.report = report
        self.keep_trace = keep_trace
        self.silent: dict[str, list[_Silent]] = {}
        self.overflow: set[str] = set()      # hosts with a dropped range: nothing held
        self.witness: dict[str, int] = {}    # host -> a port that answered with ICMP
        self.started = time.monotonic()      # trace times of the rounds count from here
        self._lock = threading.Lock()

    def icmp(self, host: str, port: int) -> None:
        """*port* of *host* answered with an ICMP error."""
        self.witness[host] = port   # one dict store: atomic under the GIL

    def hold(self, probe: Probe, tries: int, trace: list) -> None:
        host = probe.target
        with self._lock:
            if host not in self.overflow:
                held = self.silent.setdefault(host, [])
                held.append(_Silent(probe, tries, trace))
                if len(held) <= MAX_SILENT:
                    return
                # A dropped range, not a rate limit: let them all go, and the rest at once.
                self.overflow.add(host)
                flushed = self.silent.pop(host)
            else:
                flushed = [_Silent(probe, tries, trace)]
        for item in flushed:
            self.give_up(item)

    def give_up(self, item: _Silent, why: str = "") -> None:
        if self.keep_trace and why:
            item.trace.append(TraceEvent(time.monotonic() - self.started, "recv", why))
        self.report(Exchange(item.probe, Reply(ReplyKind.NONE), tries=item.tries,
                             trace=tuple(item.trace) if self.keep_trace else ()))

    def take_rounds(self, gap: float) -> dict[str, WitnessRounds[_Silent]]:
        """After the main round: the witness rounds, by host; a host that never answered
        with ICMP has no witness, and its silent probes end here as no-response."""
        with self._lock:
            silent, self.silent = self.silent, {}
        rounds = {}
        now = time.monotonic()
        for host, items in silent.items():
            witness = self.witness.get(host)
            if witness is not None:
                rounds[host] = WitnessRounds(items, witness, gap, now)
            else:
                for item in items:
                    self.give_up(item)
        return rounds


class IcmpWatch:
    """The ICMP destination-unreachables the scanned hosts send us, queued on a raw
    ICMP socket (root or CAP_NET_RAW) and read once, after the main round.

    connect() shows an ICMP port-unreachable as ECONNREFUSED, the same errno as a
    RST; the raw socket tells them apart and names the port an error quotes, so such a
    port can be a witness too.  Without the privilege, only ports whose errno an ICMP
    error alone produces (EHOSTUNREACH, ...) can.  The first errors are all it needs:
    if a host sends more than the socket's buffer holds, the later ones are dropped."""

    def __init__(self, sock, hosts: Sequence[str]):
        self.sock = sock
        self.hosts: dict[bytes, str] = {}
        for host in hosts:
            try:
                self.hosts[socket.inet_aton(host)] = host
            except OSError:
                continue   # IPv6: not watched; its witness comes from errnos

    @classmethod
    def open(cls, hosts: Sequence[str]) -> Optional["IcmpWatch"]:
        from ..privilege import has_raw_socket_privilege

        if not sys.platform.startswith("linux") or not has_raw_socket_privilege():
            return None
        try:
            from .rawsock import open_raw
            sock = open_raw(socket.IPPROTO_ICMP)
        except OSError:
            return None
        return cls(sock, hosts)

    def witnesses(self) -> dict[str, int]:
        """Per host, a TCP port that an ICMP error it sent us quotes (every error queued)."""
        found: dict[str, int] = {}
        while True:
            try:
                packet = self.sock.recv(576)
            except OSError:   # BlockingIOError: the queue is empty
                return found
            quote = unreachable_quote(packet, socket.IPPROTO_TCP, 4)
            host = self.hosts.get(quoted_destination(packet)) if quote is not None else None
            if host is not None:
                found[host] = int.from_bytes(packet[quote[1] + 2:quote[1] + 4], "big")

    def close(self) -> None:
        self.sock.close()


class _Attempt:
    __slots__ = ("sock", "index", "try_no", "sent_at")

    def __init__(self, sock: socket.socket, index: int, try_no: int, sent_at: float):
        self.sock, self.index, self.try_no, self.sent_at = sock, index, try_no, sent_at


_CONNECTED = Reply(ReplyKind.CONNECTED)
_REFUSED = Reply.connect_error(_errno.ECONNREFUSED)


def _errname(err: int) -> str:
    return _errno.errorcode.get(err, str(err))


class ConnectTransport(Transport):
    name = "connect"
    scan_types = frozenset({ScanType.CONNECT})

    def __init__(self, keep_trace: bool = True, max_shards: Optional[int] = None, watch_icmp: bool = True,
                 processes: bool = True):
        self.keep_trace = keep_trace
        # Shards run in forked processes where that is safe (forked.py), else threads.
        self.processes = processes
        # Read ICMP errors with a raw socket when privileged (see IcmpWatch); False
        # keeps the unprivileged behaviour (tests compare the two).
        self.watch_icmp = watch_icmp
        # None: one loop per usable core, at most _MAX_SHARDS (see shards()).
        self.max_shards = max_shards if max_shards is not None else min(_MAX_SHARDS, _usable_cores())
        self.sockets_opened = 0     # for tests and notebooks: every socket() this transport made
        self.sockets_closed = 0
        self._count_lock = threading.Lock()

    def check(self, scan_type: ScanType) -> None:
        if ScanType(scan_type) is not ScanType.CONNECT:
            raise BadInput(f"the connect transport runs connect scans only, not {scan_type}")

    def shards(self, count: int, timing: Timing) -> int:
        """How many loops to run side by side (threads or forked children, each taking
        chunks of the probes from one feed).  A loop spends most of its time inside
        connect(), which releases the GIL, and the kernel does the target's side of the handshake in that same call
        (loopback, veth): so a second loop on a second core nearly halves a large scan
        (measured in a namespace pair over veth, 64k closed ports: 0.70 s with one
        thread of bare connect() calls, 0.37 s with two).  Small scans and paced scans
        keep one loop: rate and scan delay are global."""
        if count < 4096 or timing.rate or timing.scan_delay or timing.max_parallel < 64:
            return 1
        return max(1, self.max_shards)

    async def run(self, probes: Sequence[Probe], timing: Timing, report: Report) -> None:
        n = self.shards(len(probes), timing)
        share = timing if n == 1 else timing.with_overrides(max_parallel=max(1, timing.max_parallel // n))
        # No witness rounds when the user asked for a single try (retries=0).
        hold = watch = None
        if timing.max_retries > 0:
            hold = SilentHold(report, self.keep_trace)
            if self.watch_icmp:
                watch = IcmpWatch.open(sorted({p.target for p in probes}))
        feed = ChunkFeed(len(probes)) if n > 1 else None
        try:
            timeouts: list[float] = []
            if feed is not None and self.processes and can_fork():
                await self._in_processes(n, probes, feed, share, report, hold, timeouts)
            else:
                jobs = [lambda stop: timeouts.append(self.run_blocking(probes, share, report, stop, hold, feed))
                        for _ in range(n)]
                await self._in_threads(jobs)
            if hold is None:
                return
            if watch is not None:
                hold.witness.update(watch.witnesses())
            from .rawsock import local_icmp_interval
            rounds = hold.take_rounds(refill_gap(local_icmp_interval()))
            if rounds:
                timeout = max([timing.min_timeout, *timeouts])
                await self._in_threads([lambda stop: self.run_rounds(rounds, timeout, hold, stop)])
        finally:
            if feed is not None:
                feed.close()
            if watch is not None:
                watch.close()

    async def _in_processes(self, n: int, probes: Sequence[Probe], feed: ChunkFeed, timing: Timing,
                            report: Report, hold: Optional[SilentHold], timeouts: list[float]) -> None:
        """*n* loops over *feed* in forked children (see forked.py); their silences and
        witnesses join *hold* here, as the threads' would."""
        def counts() -> tuple[int, int]:
            return self.sockets_opened, self.sockets_closed

        children = fork_shards(n, probes[0].scan_type, lambda rep, child_hold: self.run_blocking(
                                   probes, timing, rep, None, child_hold, feed), hold is not None, counts)
        try:
            await self._in_threads([lambda stop, child=child: child.read(report, stop) for child in children])
        finally:
            for child in children:
                child.close()
        for child in children:
            silent, witness, timeout, opened, closed = child.end
            timeouts.append(timeout)
            with self._count_lock:
                self.sockets_opened += opened
                self.sockets_closed += closed
            if hold is not None:
                for host, port in witness.items():
                    hold.icmp(host, port)
                for probe, tries, trace in silent:
                    hold.hold(probe, tries, list(trace))

    async def _in_threads(self, jobs: Sequence) -> None:
        """Run each ``job(stop)`` on a thread of its own and wait for all of them; on
        cancellation set *stop* and wait until every job has closed its sockets."""
        loop = asyncio.get_running_loop()
        finished: asyncio.Future = loop.create_future()
        stop = threading.Event()
        remaining = [len(jobs)]
        errors: list[BaseException] = []

        def settle() -> None:
            remaining[0] -= 1
            if remaining[0] == 0 and not finished.done():
                if errors:
                    finished.set_exception(errors[0])
                else:
                    finished.set_result(None)

        def worker(job, done: threading.Event) -> None:
            try:
                job(stop)
            except BaseException as err:  # handed to the awaiting task, re-raised there
                errors.append(err)
                stop.set()   # one loop failed: stop the others too
            finally:
                done.set()
            try:
                loop.call_soon_threadsafe(settle)
            except RuntimeError:
                pass  # the loop is gone (its task was cancelled and it closed)

        # Threads of our own rather than the default executor: they are created by the
        # calling thread, so they inherit that thread's network namespace (netns=).
        finished_flags = [threading.Event() for _ in jobs]
        threads = [threading.Thread(target=worker, args=(job, finished_flags[i]),
                                    name=f"portlab-connect-{i}", daemon=True) for i, job in enumerate(jobs)]
        for thread in threads:
            thread.start()
        try:
            await asyncio.shield(finished)
            # Each loop has set its flag and is only returning now: wait for that, so no
            # thread of this scan outlives it (the flag comes before the last call).
            for thread in threads:
                thread.join(1.0)
        except BaseException:
            # Cancelled (Ctrl-C, task.cancel()): stop the loops and wait until they have
            # closed every socket; they look at the flag at least every _POLL_SLICE.
            stop.set()
            for done in finished_flags:
                _wait_uninterrupted(done)
            for thread in threads:
                try:
                    thread.join(1.0)   # only its last lines are left to run
                except KeyboardInterrupt:
                    pass
            raise

    # The blocking loop.  Kept in one function with local names on purpose: it runs
    # once per probe, 65535 times in a full scan, and attribute lookups show up.
    def run_blocking(self, probes: Sequence[Probe], timing: Timing, report: Report,
                     stop: Optional[threading.Event] = None,
                     hold: Optional[SilentHold] = None, feed: Optional[ChunkFeed] = None) -> float:
        """The main round.  Probes that stay silent after their tries go to *hold*
        (when given) instead of being reported.  With *feed*, the loop asks the probes
        it takes from the feed (other loops take the rest); else all of them.  Returns
        the last RTT timeout."""
        stop = stop or threading.Event()
        keep_trace = self.keep_trace
        rtt = RttEstimator(timing)
        limit = max(1, int(timing.max_parallel))
        interval = max(1.0 / timing.rate if timing.rate else 0.0, timing.scan_delay or 0.0)
        max_retries = max(0, int(timing.max_retries))
        state = _LoopState(probes, keep_trace, rtt, report, hold, whole=feed is None)
        more = feed.take if feed is not None else None

        queue = state.queue
        inflight = state.inflight
        tries = state.tries
        traces = state.traces
        deadlines: list[tuple[float, int, int, _Attempt]] = []
        seq = 0

        poller = _Poller()
        register, poll = poller.register, poller.poll
        started = state.started
        next_send = started
        monotonic = time.monotonic
        new_socket = _new_socket
        sock_type = socket.SOCK_STREAM | _NONBLOCK
        SOL_SOCKET, SO_ERROR = socket.SOL_SOCKET, socket.SO_ERROR
        AF_INET, AF_INET6 = socket.AF_INET, socket.AF_INET6
        EINPROGRESS, EAGAIN, EALREADY = _errno.EINPROGRESS, _errno.EAGAIN, _errno.EALREADY
        EISCONN, ECONNREFUSED = _errno.EISCONN, _errno.ECONNREFUSED
        reuse = _REUSE_REFUSED
        spares: dict[int, object] = {}   # family -> an unconnected socket ready for reuse
        outcome = state.outcome
        # The hot path (refused on the first try, no trace) keeps row numbers and RTTs
        # and reports them a burst at a time, as columns (see _report_refused).
        refused_rows: list[int] = []
        refused_rtts: list[float] = []

        try:
            while not stop.is_set():
                now = monotonic()
                # 1. Launch probes while there is room (and the pacing allows), at most
                # _LAUNCH_BURST before looking at the answers: refused ports never fill
                # the room, and answers left unread meanwhile would time as slow RTTs
                # (a long srtt stretches every timeout after it) and expire late.
                launched = 0
                while len(inflight) < limit and launched < _LAUNCH_BURST:
                    if not queue:
                        chunk = more() if more is not None else None
                        if chunk is None:
                            more = None
                            break
                        queue.extend(chunk)
                    launched += 1
                    if interval:
                        if now < next_send:
                            break
                        next_send = max(next_send + interval, now - interval)
                    index = queue.popleft()
                    probe = probes[index]
                    family = AF_INET6 if ":" in probe[0] else AF_INET
                    sock = spares.pop(family, None)
                    if sock is None:
                        try:
                            sock = new_socket(family, sock_type)
                        except OSError as err:
                            if err.errno in _LOCAL_SHORTAGE and inflight:
                                queue.appendleft(index)   # out of descriptors: wait for some back
                                limit = max(1, len(inflight))
                                break
                            raise
                        state.opened += 1
                        if not _NONBLOCK:
                            sock.setblocking(False)
                    try_no = tries[index]
                    tries[index] = try_no + 1
                    sent_at = monotonic()
                    if keep_trace:
                        traces[index].append(TraceEvent(
                            sent_at - started, "sent",
                            f"SYN → {probe.target}:{probe.port} (connect(), try {try_no + 1})"))
                    address = (probe.target, probe.port)
                    err = sock.connect_ex(address)
                    if err == EINPROGRESS or err == EAGAIN:
                        # Ask again at once: a second connect() returns the outcome if the
                        # kernel has it already (on loopback it usually has), EALREADY
                        # while the handshake is still on its way.  Cheaper than epoll.
                        err = sock.connect_ex(address)
                        if err == EALREADY or err == EINPROGRESS:
                            att = _Attempt(sock, index, try_no, sent_at)
                            fd = sock.fileno()
                            register(fd)
                            inflight[fd] = att
                            heapq.heappush(deadlines, (sent_at + rtt.timeout, seq, fd, att))
                            seq += 1
                            continue
                        if err == EISCONN:
                            err = 0
                        if err == ECONNREFUSED and reuse:
                            # That connect() reset the socket to unconnected (Linux), so
                            # the next probe can use it: no socket()/close() per closed port.
                            answered = monotonic()
                            if try_no or keep_trace:
                                state.refused(_Attempt(sock, index, try_no, sent_at), answered)
                            else:
                                # The hot path of a big scan: most ports are closed.
                                refused_rows.append(index)
                                refused_rtts.append(answered - sent_at)
                            spares[family] = sock
                            continue
                    elif err in _LOCAL_SHORTAGE and inflight:
                        sock.close()
                        state.closed += 1
                        tries[index] = try_no
                        if keep_trace:
                            traces[index].pop()
                        queue.appendleft(index)
                        limit = max(1, len(inflight))
                        break
                    outcome(_Attempt(sock, index, try_no, sent_at), err, monotonic())
                if refused_rows:
                    _report_refused(probes, refused_rows, refused_rtts, rtt, report)

                if not inflight and not queue and more is None:
                    break

                # 2. Wait for outcomes, at most until the nearest deadline.
                now = monotonic()
                wait = _POLL_SLICE
                if deadlines:
                    wait = min(wait, max(0.0, deadlines[0][0] - now))
                if (queue or more is not None) and len(inflight) < limit:
                    wait = min(wait, max(0.0, next_send - now)) if interval else 0.0
                for fd in poll(wait):
                    att = inflight.pop(fd, None)
                    if att is not None:
                        outcome(att, att.sock.getsockopt(SOL_SOCKET, SO_ERROR), monotonic())

                # 3. Expire probes whose deadline passed: retry, or call them unanswered.
                if deadlines and deadlines[0][0] <= monotonic():
                    now = monotonic()
                    allowed_tries = 1 + min(max_retries, state.max_successful_try + 1)
                    while deadlines and deadlines[0][0] <= now:
                        _deadline, _seq, fd, att = heapq.heappop(deadlines)
                        if inflight.get(fd) is not att:
                            continue  # answered already (or the fd number was reused)
                        del inflight[fd]
                        poller.forget(fd)
                        state.close(att)
                        index = att.index
                        if keep_trace:
                            traces[index].append(TraceEvent(
                                now - started, "recv",
                                f"no reply within {now - att.sent_at:.3f}s (try {att.try_no + 1})"))
                        if tries[index] < allowed_tries:
                            queue.appendleft(index)   # retries go before fresh probes, as in nmap
                        elif hold is not None:
                            hold.hold(probes[index], tries[index], traces[index] if keep_trace else [])
                        else:
                            state.finish(index, Reply(ReplyKind.NONE), None, att.sent_at)
        finally:
            # Normal end, error or cancellation: no socket outlives the scan.
            for fd, att in list(inflight.items()):
                poller.forget(fd)
                state.close(att)
            inflight.clear()
            for spare in spares.values():
                spare.close()
                state.closed += 1
            spares.clear()
            poller.close()
            with self._count_lock:
                self.sockets_opened += state.opened
                self.sockets_closed += state.closed
        return rtt.timeout


    def run_rounds(self, rounds: dict[str, WitnessRounds[_Silent]], timeout: float, hold: SilentHold,
                   stop: threading.Event) -> None:
        """The witness rounds (:mod:`portlab.transports.witness`): per host, connect()
        to each silent probe's port again, then to the witness port; the witness's
        ICMP error says the others' silence was a drop, its silence that the target's
        ICMP bucket ran dry, and the next round waits for a token."""
        flying: dict[int, tuple[str, Optional[_Silent], object, float]] = {}  # fd -> (host, item or None for the witness, socket, sent)
        poller = _Poller()
        monotonic = time.monotonic
        keep_trace = self.keep_trace
        started = hold.started
        opened = closed = 0

        def connect(host: str, port: int, item: Optional[_Silent], now: float) -> None:
            nonlocal opened
            sock = _new_socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                               socket.SOCK_STREAM | _NONBLOCK)
            opened += 1
            if not _NONBLOCK:
                sock.setblocking(False)
            err = sock.connect_ex((host, port))
            if err in (_errno.EINPROGRESS, _errno.EAGAIN, _errno.EALREADY):
                flying[sock.fileno()] = (host, item, sock, now)
                poller.register(sock.fileno())
            else:
                settle(host, item, sock, now, err, monotonic())

        def drop(fd: int) -> None:
            nonlocal closed
            _host, _item, sock, _sent = flying.pop(fd)
            poller.forget(fd)
            sock.close()
            closed += 1

        def settle(host: str, item: Optional[_Silent], sock, sent_at: float, err: int, now: float) -> None:
            nonlocal closed
            if err == 0:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                except OSError:
                    pass
            sock.close()
            closed += 1
            book = rounds[host]
            if item is None:            # the witness
                if err == 0 or not book.running:
                    return              # it connected: no ICMP, so it proves nothing
                answers = poller.poll(0)   # answers to this round that came just before it
                for fd in answers:
                    if fd in flying and flying[fd][1] is not None:
                        other_host, other, other_sock, other_sent = flying.pop(fd)
                        poller.forget(fd)
                        settle(other_host, other, other_sock, other_sent,
                               other_sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), now)
                for fd in [fd for fd, entry in flying.items() if entry[0] == host]:
                    drop(fd)
                for dropped in book.witness_heard():
                    hold.give_up(dropped, dropped_because(book.witness))
                return
            book.answered(item)
            reply = (_CONNECTED if err == 0 else _REFUSED if err == _errno.ECONNREFUSED
                     else Reply.connect_error(err))
            if keep_trace:
                item.trace.append(TraceEvent(now - started, "recv",
                                             f"connect() → {_errname(err) if err else 'connected'}"))
            hold.report(Exchange(item.probe, reply, tries=item.tries, rtt=reported_rtt(now - sent_at),
                                 trace=tuple(item.trace) if keep_trace else ()))

        try:
            while not stop.is_set() and not all(book.settled for book in rounds.values()):
                now = monotonic()
                for host, book in rounds.items():
                    if not book.due(now):
                        continue
                    for item in book.start(now):
                        item.tries += 1
                        probe = item.probe
                        if keep_trace:
                            item.trace.append(TraceEvent(now - started, "sent",
                                f"SYN → {host}:{probe.port} (connect(), try {item.tries}, "
                                f"then port {book.witness} as witness)"))
                        connect(host, probe.port, item, now)
                    if book.running:
                        connect(host, book.witness, None, now)
                wake = now + _POLL_SLICE
                for book in rounds.values():
                    at = book.wake_at() if not book.running else book.sent_at + timeout
                    if at is not None:
                        wake = min(wake, at)
                for fd in poller.poll(max(0.0, wake - monotonic())):
                    entry = flying.pop(fd, None)
                    if entry is not None:
                        host, item, sock, sent_at = entry
                        poller.forget(fd)
                        settle(host, item, sock, sent_at, sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR),
                               monotonic())
                now = monotonic()
                for host, book in rounds.items():
                    if book.running and now - book.sent_at >= timeout:
                        for fd in [fd for fd, entry in flying.items() if entry[0] == host]:
                            drop(fd)
                        for item in book.round_over(now):
                            hold.give_up(item, GAVE_UP)
        finally:
            for fd in list(flying):
                drop(fd)
            poller.close()
            with self._count_lock:
                self.sockets_opened += opened
                self.sockets_closed += closed


def _report_refused(probes: Sequence[Probe], rows: list[int], rtts: list[float], rtt: RttEstimator,
                    report: Report) -> None:
    """Report the probes *rows*, refused on their first try after *rtts*, in one call
    (ExchangeColumns), feed the RTTs to the estimator, and empty both lists.  Per
    probe that is two appends in the loop instead of an Exchange, an RTT update and a
    report call: a third of the loop's Python time in a full-range scan."""
    rtt.sample_many(rtts)
    count = len(rows)
    report_columns(report, ExchangeColumns.answered(ScanType.CONNECT, picker(rows)(probes), [_REFUSED] * count,
                                                    [1] * count, rtts))
    rows.clear()
    rtts.clear()


def _wait_uninterrupted(done: threading.Event) -> None:
    """Wait for a loop to finish even if a KeyboardInterrupt arrives meanwhile: its
    sockets must be closed before we return.  (An Event, not Thread.join: on Python
    3.11 an interrupted join marks a running thread as stopped.)"""
    while True:
        try:
            if done.wait(0.1):
                return
        except KeyboardInterrupt:
            continue


class _Poller:
    """Writability of many sockets by fd: epoll where there is one, else selectors.

    A closed socket leaves an epoll set by itself, so with epoll ``forget`` does
    nothing (a system call per probe saved); select/kqueue need the unregister."""

    def __init__(self) -> None:
        if hasattr(select, "epoll"):
            self._epoll = select.epoll()
            flags = select.EPOLLOUT
            epoll_register, epoll_poll = self._epoll.register, self._epoll.poll
            self.register = lambda fd: epoll_register(fd, flags)
            self.poll = lambda timeout: [fd for fd, _ in epoll_poll(timeout)]
            self.forget = lambda fd: None   # closing the socket is enough
            self.close = self._epoll.close
        else:  # pragma: no cover - not Linux: select/kqueue need explicit unregistering
            selector = selectors.DefaultSelector()

            def register(fd: int) -> None:
                selector.register(fd, selectors.EVENT_WRITE)

            def poll(timeout: float) -> list[int]:
                fds = [key.fd for key, _ in selector.select(timeout)]
                for fd in fds:
                    selector.unregister(fd)
                return fds

            def forget(fd: int) -> None:
                try:
                    selector.unregister(fd)
                except (KeyError, ValueError):
                    pass

            self.register, self.poll, self.forget, self.close = register, poll, forget, selector.close


class _LoopState:
    """What one run of the loop keeps per probe, and how an outcome is recorded."""

    def __init__(self, probes: Sequence[Probe], keep_trace: bool, rtt: RttEstimator, report: Report,
                 hold: Optional[SilentHold] = None, whole: bool = True):
        self.hold = hold
        self.probes = probes
        self.keep_trace = keep_trace
        self.rtt = rtt
        self.report = report
        self.tries = [0] * len(probes)
        self.traces: list[list[TraceEvent]] = [[] for _ in probes] if keep_trace else []
        # Probe numbers to ask next: all of them, or (not *whole*) what the loop takes from a feed.
        self.queue: deque[int] = deque(range(len(probes)) if whole else ())
        self.inflight: dict[int, _Attempt] = {}
        self.opened = self.closed = 0
        self.max_successful_try = 0   # highest 0-based try that ever got an answer (nmap)
        self.started = time.monotonic()

    def close(self, att: _Attempt, reset: bool = False) -> None:
        if reset:
            try:
                att.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            except OSError:
                pass
        att.sock.close()
        self.closed += 1

    def finish(self, index: int, reply: Reply, answered_at: Optional[float], sent_at: float) -> None:
        self.report(Exchange(self.probes[index], reply, tries=self.tries[index],
                             rtt=reported_rtt(answered_at - sent_at) if answered_at is not None else None,
                             trace=tuple(self.traces[index]) if self.keep_trace else ()))

    def refused(self, att: _Attempt, answered: float) -> None:
        """ECONNREFUSED, the socket kept for reuse (the hot path of a loopback scan)."""
        if att.try_no == 0:
            self.rtt.sample(answered - att.sent_at)
        elif att.try_no > self.max_successful_try:
            self.max_successful_try = att.try_no
        index = att.index
        if self.keep_trace:
            self.traces[index].append(TraceEvent(answered - self.started, "recv",
                                                 "RST ← connect() → ECONNREFUSED"))
        self.finish(index, _REFUSED, answered, att.sent_at)

    def outcome(self, att: _Attempt, err: int, answered: float) -> None:
        """A try got an answer: *err* is its SO_ERROR (0 = connected)."""
        index = att.index
        try_no = att.try_no
        if try_no == 0:
            self.rtt.sample(answered - att.sent_at)   # Karn: only unambiguous first tries
        if try_no > self.max_successful_try:
            self.max_successful_try = try_no
        sock = att.sock
        keep_trace = self.keep_trace
        if err == 0:
            try:
                self_connect = sock.getsockname()[:2] == sock.getpeername()[:2]
            except OSError:
                self_connect = False
            self.close(att, reset=True)
            if self_connect:
                # Linux "simultaneous open": the kernel picked the destination port itself
                # as our source port and connected the socket to itself.  Nothing listens
                # there; ask again (a new source port) without counting a try.
                self.tries[index] -= 1
                if keep_trace:
                    self.traces[index].pop()
                self.queue.appendleft(index)
                return
            if keep_trace:
                self.traces[index].append(TraceEvent(answered - self.started, "recv",
                                                     "SYN/ACK ← connect() succeeded; closed with RST"))
            self.finish(index, _CONNECTED, answered, att.sent_at)
            return
        self.close(att)
        if err in _ICMP_ERRNOS and self.hold is not None:
            self.hold.icmp(self.probes[index].target, self.probes[index].port)
        if keep_trace:
            what = "RST ← " if err == _errno.ECONNREFUSED else ""
            self.traces[index].append(TraceEvent(answered - self.started, "recv",
                                                 f"{what}connect() → {_errname(err)}"))
        self.finish(index, _REFUSED if err == _errno.ECONNREFUSED else Reply.connect_error(err),
                    answered, att.sent_at)
