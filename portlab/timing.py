"""Timing templates -T0 .. -T5, with nmap's numbers (nmap(1), "Timing and Performance").

Pure data.  A transport reads a :class:`Timing`; the engine picks one from the
template and the user's overrides.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Sequence

from .errors import BadInput


@dataclass(frozen=True)
class Timing:
    template: int = 3
    initial_timeout: float = 1.0   # seconds to wait for a reply before the RTT is known
    min_timeout: float = 0.1
    max_timeout: float = 10.0
    max_retries: int = 10          # nmap's ceiling; transports retry only unanswered probes
    scan_delay: float = 0.0        # seconds between probes to one host (T0/T1/T2)
    max_parallel: int = 1024       # probes in flight at once (further capped by RLIMIT_NOFILE)
    rate: Optional[float] = None   # packets per second, None = no cap

    def with_overrides(self, **changes) -> "Timing":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


TEMPLATES: dict[int, Timing] = {
    0: Timing(0, initial_timeout=300.0, min_timeout=0.1, max_timeout=300.0, max_retries=10, scan_delay=300.0, max_parallel=1),
    1: Timing(1, initial_timeout=15.0, min_timeout=0.1, max_timeout=15.0, max_retries=10, scan_delay=15.0, max_parallel=1),
    2: Timing(2, initial_timeout=1.0, min_timeout=0.1, max_timeout=10.0, max_retries=10, scan_delay=0.4, max_parallel=1),
    3: Timing(3, initial_timeout=1.0, min_timeout=0.1, max_timeout=10.0, max_retries=10),
    4: Timing(4, initial_timeout=0.5, min_timeout=0.1, max_timeout=1.25, max_retries=6),
    5: Timing(5, initial_timeout=0.25, min_timeout=0.05, max_timeout=0.3, max_retries=2),
}

TEMPLATE_NAMES = {0: "paranoid", 1: "sneaky", 2: "polite", 3: "normal", 4: "aggressive", 5: "insane"}


def template(level: int | str) -> Timing:
    try:
        key = int(level)
        return TEMPLATES[key]
    except (ValueError, KeyError):
        raise BadInput(f"timing template {level!r}: expected 0-5 (as in -T0 .. -T5)") from None


class RttEstimator:
    """RFC 6298 smoothed round-trip time, and nmap's timeout rule built on it:
    srtt + 4·rttvar within the Timing's bounds, ``initial_timeout`` until the first
    sample.  Every packet-sending transport keeps one per scan."""

    __slots__ = ("timing", "srtt", "rttvar", "timeout")

    def __init__(self, timing: Timing) -> None:
        self.timing = timing
        self.srtt: Optional[float] = None
        self.rttvar = 0.0
        # An attribute, not a property: the transports read it once per probe.
        self.timeout = timing.initial_timeout

    def sample(self, rtt: float) -> None:
        self.sample_many((rtt,))

    def sample_many(self, rtts: Sequence[float]) -> None:
        """Take each of *rtts* in turn (RFC 6298), the arithmetic in local names: a
        connect scan samples some 60,000 refused ports a second, a burst at a time."""
        if not rtts:
            return
        srtt, rttvar = self.srtt, self.rttvar
        for rtt in rtts:
            if srtt is None:
                srtt, rttvar = rtt, rtt / 2
                continue
            rttvar = 0.75 * rttvar + 0.25 * abs(srtt - rtt)
            srtt = 0.875 * srtt + 0.125 * rtt
        self.srtt, self.rttvar = srtt, rttvar
        t = self.timing
        self.timeout = min(max(srtt + 4 * rttvar, t.min_timeout), t.max_timeout)
