"""Connect scans past the target's ICMP rate limit: the witness rounds.

The live tests build their own scanner+target namespace pair (tests/netlab.py: no
default route, nothing leaves the machine) and scan only the target inside it.
The target keeps the kernel's default ICMP rate limit (a burst of 6, then 1/s).
"""

from __future__ import annotations


import pytest

from netlab import netlab, netns_skip_reason
from portlab.engine import scan
from portlab.states import PortState
from portlab.transports.connect import IcmpWatch
from portlab.transports.witness import MAX_ROUNDS, MAX_SILENT

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


# --- the ICMP watch's parser (pure) ------------------------------------------------

def _unreachable(code: int, dst: bytes, dport: int, protocol: int = 6) -> bytes:
    outer = bytes([0x45]) + bytes(8) + bytes([1]) + bytes(2) + dst + bytes(4)
    inner = bytes([0x45]) + bytes(8) + bytes([protocol]) + bytes(2) + bytes(4) + dst
    return outer + bytes([3, code]) + bytes(6) + inner + (40000).to_bytes(2, "big") + dport.to_bytes(2, "big") + bytes(4)


def test_the_watch_names_the_ports_that_icmp_errors_quote():
    # A datagram socket pair stands in for the raw ICMP socket: the same recv() of
    # whole packets, no privilege needed.
    import socket

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    ours.setblocking(False)
    watch = IcmpWatch(ours, ["10.199.0.2", "10.199.0.3", "::1"])
    try:
        theirs.send(_unreachable(3, bytes([10, 199, 0, 2]), 5001))
        theirs.send(_unreachable(3, bytes([10, 199, 0, 9]), 5002))               # not a target of ours
        theirs.send(_unreachable(3, bytes([10, 199, 0, 3]), 5003, protocol=17))  # quotes UDP
        theirs.send(_unreachable(3, bytes([10, 199, 0, 3]), 5004)[:40])          # cut short
        theirs.send(_unreachable(13, bytes([10, 199, 0, 3]), 5005))
        assert watch.witnesses() == {"10.199.0.2": 5001, "10.199.0.3": 5005}
        assert watch.witnesses() == {}                                            # read once
    finally:
        watch.close()
        theirs.close()


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
    # 6 answered from the burst, the others in witness rounds, one a second: bounded in
    # number, not by a wall clock (a loaded machine is slow, not wrong).
    assert max(p.tries for h in result.hosts for p in h.ports) <= 1 + 1 + MAX_ROUNDS


@live
def test_a_dropped_range_gets_no_witness_rounds_so_the_scan_stays_short():
    # More silent ports than MAX_SILENT on a host that also sends ICMP: a dropped range,
    # so no witness rounds (the rejected ports past the burst stay no-response; the rule
    # bounds the time, documented in portlab/transports/connect.py).
    dropped = f"6000-{6000 + MAX_SILENT + 4}"
    with netlab("nopace", ruleset=ruleset(f"    tcp dport {dropped} drop\n")) as lab:
        result = lab.run_in(lab.scanner_ns, lambda: scan(
            lab.target_addr, f"{REJECTED.start}-{REJECTED.stop - 1},{dropped}", "connect",
            allow=["10.199.0.0/24"]))
    states = by_port(result)
    assert all(states[p] == (PortState.FILTERED, "no-response") for p in range(6000, 6000 + MAX_SILENT + 5))
    assert all(states[p][0] is PortState.FILTERED for p in REJECTED)
    # No witness rounds for the dropped range: the main round's tries only.  nmap's rule
    # allows one try more than the latest try ever answered (at least 2: 3 here, as a
    # slow machine lets a reject's retry find a refilled token); a round would add one.
    answered = [p.tries for h in result.hosts for p in h.ports if p.reason != "no-response"]
    allowed = 1 + max([2, *answered])
    assert all(p.tries <= allowed for h in result.hosts for p in h.ports if p.port >= 6000)


@live
def test_silence_without_any_icmp_has_no_witness_and_ends_after_the_main_round():
    with netlab("drop", ruleset="table inet t {\n  chain input {\n    type filter hook input priority 0;"
                                " policy accept;\n    tcp dport 7000-7003 drop\n  }\n}\n") as lab:
        result = lab.run_in(lab.scanner_ns, lambda: scan(
            lab.target_addr, "80,7000-7003", "connect", allow=["10.199.0.0/24"]))
    states = by_port(result)
    assert all(states[p] == (PortState.FILTERED, "no-response") for p in range(7000, 7004))
    assert all(p.tries == 2 for h in result.hosts for p in h.ports if p.port >= 7000)


# --- with raw-socket privilege: the ICMP watch ----------------------------------------

@live
def test_drops_beside_a_few_icmp_rejects_cost_one_witness_round():
    # One round settles them: the dropped ports asked again, then a rejected port (the
    # witness), whose ICMP error shows the bucket had tokens for the ports before it.
    rules = ("    tcp dport 6100-6102 reject with icmp type host-unreachable\n"
             "    tcp dport 6200-6204 drop\n")
    with netlab("watch", ruleset=("table inet t {\n  chain input {\n    type filter hook input priority 0;"
                                  " policy accept;\n" + rules + "  }\n}\n")) as lab:
        result = lab.run_in(lab.scanner_ns, lambda: scan(
            lab.target_addr, "80,6100-6102,6200-6204", "connect", allow=["10.199.0.0/24"]))
    states = by_port(result)
    assert all(states[p] == (PortState.FILTERED, "host-unreach") for p in range(6100, 6103))
    assert all(states[p] == (PortState.FILTERED, "no-response") for p in range(6200, 6205))
    assert all(p.tries == 3 for h in result.hosts for p in h.ports if p.port >= 6200)


@live
def test_rejects_after_another_scan_drained_the_icmp_bucket_are_not_called_drops():
    # Right after another scan (here: 12 quick connects to rejected ports) the target's
    # bucket is empty, so the first rejects of ours go silent beside real drops.  A
    # model that starts with a full bucket called them drops (closed ports reported
    # filtered); the witness rounds ask the target instead.
    rules = ("    tcp dport 5000-5005 reject\n"
             "    tcp dport 5100-5111 reject\n"
             "    tcp dport 6200-6203 drop\n")
    with netlab("drained", ruleset=("table inet t {\n  chain input {\n    type filter hook input priority 0;"
                                    " policy accept;\n" + rules + "  }\n}\n")) as lab:
        def drain_then_scan():
            import socket
            for port in range(5100, 5112):
                with socket.socket() as s:
                    s.settimeout(0.05)
                    s.connect_ex((lab.target_addr, port))
            # 40 probes a second: the main round lasts over a second, so at least one
            # ICMP error comes back during it and names a witness.
            return scan(lab.target_addr, "5000-5005,6200-6203,7000-7040", "connect", rate=40,
                        allow=["10.199.0.0/24"])
        result = lab.run_in(lab.scanner_ns, drain_then_scan)
    states = by_port(result)
    assert {p: states[p] for p in range(5000, 5006)} == {p: (PortState.CLOSED, "conn-refused")
                                                         for p in range(5000, 5006)}
    assert {p: states[p] for p in range(6200, 6204)} == {p: (PortState.FILTERED, "no-response")
                                                         for p in range(6200, 6204)}


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
