"""Virtual time: the simulator never sleeps, it moves a number forward.

NAT timeouts, ICMP rate limits and a scan's duration are all read from one
:class:`VirtualClock` per simulated network, so a notebook can say "two minutes
later" with ``clock.advance(120)`` and see mappings expire.
"""

from __future__ import annotations


class VirtualClock:
    """Seconds since the simulated network was built.  Only ever moves forward."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    @property
    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by *seconds* (>= 0) and return the new time."""
        if seconds < 0:
            raise ValueError(f"time cannot go back ({seconds} s)")
        self._now += float(seconds)
        return self._now

    def advance_to(self, when: float) -> float:
        """Move time to *when* if that is later than now; return the new time."""
        if when > self._now:
            self._now = float(when)
        return self._now

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now:.6f})"
