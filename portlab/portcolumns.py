"""A host's port results kept as columns, with a PortResult made only when one is asked for.

A full-range scan answers 65,535 ports.  Building a PortResult for each (and later
freeing them) cost more than the table and the JSON writer that read them, and those
only need a few columns: how many ports have each answer, and the handful that differ.
So the engine hands each host a :class:`PortColumns`: the port numbers, one small
number per port naming its answer (state and reason), the tries, the round-trip
times and, when kept, the traces.  The writers read the columns (see
:func:`columns_of`); anything else that touches the ports (iterating, indexing,
appending, sorting) gets a plain list of PortResults, built once on first touch, and
from then on the columns are no longer used, so a change made through the list is
never hidden by them.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import MutableSequence
from itertools import compress, repeat
from operator import attrgetter, itemgetter
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, TypeVar

from .results import PortResult
from .states import PortState

_STATE = attrgetter("state")
T = TypeVar("T")


class PortColumns(MutableSequence):
    """One host's ports, sorted by port, as columns (all of one protocol).

    *answer* holds, per port, an index into *answers*, the distinct (state, reason)
    pairs (each listed once); *names* is the registry's name table for the protocol,
    indexed by port.
    """

    __slots__ = ("protocol", "numbers", "answer", "answers", "tries", "rtt", "traces", "names", "_rows")

    def __init__(self, protocol: str, numbers: array, answer: array,
                 answers: Sequence[tuple[PortState, str]], tries: Sequence[int],
                 rtt: Sequence[Optional[float]], traces: Optional[Sequence[tuple]],
                 names: Sequence[Optional[str]]) -> None:
        self.protocol = protocol
        self.numbers = numbers
        self.answer = answer
        self.answers = list(answers)
        self.tries = tries
        self.rtt = rtt
        self.traces = traces
        self.names = names
        self._rows: Optional[list[PortResult]] = None

    # -- the columns, for writers -------------------------------------------------

    @property
    def live(self) -> bool:
        """True while the columns are the truth (no list of PortResults made yet)."""
        return self._rows is None

    def row(self, i: int) -> PortResult:
        """The PortResult of row *i*, made from the columns (not cached)."""
        state, reason = self.answers[self.answer[i]]
        port = self.numbers[i]
        return PortResult(port, self.protocol, state, reason, self.names[port], self.tries[i],
                          self.rtt[i], self.traces[i] if self.traces is not None else ())

    def tally_states(self) -> Counter:
        """state -> how many ports are in it."""
        if self._rows is not None:
            return Counter(map(_STATE, self._rows))
        tally: Counter = Counter()
        for index, n in Counter(self.answer).items():
            tally[self.answers[index][0]] += n
        return tally

    def tally_answers(self) -> Counter:
        """(state, reason) -> how many ports gave that answer (live columns only)."""
        return Counter({self.answers[index]: n for index, n in Counter(self.answer).items()})

    def has_traces(self) -> bool:
        return self.traces is not None and any(self.traces)

    def states(self) -> list[PortState]:
        """Each port's state, in row order."""
        states = [state for state, _ in self.answers]
        return list(map(states.__getitem__, self.answer))

    def reasons(self) -> list[str]:
        """Each port's reason, in row order."""
        reasons = [reason for _, reason in self.answers]
        return list(map(reasons.__getitem__, self.answer))

    def services(self) -> list[Optional[str]]:
        """Each port's registry name (or None), in row order."""
        return list(map(self.names.__getitem__, self.numbers))

    # -- a list of PortResults, for everything else -----------------------------

    def rows(self) -> list[PortResult]:
        """The ports as a list of PortResults, made on the first call and kept."""
        if self._rows is None:
            self._rows = list(map(PortResult, self.numbers, repeat(self.protocol), self.states(),
                                  self.reasons(), self.services(), self.tries, self.rtt,
                                  self.traces if self.traces is not None else repeat(())))
            # The columns now say nothing the list does not: let them go.
            self.numbers = self.answer = self.tries = self.rtt = self.traces = None   # type: ignore[assignment]
        return self._rows

    def __len__(self) -> int:
        return len(self.numbers) if self._rows is None else len(self._rows)

    def __getitem__(self, index: Any) -> Any:
        return self.rows()[index]

    def __setitem__(self, index: Any, value: Any) -> None:
        self.rows()[index] = value

    def __delitem__(self, index: Any) -> None:
        del self.rows()[index]

    def insert(self, index: int, value: PortResult) -> None:
        self.rows().insert(index, value)

    def __iter__(self) -> Iterator[PortResult]:
        return iter(self.rows())

    def sort(self, *, key: Any = None, reverse: bool = False) -> None:
        self.rows().sort(key=key, reverse=reverse)

    def copy(self) -> list[PortResult]:
        return list(self.rows())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (PortColumns, list, tuple)):
            return self.rows() == list(other)
        return NotImplemented

    __hash__ = None   # type: ignore[assignment]  # mutable, as a list

    def __add__(self, other: Iterable[PortResult]) -> list[PortResult]:
        return self.rows() + list(other)

    def __radd__(self, other: Iterable[PortResult]) -> list[PortResult]:
        return list(other) + self.rows()

    def __iadd__(self, other: Iterable[PortResult]) -> "PortColumns":
        self.rows().extend(other)
        return self

    def __repr__(self) -> str:
        return repr(self.rows())

    def __reduce__(self) -> Any:
        # A pickled result (a notebook's worker, a hub's spawner) carries a plain list.
        return (list, (self.rows(),))


def columns_of(ports: Sequence[PortResult]) -> Optional[PortColumns]:
    """*ports* as live columns, or None when it is an ordinary list (read from a file,
    built by hand, or a PortColumns already turned into one)."""
    if type(ports) is PortColumns and ports.live:
        return ports
    return None


def kept_rows(columns: PortColumns, keep: Iterable[bool]) -> list[PortResult]:
    """The PortResults of the rows where *keep* is true (a few, made from the columns)."""
    return list(map(columns.row, compress(range(len(columns)), keep)))


def picker(order: Sequence[int]) -> Callable[[Sequence[T]], tuple[T, ...]]:
    """A function that picks the rows *order* of a column, as a tuple: one itemgetter
    call gathers a whole column in C, two to three times faster than map()."""
    if len(order) == 1:
        (row,) = order
        return lambda column: (column[row],)
    return itemgetter(*order) if order else lambda column: ()


__all__ = ["PortColumns", "columns_of", "kept_rows", "picker"]
