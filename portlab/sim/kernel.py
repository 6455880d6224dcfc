"""How a Linux host's network stack answers, as pure data and small functions.

* A TCP SYN to a listening port gets a SYN/ACK, to any other port a RST
  (``tcp_v4_send_reset``: RSTs are *not* rate-limited).
* A UDP datagram to a service gets a reply, to any other port an ICMP port
  unreachable (type 3 code 3), which *is* rate-limited.
* ``connect()`` turns an ICMP error into an errno with the table Linux keeps in
  ``net/ipv4/icmp.c`` (``icmp_err_convert``).  While a socket is in SYN-SENT,
  ``tcp_v4_err`` treats every such error as fatal, so ``connect()`` fails at once.
* ICMP errors are rate-limited twice (``icmp_global_allow`` and
  ``icmpv4_xrlim_allow``): a global bucket of ``icmp_msgs_per_sec`` = 1000 tokens a
  second with a burst of ``icmp_msgs_burst`` = 50, and a bucket per destination
  peer (inetpeer) that refills one token per ``icmp_ratelimit`` = 1000 ms and
  holds ``XRLIM_BURST_FACTOR`` = 6 tokens.  A new peer starts with a full bucket
  (``rate_last = jiffies - 60*HZ``).  Only the types in ``icmp_ratemask``
  (0x1818: dest-unreach, source-quench, time-exceeded, parameter-problem) are
  limited, and never towards a loopback device.  nftables ``reject`` sends its ICMP
  through ``icmp_send`` too, so it is limited the same way.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import NamedTuple, Optional

# --- ICMP destination-unreachable codes --------------------------------------------

ICMP_NET_UNREACH = 0
ICMP_HOST_UNREACH = 1
ICMP_PROT_UNREACH = 2
ICMP_PORT_UNREACH = 3
ICMP_NET_ANO = 9
ICMP_HOST_ANO = 10
ICMP_PKT_FILTERED = 13

#: nftables/iptables ``reject with ...`` names -> what the target sends back.
#: ``None`` means a TCP RST rather than an ICMP error.
REJECT_CODES: dict[str, Optional[int]] = {
    "port-unreachable": ICMP_PORT_UNREACH,
    "host-unreachable": ICMP_HOST_UNREACH,
    "net-unreachable": ICMP_NET_UNREACH,
    "prot-unreachable": ICMP_PROT_UNREACH,
    "net-prohibited": ICMP_NET_ANO,
    "host-prohibited": ICMP_HOST_ANO,
    "admin-prohibited": ICMP_PKT_FILTERED,
    "tcp-reset": None,
}

#: How a trace names each code (the names nftables and tcpdump use).
ICMP_CODE_NAMES: dict[int, str] = {
    0: "net-unreachable", 1: "host-unreachable", 2: "prot-unreachable", 3: "port-unreachable",
    4: "frag-needed", 5: "source-route-failed", 6: "net-unknown", 7: "host-unknown",
    8: "host-isolated", 9: "net-prohibited", 10: "host-prohibited", 11: "net-unreachable-tos",
    12: "host-unreachable-tos", 13: "admin-prohibited", 14: "host-precedence-violation",
    15: "precedence-cutoff",
}


class IcmpErr(NamedTuple):
    errno: int
    fatal: bool  # matters only once a connection is established; in SYN-SENT all are fatal


#: Linux ``icmp_err_convert[]``, indexed by the ICMP unreachable code.
ICMP_ERR_CONVERT: tuple[IcmpErr, ...] = (
    IcmpErr(errno.ENETUNREACH, False),   # 0  net unreachable
    IcmpErr(errno.EHOSTUNREACH, False),  # 1  host unreachable
    IcmpErr(errno.ENOPROTOOPT, True),    # 2  protocol unreachable
    IcmpErr(errno.ECONNREFUSED, True),   # 3  port unreachable
    IcmpErr(errno.EMSGSIZE, False),      # 4  fragmentation needed
    IcmpErr(errno.EOPNOTSUPP, False),    # 5  source route failed
    IcmpErr(errno.ENETUNREACH, True),    # 6  net unknown
    IcmpErr(errno.EHOSTDOWN, True),      # 7  host unknown
    IcmpErr(errno.ENONET, True),         # 8  host isolated
    IcmpErr(errno.ENETUNREACH, True),    # 9  net administratively prohibited
    IcmpErr(errno.EHOSTUNREACH, True),   # 10 host administratively prohibited
    IcmpErr(errno.ENETUNREACH, False),   # 11 net unreachable for TOS
    IcmpErr(errno.EHOSTUNREACH, False),  # 12 host unreachable for TOS
    IcmpErr(errno.EHOSTUNREACH, True),   # 13 communication administratively prohibited
    IcmpErr(errno.EHOSTUNREACH, True),   # 14 host precedence violation
    IcmpErr(errno.EHOSTUNREACH, True),   # 15 precedence cut-off
)


def connect_errno(icmp_code: int) -> int:
    """The errno ``connect()`` fails with when an ICMP unreachable of *icmp_code* arrives."""
    if 0 <= icmp_code < len(ICMP_ERR_CONVERT):
        return ICMP_ERR_CONVERT[icmp_code].errno
    return errno.EHOSTUNREACH  # Linux ignores codes > NR_ICMP_UNREACH; never sent by the simulator


# --- what the stack sends back -------------------------------------------------------

#: Answer kinds, as short strings so that answers compare and hash cheaply.
SYN_ACK = "syn-ack"
RST = "rst"
ICMP = "icmp"
UDP_REPLY = "udp"
SILENCE = "none"
LOCAL_ERROR = "local-error"  # the sender's own kernel refused (no route): an errno, no packet


def stack_answer(protocol: str, port: int, tcp_listening, udp_listening) -> tuple[str, Optional[int]]:
    """What a Linux host with these services answers to a first packet on *port*.

    Returns ``(kind, icmp_code)``.  *tcp_listening* / *udp_listening* are anything
    supporting ``in`` (a frozenset of ports).
    """
    if protocol == "tcp":
        return (SYN_ACK, None) if port in tcp_listening else (RST, None)
    return (UDP_REPLY, None) if port in udp_listening else (ICMP, ICMP_PORT_UNREACH)


# --- ICMP rate limiting ----------------------------------------------------------------

ICMP_RATELIMIT_S = 1.0     # net.ipv4.icmp_ratelimit, 1000 ms per token
XRLIM_BURST_FACTOR = 6     # net/ipv4/inetpeer.c: the per-peer bucket holds 6 tokens
ICMP_MSGS_PER_SEC = 1000   # net.ipv4.icmp_msgs_per_sec
ICMP_MSGS_BURST = 50       # net.ipv4.icmp_msgs_burst
ICMP_RATEMASK = 0x1818     # types 3, 4, 11, 12


@dataclass
class TokenBucket:
    """A bucket that refills continuously: *interval* seconds per token, *burst* tokens at most.

    It starts full, like a fresh inetpeer entry.  ``allow(now)`` takes a token if one
    is there.  Time is whatever clock the caller uses (the simulator's virtual clock).
    """

    interval: float
    burst: int
    tokens: float = -1.0
    last: Optional[float] = None

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = float(self.burst)

    def _refill(self, now: float) -> None:
        if self.last is not None and now > self.last:
            self.tokens = min(float(self.burst), self.tokens + (now - self.last) / self.interval)
        if self.last is None or now > self.last:
            self.last = now

    def peek(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= 1.0

    def take(self) -> None:
        self.tokens -= 1.0

    def allow(self, now: float) -> bool:
        if self.peek(now):
            self.take()
            return True
        return False

    def next_token_at(self, now: float) -> float:
        """When the next token will be there (``now`` if there is one already)."""
        self._refill(now)
        if self.tokens >= 1.0:
            return now
        return now + (1.0 - self.tokens) * self.interval


class IcmpRateLimiter:
    """One machine's ICMP error limiter: a global bucket and one bucket per peer.

    Linux before 6.12 asks the global limiter first (``icmp_global_allow``) and then
    the peer's (``icmpv4_xrlim_allow``), so a message the peer bucket refuses has
    still spent a global token; 6.12 ("icmp: change the order of rate limits")
    asks the peer first.  This class follows the older order.  With one scanner
    per scenario the difference never shows: the global bucket (1000/s) cannot run
    dry before the peer's (1/s).
    """

    def __init__(self, ratelimit: float = ICMP_RATELIMIT_S, burst: int = XRLIM_BURST_FACTOR,
                 msgs_per_sec: int = ICMP_MSGS_PER_SEC, msgs_burst: int = ICMP_MSGS_BURST) -> None:
        self.ratelimit = ratelimit
        self.burst = burst
        self.global_bucket = TokenBucket(1.0 / msgs_per_sec, msgs_burst)
        self.peers: dict[str, TokenBucket] = {}

    def allow(self, peer: str, now: float, *, icmp_type: int = 3, loopback: bool = False) -> bool:
        if not (ICMP_RATEMASK >> icmp_type) & 1 or loopback:
            return True
        if not self.global_bucket.allow(now):
            return False
        bucket = self.peers.get(peer)
        if bucket is None:
            bucket = self.peers[peer] = TokenBucket(self.ratelimit, self.burst)
        return bucket.allow(now)
