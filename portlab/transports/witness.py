"""Silent probes past an ICMP rate limit, settled by a witness (pure: no I/O).

A target's kernel limits the ICMP errors it sends to each peer (Linux: a bucket of 6
tokens, one more per ``icmp_ratelimit``, 1 s by default).  A port that a firewall
rejects with ICMP goes silent when the bucket is empty, and silence is also what a
dropped port gives: after the main round a scanner cannot tell the two apart by
counting, because it does not know how full the bucket was when the scan began (a
scan just before ours may have emptied it).

A *witness* tells them apart.  It is a port of the same host that answered with an
ICMP error during this scan, so it answers with one whenever the bucket has a token.
A round asks every silent probe once more, then the witness, in that order.  The
target spends its tokens in the order the packets arrive, and a bucket only fills
between spends, never within a round of a few milliseconds: so when the witness gets
its error, every probe sent before it found a token too, and a probe still silent was
dropped.  When the witness stays silent, the bucket ran dry during the round: the
answers that came are kept, and the next round goes one refill interval after this
one, when the bucket holds a token again.  A round therefore settles every probe or
at least one rejected port, and a target without a rate limit costs one round trip.

This module is the bookkeeping; the transports (connect, raw SYN) send and receive.
"""

from __future__ import annotations

from typing import Generic, Hashable, Optional, TypeVar

Item = TypeVar("Item", bound=Hashable)

#: Most rounds one host gets: each settles at least one rejected port, so a host needs
#: more only when more than this many of its silent ports were rejected, not dropped.
MAX_ROUNDS = 12
#: Most silent probes a host may hold for rounds.  More is a dropped range, not a rate
#: limit (a firewall's drop rule): those end as no-response after the main round, as in nmap.
MAX_SILENT = 16


class WitnessRounds(Generic[Item]):
    """One host's silent probes (*items*, opaque to this class) and its witness port.

    The transport asks :meth:`due` when it may send, :meth:`start` sends a round (the
    items it returns, then the witness), and reports back :meth:`answered` for each
    item that got any answer, :meth:`witness_heard` when the witness's ICMP error came
    (returns the items that were dropped), or :meth:`round_over` when the round timed
    out without it.  :attr:`settled` says when nothing is left to do.
    """

    def __init__(self, items: list[Item], witness: int, gap: float, now: float,
                 max_rounds: int = MAX_ROUNDS) -> None:
        self.pending: list[Item] = list(items)
        self.witness = witness
        self.gap = gap                  # the refill interval assumed (the slowest usual)
        self.next_at = now              # the first round goes at once
        self.rounds_left = max_rounds
        self.sent_at: Optional[float] = None   # the running round's start

    @property
    def settled(self) -> bool:
        return not self.pending and self.sent_at is None

    @property
    def running(self) -> bool:
        return self.sent_at is not None

    def due(self, now: float) -> bool:
        return self.sent_at is None and bool(self.pending) and now >= self.next_at

    def wake_at(self) -> Optional[float]:
        """When the next round may go (None while one runs or when settled)."""
        return self.next_at if self.sent_at is None and self.pending else None

    def start(self, now: float) -> list[Item]:
        """A round starts: send these items again, then the witness."""
        self.sent_at = now
        self.rounds_left -= 1
        return list(self.pending)

    def answered(self, item: Item) -> None:
        """An item got an answer (any: RST, SYN/ACK, ICMP error): it is settled."""
        try:
            self.pending.remove(item)
        except ValueError:
            pass

    def witness_heard(self) -> list[Item]:
        """The witness got its ICMP error: every item still silent was dropped."""
        dropped, self.pending = self.pending, []
        self.sent_at = None
        return dropped

    def round_over(self, now: float) -> list[Item]:
        """The round timed out with the witness silent: the bucket ran dry.  The next
        round waits for a token; after the last round, the items still silent are
        returned (no-response: their real answer could not be had in time)."""
        started = self.sent_at if self.sent_at is not None else now
        self.sent_at = None
        # The last token went within the round's first round trip: *gap* (which the
        # caller gives with a margin) after the round's start, the bucket holds one.
        self.next_at = max(started + self.gap, now)
        if self.rounds_left > 0:
            return []
        left, self.pending = self.pending, []
        return left


def refill_gap(interval: float) -> float:
    """The wait for one token after a spend, from the refill *interval* assumed (the
    scanner's own ``icmp_ratelimit``: the usual Linux default).  The target's kernel
    counts in jiffies, so the wait stays a little behind it."""
    return interval * 1.02 + 0.005


def dropped_because(witness: int) -> str:
    """The trace line of a probe that a witness round showed dropped (the course's
    sequence diagrams read it: ``portlab.course.charts.sequence``)."""
    return f"no reply, while port {witness} behind it got its ICMP error: dropped"


#: The trace line of a probe still silent after the last round.
GAVE_UP = f"no reply after {MAX_ROUNDS} witness rounds"
