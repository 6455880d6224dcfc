"""The contract between the scan engine and the things that send packets.

Like httpx's transports: one small base class, one small backend per way of
asking a port a question (connect / raw / sim / replay).  A transport does I/O and
nothing else; it never decides a port's state.  It reports one :class:`Exchange`
per probe, and the engine classifies it with :func:`portlab.states.classify`.
"""

from __future__ import annotations

import abc
import errno
from itertools import chain, repeat
from typing import Callable, ClassVar, NamedTuple, Optional, Sequence

from ..portcolumns import picker
from ..results import TraceEvent   # the result model is the layer below transports
from ..states import PROBE_PORT, PROBE_TARGET, Probe, Reply, ScanType
from ..timing import Timing


#: What ``sendto`` says when this machine's own output firewall drops the packet
#: (netfilter's NF_DROP on a locally generated packet is EPERM; some rules give EACCES).
#: A transport counts such a probe as sent and unanswered, as nmap does.
LOCAL_FIREWALL_ERRNOS = frozenset({errno.EPERM, errno.EACCES})


class Exchange(NamedTuple):
    """Everything a transport learned about one probe, after its retries.

    A NamedTuple for speed, like Probe: one is built per probed port.
    """

    probe: Probe
    reply: Reply
    tries: int = 1                              # probes sent (1 + retries)
    rtt: Optional[float] = None                 # seconds from the answered try to its reply (reported_rtt)
    trace: tuple[TraceEvent, ...] = ()


Report = Callable[[Exchange], None]


def reported_rtt(seconds: float) -> float:
    """A round-trip time as an Exchange carries it: to the microsecond, as nmap reports
    them (the JSON writer also writes the short floats in half the time)."""
    return round(seconds, 6)


class ExchangeColumns(NamedTuple):
    """Many exchanges of one scan type as columns of equal length: row *i* is the
    Exchange of ``Probe(targets[i], ports[i], scan_type)``.

    A transport that learns answers in bulk (a forked shard, the simulator) hands them
    over this way through :func:`report_columns`, and the engine assembles columns
    anyway: 65,535 Exchange tuples built only to be taken apart again cost more than
    the writers.  Rows may come in any order; *traces* is None when no row has one.
    """

    scan_type: ScanType
    targets: Sequence[str]
    ports: Sequence[int]
    replies: Sequence[Reply]
    tries: Sequence[int]
    rtts: Sequence[Optional[float]]
    traces: Optional[Sequence[tuple[TraceEvent, ...]]] = None

    @classmethod
    def of(cls, scan_type: ScanType, exchanges: Sequence[Exchange]) -> "ExchangeColumns":
        """The columns of *exchanges*, whose probes are all of *scan_type*."""
        if not exchanges:
            return cls(scan_type, (), (), (), (), (), None)
        probes, replies, tries, rtts, traces = zip(*exchanges)
        return cls(scan_type, list(map(PROBE_TARGET, probes)), list(map(PROBE_PORT, probes)), replies, tries, rtts,
                   traces)

    @classmethod
    def answered(cls, scan_type: ScanType, probes: Sequence[Probe], replies: Sequence[Reply],
                 tries: Sequence[int], rtts: Sequence[float]) -> "ExchangeColumns":
        """The columns of *probes* answered by *replies*, *rtts* raw seconds after their
        latest try (reported as :func:`reported_rtt` gives them), no trace."""
        return cls(scan_type, list(map(PROBE_TARGET, probes)), list(map(PROBE_PORT, probes)), replies, tries,
                   list(map(reported_rtt, rtts)))

    @classmethod
    def join(cls, scan_type: ScanType, exchanges: Sequence[Exchange],
             batches: Sequence["ExchangeColumns"]) -> "ExchangeColumns":
        """*exchanges* (one by one) and *batches* (columns) as one set of columns."""
        if exchanges or not batches:
            batches = [*batches, cls.of(scan_type, exchanges)]
        if len(batches) == 1:
            return batches[0]
        fields = [list(chain.from_iterable(column)) for column in zip(*(batch[1:6] for batch in batches))]
        traces = None
        if any(batch.traces is not None for batch in batches):
            traces = list(chain.from_iterable(
                batch.traces if batch.traces is not None else repeat((), len(batch.ports)) for batch in batches))
        return cls(scan_type, *fields, traces)

    def sorted_by_port(self) -> "ExchangeColumns":
        """The same rows in port order (stable)."""
        pick = picker(sorted(range(len(self.ports)), key=self.ports.__getitem__))
        return ExchangeColumns(self.scan_type, *map(pick, self[1:6]),
                               pick(self.traces) if self.traces is not None else None)


def report_columns(report: Report, columns: ExchangeColumns) -> None:
    """Hand *columns* to *report*: in one call when it takes columns (the engine's
    collector has a ``columns`` method), else one Exchange per row, as any plain
    callable (a test's ``list.append``) expects."""
    take_columns = getattr(report, "columns", None)
    if take_columns is not None:
        take_columns(columns)
        return
    traces = columns.traces if columns.traces is not None else repeat(())
    for target, port, reply, tries, rtt, trace in zip(columns.targets, columns.ports, columns.replies,
                                                        columns.tries, columns.rtts, traces):
        report(Exchange(Probe(target, port, columns.scan_type), reply, tries, rtt, trace))


class Transport(abc.ABC):
    """A way of asking probes.  Every backend is built as ``Backend(..., keep_trace=...)``
    and says what it is through these attributes, which the engine reads as they are."""

    name: ClassVar[str]
    scan_types: frozenset[ScanType]

    #: False for backends that answer without sending anything (the simulator, a
    #: replay): no descriptor limit applies, and the scope guard lets them address
    #: what :meth:`answers_for` lists.
    sends_packets: ClassVar[bool] = True

    #: Keep per-probe trace events (None: a backend's own default).
    keep_trace: Optional[bool] = True

    #: Set by a transport whose clock is not the wall clock (the simulator): the
    #: time the scan *would* have taken.  The engine reports it as elapsed_s.
    virtual_elapsed: Optional[float] = None

    def check(self, scan_type: ScanType) -> None:
        """Raise MissingPrivilege / BadInput before anything is sent, if this cannot run."""

    def answers_for(self) -> list[str]:
        """Networks or addresses a backend that sends nothing answers for (the scope
        guard adds them); a packet-sending backend answers for nothing by itself."""
        return []

    @abc.abstractmethod
    async def run(self, probes: Sequence[Probe], timing: Timing, report: Report) -> None:
        """Ask every probe, calling *report* exactly once per probe.

        Retries, timeouts, pacing and concurrency are the transport's business.
        Cancellation (the task being cancelled) must close every socket it opened.
        """
