"""Run a connect scan's shards in forked processes instead of threads.

A connect scan spends its time in ``connect()``, where the kernel also does the
target's side when the target is on this machine, and in the Python around it.  Two
threads share one GIL: each wakes the other at every system call.  Two processes do
not: the whole ``portlab scan -p -`` took 2.17-2.59 s with forked shards against
2.38-2.92 s with threads (three seeded lab targets, table and JSON, the same
alternating rounds of ``benchmarks/bench_scan.py --baseline``).  Each child runs the very same loop
(``ConnectTransport.run_blocking``) on its share of the probes and streams what it
learns back through a pipe, a few thousand exchanges at a time, so the parent reports
them while the children still scan.

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
from typing import Callable, Optional, Sequence

from ..states import Probe
from .base import Exchange, Report

_LENGTH = struct.Struct("!I")
_CHUNK = 4096                  # exchanges per message: small enough to show progress
_PR_SET_PDEATHSIG = 1


def can_fork() -> bool:
    """Only where forking cannot deadlock the child: Linux, one thread."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1


class _ChildHold:
    """What a child's loop hands its hold (see connect.SilentHold), kept for the parent."""

    watch = None

    def __init__(self, index_of: dict[int, int]) -> None:
        self.index_of = index_of
        self.silent: list[tuple[int, int, tuple]] = []
        self.witness: dict[str, int] = {}

    def hold(self, probe: Probe, tries: int, trace: list) -> None:
        self.silent.append((self.index_of[id(probe)], tries, tuple(trace)))

    def icmp(self, host: str, port: int) -> None:
        self.witness[host] = port


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(_LENGTH.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _child(run: Callable[..., float], part: Sequence[Probe], with_hold: bool, fd: int,
           counts: Callable[[], tuple[int, int]]) -> None:
    """The child's whole life: scan *part*, stream the answers, report the rest, exit."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)    # Ctrl-C: end at once
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    index_of = {id(p): k for k, p in enumerate(part)}
    chunk: list[tuple] = []

    def report(exchange: Exchange) -> None:
        probe, reply, tries, rtt, trace = exchange
        chunk.append((index_of[id(probe)], reply, tries, rtt, trace))
        if len(chunk) >= _CHUNK:
            _write_all(fd, pickle.dumps(("x", chunk), protocol=pickle.HIGHEST_PROTOCOL))
            chunk.clear()

    hold = _ChildHold(index_of) if with_hold else None
    opened_before, closed_before = counts()
    try:
        timeout = run(part, report, hold)
        if chunk:
            _write_all(fd, pickle.dumps(("x", chunk), protocol=pickle.HIGHEST_PROTOCOL))
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

    def __init__(self, pid: int, fd: int, part: Sequence[Probe]) -> None:
        self.pid, self.fd, self.part = pid, fd, part
        self.end: Optional[tuple] = None
        self.reaped = False

    def read(self, report: Report, stop: threading.Event) -> None:
        """Report the child's exchanges as they come, until its last message; on *stop*
        (a cancelled scan), kill it."""
        buffer = bytearray()
        part = self.part
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
                    for index, reply, tries, rtt, trace in body:
                        report(Exchange(part[index], reply, tries, rtt, trace))
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


def fork_shards(parts: Sequence[Sequence[Probe]], run: Callable[..., float], with_hold: bool,
                counts: Callable[[], tuple[int, int]]) -> list[Child]:
    """Fork one child per part; each calls ``run(part, report, hold)`` and exits."""
    children: list[Child] = []
    try:
        for part in parts:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:   # the child: never returns into the caller
                status = 0
                try:
                    os.close(read_end)
                    _child(run, part, with_hold, write_end, counts)
                except BaseException:
                    status = 1
                finally:
                    os._exit(status)
            os.close(write_end)
            children.append(Child(pid, read_end, part))
    except BaseException:
        for child in children:
            child.kill()
            child.close()
        raise
    return children
