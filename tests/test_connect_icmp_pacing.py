"""Connect scans past the target's ICMP rate limit: the paced last tries.

The live tests build their own scanner+target namespace pair (tests/netlab.py: no
default route, nothing leaves the machine) and scan only the target inside it.
The target keeps the kernel's default ICMP rate limit (a burst of 6, then 1/s).
"""

from __future__ import annotations


import pytest

from netlab import netlab, netns_skip_reason
from portlab.engine import scan
from portlab.states import PortState
from portlab.transports.connect import _PACED_MAX, _PACED_TRIES, IcmpBucket

REJECTED = range(5000, 5012)       # 12 ports: twice the ICMP burst

_SKIP = netns_skip_reason()
def live(test):
    """A test that builds namespaces: root and Linux, skipped with the reason otherwise."""
    return pytest.mark.netns(pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")(test))


def ruleset(extra: str = "") -> str:
    return ("table inet t {\n  chain input {\n    type filter hook input priority 0; policy accept;\n"
            f"    tcp dport {REJECTED.start}-{REJECTED.stop - 1} reject with icmp type host-unreachable\n"
            f"{extra}  }}\n}}\n")


def by_port(result):
    return {p.port: (p.state, p.reason) for h in result.hosts for p in h.ports}


# --- the bucket model (pure) ----------------------------------------------------

def test_bucket_is_empty_after_the_last_icmp_and_refills_one_token_per_gap():
    bucket = IcmpBucket(gap=1.0, empty_at=10.0)
    assert bucket.ready_at(10.0) == pytest.approx(11.0)
    assert bucket.level(13.5) == pytest.approx(3.5)
    assert bucket.level(100.0) == 6          # never more than the burst
    bucket.spend(11.0)
    assert bucket.ready_at(11.0) == pytest.approx(12.0)


def test_a_silent_try_gives_its_token_back():
    bucket = IcmpBucket(gap=1.0, empty_at=0.0)
    bucket.spend(1.0)
    assert bucket.ready_at(1.0) > 1.0
    bucket.refund()
    assert bucket.ready_at(1.0) == pytest.approx(1.0)


# --- live --------------------------------------------------------------------------

@live
def test_every_icmp_rejected_port_gets_its_reason_despite_the_rate_limit():
    with netlab("pace", tcp=[22], ruleset=ruleset()) as lab:
        result = lab.run_in(lab.scanner_ns, lambda: scan(
            lab.target_addr, f"22,81,{REJECTED.start}-{REJECTED.stop - 1}", "connect",
            allow=["10.199.0.0/24"]))
    states = by_port(result)
    assert {p: states[p] for p in REJECTED} == {p: (PortState.FILTERED, "host-unreach") for p in REJECTED}
    assert states[22] == (PortState.OPEN, "syn-ack")
    assert states[81] == (PortState.CLOSED, "conn-refused")
    # 6 answered from the burst, the others in paced tries: bounded in number, not by a
    # wall clock (a loaded machine is slow, not wrong).
    assert max(p.tries for h in result.hosts for p in h.ports) <= 1 + 1 + _PACED_TRIES


@live
def test_a_dropped_range_is_not_paced_so_the_scan_stays_short():
    # More silent ports than _PACED_MAX on a host that also sends ICMP: a dropped range,
    # so no paced tries (the rejected ports past the burst stay no-response; the rule
    # bounds the time, documented in portlab/transports/connect.py).
    dropped = f"6000-{6000 + _PACED_MAX + 4}"
    with netlab("nopace", ruleset=ruleset(f"    tcp dport {dropped} drop\n")) as lab:
        result = lab.run_in(lab.scanner_ns, lambda: scan(
            lab.target_addr, f"{REJECTED.start}-{REJECTED.stop - 1},{dropped}", "connect",
            allow=["10.199.0.0/24"]))
    states = by_port(result)
    assert all(states[p] == (PortState.FILTERED, "no-response") for p in range(6000, 6000 + _PACED_MAX + 5))
    assert all(states[p][0] is PortState.FILTERED for p in REJECTED)
    # No paced tries for the dropped range: the main rounds' tries only (3 here, as
    # answered retries raise nmap's retry cap); paced extras would make 4 or 5.
    assert all(p.tries <= 3 for h in result.hosts for p in h.ports if p.port >= 6000)


@live
def test_silence_without_any_icmp_is_not_paced():
    with netlab("drop", ruleset="table inet t {\n  chain input {\n    type filter hook input priority 0;"
                                " policy accept;\n    tcp dport 7000-7003 drop\n  }\n}\n") as lab:
        result = lab.run_in(lab.scanner_ns, lambda: scan(
            lab.target_addr, "80,7000-7003", "connect", allow=["10.199.0.0/24"]))
    states = by_port(result)
    assert all(states[p] == (PortState.FILTERED, "no-response") for p in range(7000, 7004))
    assert all(p.tries == 2 for h in result.hosts for p in h.ports if p.port >= 7000)


# --- with raw-socket privilege: the ICMP watch ----------------------------------------

@live
def test_drops_beside_a_few_icmp_rejects_get_no_paced_tries():
    # 3 rejects leave the target's burst of 6 unspent: the watch sees every ICMP error,
    # so the dropped ports' silences cannot be lost errors and end after the main round.
    rules = ("    tcp dport 6100-6102 reject with icmp type host-unreachable\n"
             "    tcp dport 6200-6204 drop\n")
    with netlab("watch", ruleset=("table inet t {\n  chain input {\n    type filter hook input priority 0;"
                                  " policy accept;\n" + rules + "  }\n}\n")) as lab:
        result = lab.run_in(lab.scanner_ns, lambda: scan(
            lab.target_addr, "80,6100-6102,6200-6204", "connect", allow=["10.199.0.0/24"]))
    states = by_port(result)
    assert all(states[p] == (PortState.FILTERED, "host-unreach") for p in range(6100, 6103))
    assert all(states[p] == (PortState.FILTERED, "no-response") for p in range(6200, 6205))
    assert all(p.tries == 2 for h in result.hosts for p in h.ports if p.port >= 6200)


@live
def test_port_unreachable_rejects_past_the_burst_stay_closed():
    # connect() shows an ICMP port-unreachable as ECONNREFUSED, like a RST: only the
    # watch knows the target spent ICMP tokens on them, and paces the ones it swallowed.
    rules = f"    tcp dport {REJECTED.start}-{REJECTED.stop - 1} reject\n"
    with netlab("pu", ruleset=("table inet t {\n  chain input {\n    type filter hook input priority 0;"
                               " policy accept;\n" + rules + "  }\n}\n")) as lab:
        result = lab.run_in(lab.scanner_ns, lambda: scan(
            lab.target_addr, f"{REJECTED.start}-{REJECTED.stop - 1}", "connect", allow=["10.199.0.0/24"]))
    states = by_port(result)
    assert {p: states[p] for p in REJECTED} == {p: (PortState.CLOSED, "conn-refused") for p in REJECTED}
