"""What the packet-level scans (SYN and UDP) keep per probe, in one place.

Both scans send probes from a queue, keep the tries in flight in send order, and end
each probe once: answered, or silent after its tries.  This book holds that state and
the few steps that change it; it does no I/O and reads no clock (every step is given
``now``), so its rules are tested without a socket.  What differs between the scans
(how a probe is sent, what an answer looks like, when a silent probe is tried again)
stays in :mod:`portlab.transports.raw` and :mod:`portlab.transports.udp`.
"""

from __future__ import annotations

import collections
from typing import Sequence

from ..portcolumns import picker
from ..results import TraceEvent
from ..states import Probe, Reply, ScanType
from .base import Exchange, ExchangeColumns, Report, report_columns


class ProbeBook:
    """Per probe *i* (an index into *probes*): ``tries[i]`` sent so far, ``sent_at[i]``
    of the latest, ``flying[i]`` (sent, neither answered nor timed out), ``done[i]``.

    ``queue`` holds the probes waiting to be sent (each try goes through it);
    ``in_flight`` holds ``(sent_at, i, try, paced)`` in send order, stale entries
    (a later try, or a finished probe) skipped by whoever reads it.
    """

    def __init__(self, probes: Sequence[Probe], report: Report, *, trace: bool, started: float) -> None:
        self.probes = list(probes)
        self.report = report
        self.trace_on = trace
        self.started = started
        n = len(self.probes)
        self.tries = [0] * n
        self.sent_at = [0.0] * n
        self.done = [False] * n
        self.flying = [False] * n
        self.live = 0               # how many are flying
        self.remaining = n          # not done yet
        self.sent_total = 0         # every try sent, the witness probes of the rounds included
        self.traces: list[list[TraceEvent]] = [[] for _ in range(n)] if trace else []
        self.queue: collections.deque[int] = collections.deque(range(n))
        self.in_flight: collections.deque[tuple[float, int, int, bool]] = collections.deque()
        # Settled by settle() and not yet reported: probe numbers, replies, raw RTTs.
        self.settled: tuple[list[int], list[Reply], list[float]] = ([], [], [])

    @property
    def finished(self) -> bool:
        return self.remaining == 0

    def sent(self, i: int, now: float, paced: bool = False) -> int:
        """Probe *i* has just been sent: its try number (1 for the first)."""
        tryno = self.tries[i] + 1
        self.tries[i] = tryno
        self.sent_at[i] = now
        self.flying[i] = True
        self.live += 1
        self.sent_total += 1
        self.in_flight.append((now, i, tryno, paced))
        return tryno

    def park(self, i: int) -> None:
        """Not flying any more, not done: waiting for its next try (or for a verdict)."""
        self.flying[i] = False
        self.live -= 1

    def finish(self, i: int, exchange: Exchange) -> None:
        """Probe *i* is settled: report *exchange*, once."""
        self._close(i)
        self.report(exchange)

    def _close(self, i: int) -> None:
        if self.flying[i]:
            self.park(i)
        self.done[i] = True
        self.remaining -= 1

    def settle(self, i: int, reply: Reply, rtt: float) -> None:
        """Probe *i* is settled by *reply*, *rtt* seconds after its latest try (no trace
        kept): done at once, reported with the others by :meth:`report_settled`.  The
        common answer of a large scan, without an Exchange and a report call each."""
        self._close(i)
        rows, replies, rtts = self.settled
        rows.append(i)
        replies.append(reply)
        rtts.append(rtt)

    def report_settled(self, scan_type: ScanType) -> tuple[list[int], list[float]]:
        """Report what :meth:`settle` settled since the last call, in one call
        (ExchangeColumns, RTTs as :func:`reported_rtt` gives them); return those probe
        numbers and raw RTTs, for the RTT estimators."""
        rows, replies, rtts = self.settled
        self.settled = ([], [], [])
        if rows:
            pick = picker(rows)
            report_columns(self.report, ExchangeColumns.answered(scan_type, pick(self.probes), replies,
                                                                 pick(self.tries), rtts))
        return rows, rtts

    def note(self, i: int, now: float, direction: str, summary: str) -> None:
        """Keep a trace event for probe *i* (when traces are kept)."""
        if self.trace_on:
            self.traces[i].append(TraceEvent(now - self.started, direction, summary))

    def trace_of(self, i: int) -> tuple[TraceEvent, ...]:
        return tuple(self.traces[i]) if self.trace_on else ()

    def oldest_due(self, now: float, timeout_of) -> "tuple[float, int, int, bool] | None":
        """Pop and return the oldest in-flight try whose time is up (``timeout_of(i)``
        seconds after it went), skipping stale entries; None when none is due yet."""
        flight = self.in_flight
        while flight:
            sent, i, tryno, paced = flight[0]
            if self.done[i] or self.tries[i] != tryno:
                flight.popleft()
                continue
            if now - sent < timeout_of(i):
                return None
            return flight.popleft()
        return None


__all__ = ["ProbeBook"]
