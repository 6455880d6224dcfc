"""The replay transport: the classifier run backwards, and whole scans replayed through the engine."""

from __future__ import annotations

import asyncio
import errno
import socket
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

import pytest

from portlab.engine import scan
from portlab.errors import BadInput
from portlab.results import ExtraPorts, HostResult, PortResult, ScanResult
from portlab.states import STATE_TABLE, PortState, Probe, Reply, ReplyKind, ScanType, classify
from portlab.timing import Timing
from portlab.transports.base import TraceEvent
from portlab.transports.replay import ReplayTransport, reply_of_verdict

DATA = Path(__file__).parent / "data"


# -- reply_of_verdict: pure ------------------------------------------------------------------

@pytest.mark.parametrize("key", list(STATE_TABLE), ids=lambda k: f"{k[0].value}-{k[1].value}-{k[2]}")
def test_reply_of_verdict_inverts_every_row_of_the_state_table(key):
    scan_type, _, _ = key
    verdict = STATE_TABLE[key]
    assert classify(scan_type, reply_of_verdict(scan_type, verdict.state, verdict.reason)) == verdict


def test_reply_of_verdict_covers_the_classifiers_fallbacks():
    assert reply_of_verdict("syn", "filtered", "icmp-unreach-code-4") == Reply.icmp(4)
    assert reply_of_verdict("connect", "filtered", "eio") == Reply.connect_error(errno.EIO)
    assert reply_of_verdict("udp", "closed", "port-unreach") == Reply.icmp(3)
    assert reply_of_verdict("connect", "closed", "conn-refused") == Reply.connect_error(errno.ECONNREFUSED)


@pytest.mark.parametrize("scan_type, state, reason", [
    ("udp", "closed", "reset"),            # UDP has no RST
    ("syn", "closed", "port-unreach"),     # ICMP code 3 is filtered to a TCP scan
    ("syn", "unfiltered", "reset"),        # an ACK-scan state
    ("connect", "filtered", "time-exceeded"),
])
def test_reply_of_verdict_refuses_verdicts_no_reply_gives(scan_type, state, reason):
    with pytest.raises(ValueError, match="no reply to a"):
        reply_of_verdict(scan_type, state, reason)


# -- the transport on its own ----------------------------------------------------------

def recording() -> ScanResult:
    trace = (TraceEvent(0.0, "sent", "SYN"), TraceEvent(0.001, "recv", "SYN/ACK"))
    web = HostResult("10.77.0.2", "web", [
        PortResult(22, "tcp", PortState.OPEN, "syn-ack", "ssh", tries=1, rtt=0.001, trace=trace),
        PortResult(8082, "tcp", PortState.FILTERED, "admin-prohibited"),
        PortResult(9000, "tcp", PortState.FILTERED, "no-response", tries=2),
    ], extraports=[ExtraPorts(PortState.CLOSED, 997, {"reset": 997})])
    return ScanResult(ScanType.SYN, "raw", datetime(2026, 1, 1, tzinfo=timezone.utc), 10.0, [web])


def run(transport: ReplayTransport, ports, target="10.77.0.2", scan_type=ScanType.SYN):
    out = []
    probes = [Probe(target, p, scan_type) for p in ports]
    asyncio.run(transport.run(probes, Timing(), out.append))
    return out


def test_recorded_ports_come_back_with_tries_rtt_and_trace():
    transport = ReplayTransport(recording())
    assert transport.name == "replay" and transport.scan_types == {ScanType.SYN}
    got = {ex.probe.port: ex for ex in run(transport, [22, 8082, 9000])}
    assert classify("syn", got[22].reply) == (PortState.OPEN, "syn-ack")
    assert got[22].rtt == 0.001 and got[22].trace[1].summary == "SYN/ACK"
    assert got[8082].reply == Reply.icmp(13)
    assert got[9000].reply == Reply(ReplyKind.NONE) and got[9000].tries == 2


