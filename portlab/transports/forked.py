"""Run a connect scan's shards in forked processes instead of threads.

A connect scan spends its time in ``connect()``, where the kernel also does the
target's side when the target is on this machine, and in the Python around it.  Two
threads share one GIL: each wakes the other at every system call.  Two processes do
not: the whole ``portlab scan -p -`` took 2.17-2.59 s with forked shards against
2.38-2.92 s with threads (three seeded lab targets, table and JSON, the same
alternating rounds of ``benchmarks/bench_scan.py --baseline``).  Each child runs the very same loop
(``ConnectTransport.run_blocking``) on the probes it takes from a shared feed
(chunkfeed.py) and streams what it learns back through a pipe, a few thousand
exchanges at a time as columns, so the parent reports them (as ExchangeColumns)
while the children still scan.

Forking is safe only where no other thread could hold a lock the child needs, so the
transport forks only when the process has a single thread (the command line); a
notebook's kernel, which has several, keeps the threads.  A child dies with its parent
(``PR_SET_PDEATHSIG``) and on Ctrl-C; the kernel closes its sockets either way.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import select
import signal
import struct
import sys
import threading
from typing import Callable, Optional

from ..states import Probe, ScanType
from .base import Exchange, ExchangeColumns, Report, report_columns

_LENGTH = struct.Struct("!I")
_CHUNK = 4096                  # exchanges per message: small enough to show progress
_PR_SET_PDEATHSIG = 1


def can_fork() -> bool:
    """Only where forking cannot deadlock the child: Linux, one thread."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1


class _ChildHold:
    """What a child's loop hands its hold (see connect.SilentHold), kept for the parent."""

    watch = None

    def __init__(self) -> None:
        self.silent: list[tuple[Probe, int, tuple]] = []
        self.witness: dict[str, int] = {}

    def hold(self, probe: Probe, tries: int, trace: list) -> None:
        self.silent.append((probe, tries, tuple(trace)))

    def icmp(self, host: str, port: int) -> None:
        self.witness[host] = port


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(_LENGTH.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


class _ChunkWriter:
    """A child's report: it collects exchanges (one by one, or as columns) and sends
    them to the parent a chunk at a time, as ExchangeColumns sorted by port.  The
    parent then assembles runs that are already in order (sorting and gathering
    65,535 rows in random order cost it 0.1 s of cache misses), and each child sorts
    its own."""

    def __init__(self, scan_type: ScanType, fd: int) -> None:
        self.scan_type, self.fd = scan_type, fd
        self.exchanges: list[Exchange] = []
        self.batches: list[ExchangeColumns] = []
        self.count = 0

    def __call__(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
        self.count += 1
        if self.count >= _CHUNK:
            self.flush()

    def columns(self, batch: ExchangeColumns) -> None:
        self.batches.append(batch)
        self.count += len(batch.ports)
        if self.count >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.count:
            return
        batch = ExchangeColumns.join(self.scan_type, self.exchanges, self.batches).sorted_by_port()
        if batch.traces is not None and not any(batch.traces):
            batch = batch._replace(traces=None)
        _write_all(self.fd, pickle.dumps(("x", batch), protocol=pickle.HIGHEST_PROTOCOL))
        self.exchanges, self.batches, self.count = [], [], 0


def _child(run: Callable[..., float], scan_type: ScanType, with_hold: bool, fd: int,
           counts: Callable[[], tuple[int, int]]) -> None:
    """The child's whole life: scan (``run(report, hold)``), stream the answers, report
    the rest, exit."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)    # Ctrl-C: end at once
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    writer = _ChunkWriter(scan_type, fd)
    hold = _ChildHold() if with_hold else None
    opened_before, closed_before = counts()
    try:
        timeout = run(writer, hold)
        writer.flush()
        opened, closed = counts()
        end = (hold.silent if hold else [], hold.witness if hold else {}, timeout,
               opened - opened_before, closed - closed_before)
        _write_all(fd, pickle.dumps(("end", end), protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException as err:  # handed to the parent, raised there
        try:
            message = pickle.dumps(("err", err), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            message = pickle.dumps(("err", RuntimeError(f"connect scan worker: {err!r}")))
        try:
            _write_all(fd, message)
        except OSError:
            pass


class Child:
    """One forked shard, seen from the parent."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd = pid, fd
        self.end: Optional[tuple] = None
        self.reaped = False

    def read(self, report: Report, stop: threading.Event) -> None:
        """Report the child's exchanges as they come, until its last message; on *stop*
        (a cancelled scan), kill it."""
        buffer = bytearray()
        while True:
            if stop.is_set():
                self.kill()
                return
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if not ready:
                continue
            data = os.read(self.fd, 1 << 20)
            if not data:
                if self.end is None:
                    raise RuntimeError(f"a connect scan worker (pid {self.pid}) ended without its results")
                return
            buffer += data
            while len(buffer) >= 4:
                (size,) = _LENGTH.unpack_from(buffer)
                if len(buffer) < 4 + size:
                    break
                kind, body = pickle.loads(bytes(buffer[4:4 + size]))
                del buffer[:4 + size]
                if kind == "x":
                    report_columns(report, body)
                elif kind == "end":
                    self.end = body
                else:
                    raise body

    def kill(self) -> None:
        if not self.reaped:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        """Reap the child (killing it first if it still runs) and close the pipe."""
        if not self.reaped:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            if not done:
                self.kill()
                os.waitpid(self.pid, 0)
            self.reaped = True
        os.close(self.fd)


def fork_shards(n: int, scan_type: ScanType, run: Callable[..., float], with_hold: bool,
                counts: Callable[[], tuple[int, int]]) -> list[Child]:
    """Fork *n* children; each calls ``run(report, hold)`` (its probes of *scan_type*
    come from a feed the caller shares with the others) and exits."""
    children: list[Child] = []
    try:
        for _ in range(n):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:   # the child: never returns into the caller
                status = 0
                try:
                    os.close(read_end)
                    _child(run, scan_type, with_hold, write_end, counts)
                except BaseException:
                    status = 1
                finally:
                    os._exit(status)
            os.close(write_end)
            children.append(Child(pid, read_end))
    except BaseException:
        for child in children:
            child.kill()
            child.close()
        raise
    return children
