"""The probe book the SYN and UDP scans share (portlab.transports.probebook): pure
bookkeeping, checked without a socket or a clock."""

from __future__ import annotations

from portlab.states import Probe, Reply, ReplyKind, ScanType
from portlab.transports.base import Exchange
from portlab.transports.probebook import ProbeBook

PROBES = [Probe("127.0.0.1", port, ScanType.SYN) for port in (22, 80, 443)]


def book(trace: bool = False) -> tuple[ProbeBook, list[Exchange]]:
    reported: list[Exchange] = []
    return ProbeBook(PROBES, reported.append, trace=trace, started=100.0), reported


def test_a_try_is_counted_and_flies_until_parked_or_finished():
    b, reported = book()
    assert list(b.queue) == [0, 1, 2] and not b.finished
    assert b.sent(1, 100.5) == 1
    b.park(1)                 # timed out: waits for its next try
    assert (b.flying[1], b.live) == (False, 0)
    assert b.sent(1, 101.0, paced=True) == 2
    assert (b.tries[1], b.sent_at[1], b.flying[1], b.live, b.sent_total) == (2, 101.0, True, 1, 2)
    assert b.in_flight[-1] == (101.0, 1, 2, True)
    b.finish(1, Exchange(PROBES[1], Reply(ReplyKind.RST), 2))
    b.finish(0, Exchange(PROBES[0], Reply(ReplyKind.NONE), 0))
    assert [e.probe.port for e in reported] == [80, 22]
    assert (b.remaining, b.done) == (1, [True, True, False])
    b.sent(2, 102.0)
    b.finish(2, Exchange(PROBES[2], Reply(ReplyKind.SYN_ACK), 1))
    assert b.finished and b.live == 0     # finishing a flying probe lands it


def test_oldest_due_skips_stale_tries_and_waits_for_the_timeout():
    b, _ = book()
    b.sent(0, 100.0)
    b.sent(1, 100.1)
    b.sent(0, 100.2)          # port 22's first entry is now stale (a later try went)
    b.sent(2, 100.3)
    b.finish(1, Exchange(PROBES[1], Reply(ReplyKind.RST), 1))    # port 80's entry is stale too
    timeout = {0: 0.5, 1: 0.5, 2: 0.1}.__getitem__
    assert b.oldest_due(100.5, timeout) is None          # 22's second try: due at 100.7
    assert b.oldest_due(100.7, timeout) == (100.2, 0, 2, False)
    assert b.oldest_due(100.7, timeout) == (100.3, 2, 1, False)
    assert b.oldest_due(100.7, timeout) is None and not b.in_flight


def test_traces_are_kept_only_when_asked_for():
    quiet, _ = book(trace=False)
    quiet.note(0, 101.0, "sent", "SYN")
    assert quiet.trace_of(0) == () and quiet.traces == []
    loud, _ = book(trace=True)
    loud.note(0, 101.25, "sent", "SYN")
    loud.note(0, 101.5, "recv", "RST")
    assert [(e.t, e.direction, e.summary) for e in loud.trace_of(0)] == [(1.25, "sent", "SYN"), (1.5, "recv", "RST")]


def test_settled_probes_are_done_at_once_and_reported_together_as_columns():
    b, reported = book()
    for i in (0, 1, 2):
        b.sent(i, 100.0)
    b.settle(2, Reply(ReplyKind.RST), 0.0012345678)
    b.settle(0, Reply(ReplyKind.SYN_ACK), 0.0004)
    assert (b.done, b.live, b.remaining, reported) == ([True, False, True], 1, 1, [])
    rows, rtts = b.report_settled(ScanType.SYN)
    assert (rows, rtts) == ([2, 0], [0.0012345678, 0.0004])      # raw, for the estimator
    # A plain callable gets one Exchange each; the RTT as every transport reports it.
    assert reported == [Exchange(PROBES[2], Reply(ReplyKind.RST), 1, 0.001235),
                        Exchange(PROBES[0], Reply(ReplyKind.SYN_ACK), 1, 0.0004)]
    assert b.report_settled(ScanType.SYN) == ([], []) and len(reported) == 2    # each once