def test_traces_can_be_left_out():
    got = run(ReplayTransport(recording(), keep_trace=False), [22])
    assert got[0].trace == () and got[0].rtt == 0.001


def test_a_count_only_fold_answers_ports_not_listed():
    got = run(ReplayTransport(recording()), [1, 80])
    assert [classify("syn", ex.reply) for ex in got] == [(PortState.CLOSED, "reset")] * 2


def test_virtual_elapsed_is_the_recorded_time_scaled_by_ports_asked():
    transport = ReplayTransport(recording())
    run(transport, range(1, 101))   # 100 of the 1000 recorded ports
    assert transport.virtual_elapsed == pytest.approx(1.0)


def test_unknown_host_or_port_or_scan_type_is_refused_before_any_answer():
    path = DATA / "nmap-loopback-sU.xml"
    transport = ReplayTransport(path)
    with pytest.raises(BadInput, match=r"host 10\.0\.0\.9 is not in the recording \(it holds 127\.0\.0\.1\)"):
        run(transport, [53], target="10.0.0.9", scan_type=ScanType.UDP)
    out = []
    with pytest.raises(BadInput, match=r"127\.0\.0\.1 port 999/udp is not in the recording "
                                       r"\(it holds udp ports 53,123,161,5353\)"):
        asyncio.run(transport.run([Probe("127.0.0.1", 53, ScanType.UDP), Probe("127.0.0.1", 999, ScanType.UDP)],
                                  Timing(), out.append))
    assert out == []  # nothing half-answered
    with pytest.raises(BadInput, match=f"replay of {path}: it records a udp scan"):
        transport.check(ScanType.SYN)


def test_ipv6_addresses_match_in_any_spelling():
    transport = ReplayTransport(DATA / "nmap-loopback6-sT.xml")
    got = run(transport, [22], target="0:0:0:0:0:0:0:1", scan_type=ScanType.CONNECT)
    assert classify("connect", got[0].reply) == (PortState.CLOSED, "conn-refused")


# -- through the engine --------------------------------------------------------------------

@pytest.mark.parametrize("name, scan_type", [("nmap-loopback-sT.xml", "connect"),
                                             ("nmap-loopback-sS-reason.xml", "syn"),
                                             ("nmap-loopback-sU.xml", "udp")])
def test_engine_replay_of_real_nmap_files_gives_nmaps_states(name, scan_type):
    recorded = ScanResult.from_xml((DATA / name).read_text())
    ports = [p.port for _, p in recorded.ports()]
    replayed = scan("127.0.0.1", ports, scan_type, transport=ReplayTransport(DATA / name))
    assert replayed.transport == "replay"
    assert [(p.port, p.state, p.reason) for _, p in replayed.ports()] == \
        [(p.port, p.state, p.reason) for _, p in recorded.ports()]
    assert replayed.elapsed_s == pytest.approx(recorded.elapsed_s)


def test_live_connect_scan_recorded_then_replayed_is_identical(tmp_path):
    """A real connect scan of sockets on 127.0.0.1, saved as JSON, replays to the same result."""
    with ExitStack() as stack:
        def bound(listen: bool) -> int:
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            if listen:
                sock.listen(8)
            return sock.getsockname()[1]

        ports = sorted([bound(True), bound(True)] + [bound(False) for _ in range(5)])
        live = scan("127.0.0.1", ports, "connect", transport="connect", timing=4)
    path = live.save(tmp_path / "live.json")
    replayed = scan("127.0.0.1", ports, "connect", transport=ReplayTransport(path))
    assert live.counts() == {"open": 2, "closed": 5}
    assert [(p.port, p.state, p.reason, p.tries, p.trace) for _, p in replayed.ports()] == \
        [(p.port, p.state, p.reason, p.tries, p.trace) for _, p in live.ports()]
    assert replayed.elapsed_s == pytest.approx(live.elapsed_s)
