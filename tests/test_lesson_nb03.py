"""Notebook 03's experiment: the service logs a connect scan, only the capture sees a SYN scan.

The recording in data/recordings/logging is checked line by line; the logging
service runs for real on loopback; the live experiment (root) runs in a lab.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

import portlab
from netlab import netns_skip_reason
from portlab.course.lessons import nb03


@pytest.fixture(scope="module")
def recorded():
    return nb03.load_recording()


def check_claim(exp: nb03.LoggingExperiment) -> None:
    """What the notebook teaches, asserted on one run (recorded or live)."""
    rows = {row["scan"]: row for row in exp.counts()}
    # Both scans probed every open port: the capture holds a SYN for each, in each scan.
    for scan in ("connect", "syn"):
        probed = {p.port for p in exp.packets(scan) if p.to_target and p.flags == "S"}
        assert probed == set(nb03.PORTS), (scan, probed)
        assert rows[scan]["probes of open ports"] == len(nb03.OPEN_PORTS)
    # The connect scan completed every handshake and the service logged each one...
    assert rows["connect"]["handshakes completed"] == len(nb03.OPEN_PORTS)
    assert sorted(e.port for e in exp.entries("connect")) == sorted(nb03.OPEN_PORTS)
    # ...the very connections the capture saw: same client port, final ACK on the wire.
    acks = {(p.sport, p.dport) for p in exp.packets("connect") if p.to_target and p.flags == "."}
    assert {(e.sport, e.port) for e in exp.entries("connect")} == acks
    # The SYN scan answered each SYN/ACK with a RST, never the final ACK, and left no log line.
    syn = exp.packets("syn")
    assert not [p for p in syn if p.to_target and p.flags == "."]
    for port in nb03.OPEN_PORTS:
        assert [p.kind for p in syn if p.port == port] == ["SYN", "SYN/ACK", "RST"]
    assert exp.entries("syn") == [] and exp.service_log("syn") == []
    assert rows["syn"]["lines in the service's log"] == 0
    # Every log line belongs to one of the scans (nothing else talked to the service).
    assert len(exp.entries()) == len(exp.entries("connect"))
    assert exp.states["connect"][nb03.CLOSED_PORT] == "closed (conn-refused)"
    assert exp.states["syn"][nb03.CLOSED_PORT] == "closed (reset)"
    for port in nb03.OPEN_PORTS:
        assert exp.states["connect"][port] == exp.states["syn"][port] == "open (syn-ack)"


def test_recording_shows_the_claim(recorded):
    assert recorded.source == "recorded"
    check_claim(recorded)


def test_recording_is_small_and_says_how_it_was_made(recorded):
    for name in ("service.log", "capture.txt", "meta.json"):
        assert (nb03.RECORDING_DIR / name).stat().st_size < 20_000
    for key in ("how", "scenario", "kernel", "tcpdump", "made", "phases"):
        assert recorded.meta[key]
    assert recorded.meta["open_ports"] == list(nb03.OPEN_PORTS)


def test_views_of_the_recording(recorded):
    assert recorded.conversation("connect") == [
        "scanner -> target  SYN", "target  -> scanner  SYN/ACK", "scanner -> target  ACK",
        "target  -> scanner  FIN/ACK", "scanner -> target  RST/ACK"]
    assert recorded.conversation("syn", nb03.CLOSED_PORT) == ["scanner -> target  SYN", "target  -> scanner  RST/ACK"]
    frame = recorded.side_by_side("connect")
    assert list(frame["ms"]) == sorted(frame["ms"])
    assert (frame["seen by"] == "service log").sum() == 3
    assert (recorded.side_by_side("syn")["seen by"] == "service log").sum() == 0
    assert len(recorded.capture("syn")) == len(recorded.packets("syn"))
    assert recorded.counts_frame().loc["syn", "lines in the service's log"] == 0


def test_chart_of_the_recording(recorded):
    chart = nb03.chart(recorded)
    assert chart.data["scans"] == ["connect", "syn"]
    assert chart.data["lines in the service's log"] == [3, 0]
    assert all(n > 0 for n in chart.data["packets captured"])
    assert "SYN scan" in chart.text and "0 lines" in chart.text
    fig = chart.figure("dark")
    assert len(fig.axes) == 2
    assert chart.png("light")[:4] == b"\x89PNG"


def test_parse_lines():
    line = ("1795932712.635468 eth0  In  IP 10.77.9.1.53518 > 10.77.9.2.22: Flags [R], seq 2945113672, "
            "win 0, length 0")
    (packet,) = nb03.parse_capture([line, "tcpdump: verbose output suppressed", ""])
    assert (packet.src, packet.sport, packet.dport, packet.kind, packet.port, packet.to_target) == \
        ("10.77.9.1", 53518, 22, "RST", 22, True)
    (entry,) = nb03.parse_service_log(["2026-11-29T06:11:52.122499+00:00 tinyd[1]: accepted connection "
                                       "from 10.77.9.1 port 60694 on port 22", "ready"])
    assert (entry.src, entry.sport, entry.port) == ("10.77.9.1", 60694, 22)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_logging_service_logs_a_connect_scan_on_loopback():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", nb03.MODULE, "serve", "--ports", str(port),
                             "--address", "127.0.0.1"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        result = portlab.scan("127.0.0.1", ports=[port])
        assert str(result.hosts[0].ports[0].state) == "open"
        time.sleep(0.3)     # the service polls every 50 ms
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=5)
    entries = nb03.parse_service_log(out.splitlines())
    assert [(e.src, e.port) for e in entries] == [("127.0.0.1", port)]
    assert proc.returncode == 0


SKIP = netns_skip_reason() or nb03.live_skip_reason()


@pytest.mark.netns
@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
def test_live_experiment(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTLAB_STATE_DIR", str(tmp_path / "labs"))
    exp = nb03.run_live()
    assert exp.source == "live"
    check_claim(exp)
    assert not list((tmp_path / "labs").glob("*.json"))     # the lab is gone again


def test_live_refuses_without_root(monkeypatch):
    monkeypatch.setattr(nb03.os, "geteuid", lambda: 1000)
    assert "root" in nb03.live_skip_reason()
    with pytest.raises(RuntimeError, match="cannot run here"):
        nb03.run_live()


# ---------------------------------------------------------------- every outcome (simulator)

@pytest.fixture(scope="module")
def sim():
    return nb03.simulated_scans()


def test_rules_of_single_host():
    assert nb03.rule_for(9000) == "drop"
    assert nb03.rule_for(9001) == "reject"
    assert nb03.rule_for(9002) == "reject with tcp-reset"
    assert nb03.rule_for(9002, "udp") == "no rule, service listening"
    assert nb03.rule_for(9004) == "reject with admin-prohibited"
    assert nb03.rule_for(81) == "no rule, nothing listening"
    assert nb03.rule_for(22) == "no rule, service listening"


def test_outcome_table_is_the_measured_firewall_table(sim):
    table = nb03.outcome_table(sim)
    assert list(table.columns) == ["rule (tcp)", "rule (udp)", "connect", "syn", "udp"]
    # docs/design.md's measured table (section 4): a plain reject is closed to connect, filtered to SYN, closed to UDP.
    assert tuple(table.loc[9001, ["connect", "syn", "udp"]]) == \
        ("closed (conn-refused)", "filtered (port-unreach)", "closed (port-unreach)")
    assert tuple(table.loc[9000, ["connect", "syn", "udp"]]) == \
        ("filtered (no-response)", "filtered (no-response)", "open|filtered (no-response)")
    assert table.loc[9002, "syn"] == "closed (reset)"
    assert table.loc[9004, "connect"] == "filtered (host-unreach)" and table.loc[9004, "syn"] == "filtered (admin-prohibited)"
    assert len(table) == len(nb03.OUTCOME_PORTS)


def test_simulator_agrees_with_the_recordings(sim):
    rows = {r["scan"]: r for r in nb03.agreement(sim)}
    for scan in ("connect", "syn", "udp"):
        assert rows[scan]["ports compared"] >= 10
        assert rows[scan]["differ"] == [] and rows[scan]["agree"] == rows[scan]["ports compared"]


# ---- the packet stepper on 9006/udp: why 11 tries, and 9000 only 2 -----------------------------

def test_stepper_explains_the_icmp_rate_limit_behind_9006s_tries():
    from portlab.course.widgets.stepper import icmp_budget, packet_stepper
    from portlab.sim import kernel

    s = packet_stepper("single-host", port=9006, scan_type="udp")   # as notebook 03 shows it
    budget = icmp_budget(s.result, 9006)
    # What the simulator did, replayed on its own limiter: six earlier ICMP errors spent the
    # burst, and the error came out on the last try, a token's worth of time later.
    assert budget["spent_by"] == [22, 81, 9001, 9003, 9004, 9005] and kernel.XRLIM_BURST_FACTOR == 6
    assert budget["allowed_on"] == budget["tries"] == s.result.hosts[0].port(9006, "udp").tries > 2
    assert abs(budget["answered"] - budget["first"] - kernel.ICMP_RATELIMIT_S) < 0.01
    s.go(2)                                       # a retry: silence may be the limit, not a drop
    assert "Linux lets only 6 go at once to one peer" in s.explanation.value
    s.go(s.total)                                 # the last packet: the whole story
    said = " ".join(s.explanation.value.split())
    for words in ("net.ipv4.icmp_ratelimit (1000 ms by default)", "net.ipv4.icmp_ratemask",
                  "a burst of 6", "Ports 22, 81, 9001, 9003, 9004 and 9005 were asked earlier",
                  f"try {budget['tries']} got the error", "every 100 ms", "--max-retries",
                  "Port 9000 got only 2 tries", "drops the datagram"):
        assert words in said, words
    # 9000 is silent for another reason: its own text says nothing of a rate limit
    s.port.value = 9000
    s.go(s.total)
    assert "icmp_ratelimit" not in s.explanation.value and "open|filtered" in s.explanation.value
    # scanned alone, 9006 answers at once: no budget spent, no story to tell
    alone = packet_stepper("single-host", port=9006, scan_type="udp", ports=[9006])
    alone.go(alone.total)
    assert alone.total == 2 and icmp_budget(alone.result, 9006) is None
    assert "icmp_ratelimit" not in alone.explanation.value


# ---- change a value: many closed ports (03-closed-ports-param) --------------------------------

def test_udp_pays_a_second_a_port_after_the_burst_and_tcp_pays_nothing():
    for count, udp_seconds in ((1, 0.0), (6, 0.0), (10, 5.0), (100, 95.0), (1000, 995.0)):
        times = nb03.closed_port_times(count)
        assert times.seconds("udp") == udp_seconds, count
        assert times.seconds("connect") <= 0.01 and times.seconds("syn") <= 0.01
        for _scan, probes, _seconds, found in times.rows:
            assert found == f"{count} closed" and probes >= count


def test_the_closed_ports_are_closed_for_every_scan_and_untouched_by_rules():
    last = nb03.CLOSED_FROM + nb03.MAX_CLOSED_PORTS - 1
    for protocol in ("tcp", "udp"):
        for port in (nb03.CLOSED_FROM, last):
            assert nb03.rule_for(port, protocol) == "no rule, nothing listening"


def test_the_printout_is_one_line_per_scan():
    lines = str(nb03.closed_port_times(100)).splitlines()
    assert lines[0] == "100 closed ports of 10.77.0.2 (ports 20001-20100), scanned in the simulator:"
    assert [line.split()[0] for line in lines[2:]] == ["connect", "syn", "udp"]
    assert lines[4].split()[1:4] == ["110", "95.00", "s"]


@pytest.mark.parametrize("bad", [0, -5, 10001, 2.0, "10", True, None])
def test_closed_port_times_bad_input_is_one_clear_line(bad):
    from portlab.errors import BadInput
    with pytest.raises(BadInput, match=r"^closed_ports .*: expected a whole number from 1 to 10000$"):
        nb03.closed_port_times(bad)


def test_the_closed_ports_exercise_is_what_the_cell_shows_for_100():
    from portlab.course.exercises import core
    ex = core.get("03-closed-ports-param")
    assert ex.parameter == "closed_ports" and "Set `closed_ports` to 100" in ex.question and ex.kind == "number"
    assert ex.solution == nb03.closed_port_times(100).seconds("udp")
    assert core.feedback(ex.id, "95") is None and core.feedback(ex.id, "95 s") is None
    default = nb03.closed_port_times(10).seconds("udp")
    assert "Did you set `closed_ports`" in core.feedback(ex.id, default)
    assert "RST" in core.feedback(ex.id, 0)
    assert "not ten times the time" in core.feedback(ex.id, 10 * default)
    assert "a number of seconds" in core.feedback(ex.id, "slow")
