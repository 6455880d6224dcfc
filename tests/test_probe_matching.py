"""What the transports accept as an answer, and how they name and time it: pure
checks that run without root (the live tests run in quiet namespaces, where no stray
packet ever arrives to be refused)."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portlab import engine, packets as P
from portlab.privilege import has_raw_socket_privilege
from portlab.timing import RttEstimator, Timing, template
from portlab.transports.raw import syn_error_quote

SCANNER, TARGET = "10.0.0.1", "10.0.0.2"


def icmp_error_quoting(sport: int, dport: int, seq: int, code: int = 13) -> bytes:
    syn = P.build_ipv4(SCANNER, TARGET, 6, P.build_tcp(SCANNER, TARGET, sport, dport, seq=seq))
    return P.build_ipv4(TARGET, SCANNER, 1, P.build_icmp_unreachable(code, syn))


def test_an_icmp_error_quoting_our_syn_is_accepted():
    assert syn_error_quote(icmp_error_quoting(40001, 22, 12345), 40001) == (13, socket.inet_aton(TARGET), 22, 12345)


def test_an_icmp_error_quoting_another_source_port_is_refused():
    # Someone else's connection to the same target and port: not an answer to our probe.
    assert syn_error_quote(icmp_error_quoting(40002, 22, 12345), 40001) is None


def test_an_icmp_error_quoting_udp_is_not_a_syn_answer():
    udp = P.build_ipv4(SCANNER, TARGET, 17, P.build_udp(SCANNER, TARGET, 40001, 22))
    packet = P.build_ipv4(TARGET, SCANNER, 1, P.build_icmp_unreachable(3, udp))
    assert syn_error_quote(packet, 40001) is None


# ---- the RTT estimator's bounds (loopback and veth never reach them; tests must) ----

def test_timeouts_never_fall_below_min_timeout():
    est = RttEstimator(Timing(min_timeout=0.1, max_timeout=10.0))
    for _ in range(20):
        est.sample(0.00001)
    assert est.timeout == pytest.approx(0.1)


def test_timeouts_never_exceed_max_timeout():
    est = RttEstimator(template(4))
    for rtt in (5.0, 9.0, 30.0):
        est.sample(rtt)
    assert est.timeout == pytest.approx(template(4).max_timeout)


def test_rfc6298_first_sample_then_smoothing():
    est = RttEstimator(Timing(min_timeout=0.0, max_timeout=100.0, initial_timeout=1.0))
    assert est.timeout == 1.0                   # before any sample
    est.sample(0.2)                             # SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR
    assert (est.srtt, est.rttvar, est.timeout) == pytest.approx((0.2, 0.1, 0.6))
    est.sample(0.4)
    assert est.srtt == pytest.approx(0.875 * 0.2 + 0.125 * 0.4)
    assert est.rttvar == pytest.approx(0.75 * 0.1 + 0.25 * 0.2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.floats(1e-6, 20.0), max_size=30), max_size=5))
def test_sampling_a_burst_at_a_time_is_sampling_one_by_one(bursts):
    # The connect loop feeds its refused ports' RTTs a burst at a time (sample_many);
    # however the samples are cut into bursts, the estimate is the RFC's, step by step.
    est = RttEstimator(Timing(min_timeout=0.0, max_timeout=1000.0, initial_timeout=1.0))
    srtt, rttvar = None, 0.0          # before any sample
    for burst in bursts:
        est.sample_many(burst)
        for rtt in burst:
            if srtt is None:
                srtt, rttvar = rtt, rtt / 2
            else:
                srtt, rttvar = 0.875 * srtt + 0.125 * rtt, 0.75 * rttvar + 0.25 * abs(srtt - rtt)
        assert (est.srtt, est.rttvar) == (srtt, rttvar)
        assert est.timeout == (1.0 if srtt is None else srtt + 4 * rttvar)


# ---- services are named from the scan's own protocol ---------------------------------

@pytest.mark.parametrize("scan_type, expected", [("connect", "shell"), ("syn", "shell"), ("udp", "syslog")])
def test_port_514_is_named_by_its_protocols_registry_row(scan_type, expected):
    # 514 is one of the ports whose TCP and UDP services differ.
    result = engine.scan("10.77.0.2", "514", scan_type, scenario="single-host")
    assert result.hosts[0].ports[0].service == expected


def test_a_live_udp_scan_names_514_syslog():
    # Loopback, closed: the kernel answers port-unreachable; the name is from the UDP table.
    result = engine.scan("127.0.0.1", "514", "udp", timing=4)
    port = result.hosts[0].ports[0]
    assert (port.protocol, port.service) == ("udp", "syslog")


# ---- UDP silence is open|filtered, in both UDP modes, without root -------------------

@pytest.mark.parametrize("privileged", [False, pytest.param(True, marks=pytest.mark.skipif(
    not has_raw_socket_privilege(), reason="the raw ICMP socket needs root or CAP_NET_RAW"))])
def test_a_bound_udp_socket_that_never_answers_is_open_filtered(privileged):
    import asyncio

    from portlab.states import Probe, ScanType, classify
    from portlab.transports.udp import UdpTransport

    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))    # bound, so the kernel sends no port-unreachable
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()                   # nothing there now: the kernel answers port-unreachable
    try:
        out = []
        probes = [Probe("127.0.0.1", silent.getsockname()[1], ScanType.UDP), Probe("127.0.0.1", closed_port, ScanType.UDP)]
        timing = template(5)
        asyncio.run(UdpTransport(privileged=privileged).run(probes, timing, out.append))
    finally:
        silent.close()
    verdicts = {e.probe.port: classify("udp", e.reply) for e in out}
    silent_verdict = verdicts[probes[0].port]
    assert (str(silent_verdict.state), silent_verdict.reason) == ("open|filtered", "no-response")
    assert str(verdicts[closed_port].state) == "closed"
    # Silence was asked again before it was believed.
    assert [e.tries for e in out if e.probe.port == probes[0].port][0] == 1 + timing.max_retries
