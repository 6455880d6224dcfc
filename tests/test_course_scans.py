"""The scan charts and widgets of the course, built from real results and checked for what a learner sees.

Results come from the simulator (shipped scenarios), the live-lab recordings in
data/recordings, and live scans of listeners this file opens on 127.0.0.1.  Every
chart is rendered to PNG in both themes; the checks look inside the figures (arrows,
cells, text colours), not only for "no exception".
"""

from __future__ import annotations

import dataclasses
import re
import socket
import threading
from pathlib import Path

import pytest
from matplotlib.patches import FancyArrowPatch, Rectangle
from matplotlib.text import Text

import portlab
from portlab.course import machine as machine_mod
from portlab.course.charts import portmap, scans, sequence
from portlab.course.theme import DARK, contrast
from portlab.course.widgets import scanpanel, stepper
from portlab.paths import DATA_DIR
from portlab.results import ScanResult, load

RECORDINGS = DATA_DIR / "recordings"
PNG = b"\x89PNG\r\n\x1a\n"


# ---- helpers ---------------------------------------------------------------------

def check_png_and_dark_contrast(chart, tmp_path, name="chart"):
    """Save both themes to PNG; in the dark one every visible text reads (WCAG >= 4.5)
    on what lies behind it: the page, or the fill its gid names."""
    for theme_name in ("light", "dark"):
        path = tmp_path / f"{name}-{theme_name}.png"
        chart.save(str(path), theme_name)
        data = path.read_bytes()
        assert data.startswith(PNG) and len(data) > 2000
    fig = chart.figure("dark")
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert texts
    for text in texts:
        gid = text.get_gid() or ""
        behind = gid.split(":", 1)[1] if gid.startswith("on-fill:") else DARK.background
        colour = text.get_color()
        assert contrast(colour, behind) >= 4.5, (text.get_text(), colour, behind)
    return fig


def arrows_in(fig):
    return [p for ax in fig.axes for p in ax.patches if isinstance(p, FancyArrowPatch)]


@pytest.fixture(scope="module")
def tcp_listener():
    """A TCP port on 127.0.0.1 that accepts connections (and a closed one beside it)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    yield srv.getsockname()[1]
    srv.close()


@pytest.fixture(scope="module")
def udp_echo():
    """A UDP port on 127.0.0.1 that answers every datagram."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(2048)
            except OSError:
                continue
            sock.sendto(b"hello", peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    sock.close()


def closed_port():
    """A loopback TCP port nothing listens on (bound then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def sim_three():
    """single-host scanned three ways with traces: every firewall answer once per scan type."""
    return {kind: portlab.scan("10.77.0.2", ports="22,53,54,80,81,9000-9008", scan_type=kind,
                               scenario="single-host", keep_trace=True, randomize=False)
            for kind in ("connect", "syn", "udp")}


# ---- port map --------------------------------------------------------------------

def test_port_map_full_range_simulated(tmp_path):
    result = portlab.scan("10.77.0.2", ports="-", scan_type="syn", scenario="single-host", keep_trace=False)
    data = portmap.portmap_data(result)
    assert data.counts == result.counts() == {"open": 4, "closed": 65523, "filtered": 8}
    assert sum(sum(b.values()) for b in data.bins) == 65535
    assert data.default_state == "closed"
    assert [p for p, *_ in data.interesting] == [22, 80, 443, 8080, *range(9000, 9002), *range(9003, 9009)]
    chart = portmap.port_map(result)
    assert chart.text.startswith("Of 65535 TCP ports scanned on 10.77.0.2, 4 are open (22 ssh, 80 http")
    assert "the rest (65523) closed" in chart.text
    fig = check_png_and_dark_contrast(chart, tmp_path)
    zoom_cells = [p for p in fig.axes[1].patches if isinstance(p, Rectangle)]
    assert len(zoom_cells) == len(data.interesting) == 12
    labels = {t.get_text() for t in fig.axes[1].texts}
    assert "22\nssh" in labels


def test_port_map_counts_survive_json_folding():
    # A full-range result written as a recording folds the closed ports into extraports.
    result = portlab.scan("10.77.0.10", ports="-", scenario="web-server", keep_trace=False)
    again = ScanResult.from_json(result.to_json())
    assert portmap.portmap_data(again).counts == result.counts() == again.counts()


def test_port_map_recording_with_unnamed_extraports(tmp_path):
    # nmap files may give only a count for the folded ports: counted, and said to be unplaceable.
    text = (RECORDINGS / "single-host" / "nmap-syn.xml").read_text()
    text = re.sub(r'(<extrareasons[^>]*?) ports="[^"]*"', r"\1", text)
    text = re.sub(r'(<scaninfo[^>]*?) services="[^"]*"', r"\1", text)
    result = ScanResult.from_xml(text)
    assert result.hosts[0].extraports and result.hosts[0].extraports[0].ports is None
    data = portmap.portmap_data(result)
    assert data.counts == result.counts()
    assert data.unplaced == {"closed": result.counts()["closed"]}
    chart = portmap.port_map(result)
    assert "cannot place them" in chart.text
    check_png_and_dark_contrast(chart, tmp_path)


def test_port_map_recording(tmp_path):
    result = load(RECORDINGS / "single-host" / "udp.json")
    data = portmap.portmap_data(result)
    assert data.counts == result.counts()
    assert data.protocol == "udp"
    assert (53, "open", "udp-response", "domain") in data.interesting
    check_png_and_dark_contrast(portmap.port_map(result), tmp_path)


def test_port_map_live_loopback(tcp_listener, tmp_path):
    result = portlab.scan("127.0.0.1", ports=f"{tcp_listener - 20}-{tcp_listener + 20}", keep_trace=False)
    data = portmap.portmap_data(result)
    assert data.counts == result.counts()
    assert tcp_listener in [p for p, state, *_ in data.interesting if state == "open"]
    chart = portmap.port_map(result)
    assert "Of 41 TCP ports scanned on 127.0.0.1" in chart.text
    check_png_and_dark_contrast(chart, tmp_path)


# ---- sequence diagrams -------------------------------------------------------------

def test_sequence_one_arrow_per_event_simulated(sim_three, tmp_path):
    for kind, result in sim_three.items():
        for p in result.hosts[0].ports:
            arrows = sequence.sequence_data(p)
            assert len(arrows) == len(p.trace) > 0
            assert "other" not in {a.kind for a in arrows}, [e.summary for e in p.trace]
    # Drawn: one arrow patch per event, retries included (9000 is dropped: two tries, no answer).
    chart = sequence.sequence_diagram(sim_three["syn"], 9000)
    port = sim_three["syn"].hosts[0].port(9000)
    fig = check_png_and_dark_contrast(chart, tmp_path, "seq-9000")
    assert len(arrows_in(fig)) == len(port.trace) == port.tries == 2
    assert [a.label for a in chart.data["arrows"]] == ["SYN (try 1)", "SYN (try 2)"]
    assert "filtered (no-response)" in chart.text


@pytest.mark.parametrize("kind,port,kinds,state", [
    ("syn", 22, ["syn", "syn-ack"], "open"),
    ("syn", 81, ["syn", "rst"], "closed"),
    ("syn", 9001, ["syn", "icmp"], "filtered"),
    ("connect", 22, ["call", "syn-ack"], "open"),
    ("connect", 9001, ["call", "icmp"], "closed"),
    ("udp", 53, ["udp", "udp"], "open"),
    ("udp", 54, ["udp", "icmp"], "closed"),
])
def test_sequence_kinds_simulated(sim_three, kind, port, kinds, state):
    result = sim_three[kind]
    p = result.hosts[0].port(port)
    arrows = sequence.sequence_data(p)
    if p.tries == 1:
        assert [a.kind for a in arrows] == kinds
    else:   # rate-limited retries before the answer: the first and last kinds still say it
        assert (arrows[0].kind, arrows[-1].kind) == (kinds[0], kinds[-1])
    assert p.state.value == state


def test_sequence_every_reject_type_shows_its_icmp_code(sim_three):
    codes = {9003: 1, 9004: 13, 9005: 0, 9006: 10, 9007: 9, 9008: 2}
    for port, code in codes.items():
        for kind in ("syn", "udp", "connect"):
            last = sequence.sequence_data(sim_three[kind].hosts[0].port(port))[-1]
            assert last.kind == "icmp" and f"type 3 code {code} " in last.label, (kind, port, last)


def test_sequence_notes_the_rst_the_trace_does_not_hold(sim_three, tmp_path):
    chart = sequence.sequence_diagram(sim_three["syn"], 22)
    assert any("Not in the trace" in n and "RST" in n for n in chart.data["notes"])
    fig = check_png_and_dark_contrast(chart, tmp_path)
    assert any("Not in the trace" in t.get_text() for t in fig.findobj(Text))
    assert len(arrows_in(fig)) == 2


def test_sequence_upto_draws_the_first_k(sim_three):
    result = sim_three["udp"]
    port = max(result.hosts[0].ports, key=lambda p: p.tries)   # the rate-limited one: many tries
    n = len(port.trace)
    assert n > 3
    for k in (0, 1, 3, n):
        chart = sequence.sequence_diagram(result, port.port, upto=k)
        assert len(chart.data["arrows"]) == k
        assert len(arrows_in(chart.figure("light"))) == k
        verdict_shown = any("verdict:" in t.get_text() for t in chart.figure("light").findobj(Text))
        assert verdict_shown == (k == n)


def test_sequence_replayed_trace_equals_the_original(sim_three):
    again = ScanResult.from_json(sim_three["syn"].to_json())
    for p in sim_three["syn"].hosts[0].ports:
        assert sequence.sequence_data(again.hosts[0].port(p.port)) == sequence.sequence_data(p)


def test_sequence_recording_without_trace_says_so(tmp_path):
    result = load(RECORDINGS / "single-host" / "syn.json")
    chart = sequence.sequence_diagram(result, 22)
    assert chart.data["arrows"] == []
    assert "no packet trace" in chart.text
    fig = check_png_and_dark_contrast(chart, tmp_path)
    assert arrows_in(fig) == []


def test_sequence_live_loopback_connect(tcp_listener, tmp_path):
    shut = closed_port()
    result = portlab.scan("127.0.0.1", ports=[tcp_listener, shut], keep_trace=True)
    opened = result.hosts[0].port(tcp_listener)
    arrows = sequence.sequence_data(opened)
    assert len(arrows) == len(opened.trace)
    assert arrows[0].kind == "syn" and arrows[-1].kind == "syn-ack"
    refused = sequence.sequence_data(result.hosts[0].port(shut))
    assert refused[-1].kind == "rst" and "ECONNREFUSED" in refused[-1].label
    chart = sequence.sequence_diagram(result, tcp_listener)
    fig = check_png_and_dark_contrast(chart, tmp_path)
    assert len(arrows_in(fig)) == len(opened.trace)


@pytest.mark.skipif(not machine_mod.machine().raw_sockets, reason="raw SYN/UDP scans need root or CAP_NET_RAW")
def test_sequence_live_loopback_raw(tcp_listener, udp_echo, tmp_path):
    syn = portlab.scan("127.0.0.1", ports=[tcp_listener, closed_port()], scan_type="syn", keep_trace=True)
    for p in syn.hosts[0].ports:
        arrows = sequence.sequence_data(p)
        assert len(arrows) == len(p.trace) and "other" not in {a.kind for a in arrows}
    assert [a.kind for a in sequence.sequence_data(syn.hosts[0].port(tcp_listener))][-1] == "syn-ack"
    udp = portlab.scan("127.0.0.1", ports=[udp_echo], scan_type="udp", keep_trace=True)
    arrows = sequence.sequence_data(udp.hosts[0].port(udp_echo))
    assert [a.kind for a in arrows][-1] == "udp" and "(5 bytes)" in arrows[-1].label
    check_png_and_dark_contrast(sequence.sequence_diagram(udp, udp_echo), tmp_path)


def test_parse_event_keeps_unknown_words():
    from portlab.transports.base import TraceEvent
    arrow = sequence.parse_event(TraceEvent(0.5, "recv", "something new"))
    assert arrow == sequence.Arrow(0.5, "target", "scanner", "something new", "other")
    timer = sequence.parse_event(TraceEvent(0.1, "recv", "no reply within 0.250s (try 1)"))
    assert timer.kind == "timeout" and timer.source == timer.dest == "scanner" and "250 ms" in timer.label


# ---- three ways side by side -------------------------------------------------------

def test_side_by_side_simulated(sim_three, tmp_path):
    data = scans.side_by_side_data(sim_three)
    assert data.scans == ["connect", "syn", "udp"]
    # docs/design.md's measured table (section 4): a default reject is closed to connect, filtered to SYN, closed to UDP.
    assert [data.cells[s][9001][0] for s in data.scans] == ["closed", "filtered", "closed"]
    assert data.cells["udp"][9000] == ("open|filtered", "no-response")
    assert data.differing() == [9001]
    chart = scans.side_by_side(**sim_three)
    assert "TCP connect and TCP SYN disagree on 1 port (9001)" in chart.text
    fig = check_png_and_dark_contrast(chart, tmp_path)
    cells = [p for p in fig.axes[0].patches if isinstance(p, Rectangle) and p.get_fill()]
    assert len(cells) == sum(len(row) for row in data.cells.values())


def test_side_by_side_recorded_matches_the_simulator(sim_three, tmp_path):
    recorded = {k: load(RECORDINGS / "single-host" / f"{k}.json") for k in ("connect", "syn", "udp")}
    ports = [22, 53, 80, 81, *range(9000, 9009)]
    live = scans.side_by_side_data(recorded, ports=ports)
    sim = scans.side_by_side_data(sim_three, ports=ports)
    for scan in ("syn", "udp"):
        assert {p: live.cells[scan][p][0] for p in ports if p in live.cells[scan]} == \
               {p: sim.cells[scan][p][0] for p in ports if p in live.cells[scan]}
    check_png_and_dark_contrast(scans.side_by_side(**recorded, ports=ports), tmp_path)


def test_three_ways_runs_the_simulator():
    chart = scans.three_ways("10.77.0.10", "22,80,443", scenario="web-server")
    assert chart.data.cells["syn"][80] == ("open", "syn-ack")
    assert chart.data.cells["connect"][22][0] == "filtered"


# ---- scan panel ----------------------------------------------------------------------

def fake_machine(**changes):
    real = machine_mod.machine()
    return dataclasses.replace(real, **changes)


def test_scan_panel_simulated_run():
    panel = scanpanel.scan_panel(ports="1-1024")
    assert panel.target.value == "10.77.0.2"
    panel.scan_type.value = "syn"
    panel.run.click()
    assert "22/tcp" in panel.table.value and "open" in panel.table.value
    assert panel.progress.value == panel.progress.max == 1024
    assert "<img" in panel.portmap.value and "alt='Of 1024 TCP ports scanned on 10.77.0.2" in panel.portmap.value
    assert panel.result.counts()["open"] == 3


def test_scan_panel_bad_ports_one_line():
    panel = scanpanel.scan_panel()
    panel.ports.value = "70000"
    panel.run.click()
    assert "70000" in panel.message.value and "Traceback" not in panel.message.value
    assert panel.message.value.count("\n") == 0
    assert panel.table.value == "" and panel.result is None


def test_scan_panel_disabled_mode_shows_its_reason():
    why = "the live lab needs root to create network namespaces (this notebook's kernel runs as a normal user)"
    panel = scanpanel.ScanPanel(m=fake_machine(root=False, raw_sockets=False, netns=False,
                                               why_not={"live-lab": why}))
    panel.mode.value = "live-lab"
    assert panel.run.disabled
    assert "needs root" in panel.status.value
    with pytest.raises(portlab.errors.PortlabError, match="not available here"):
        scanpanel.run_scan("live-lab", "10.77.0.2", "22", m=panel.machine)
    # Loopback runs without root; a SYN scan there says what it would need.
    panel.mode.value = "live-loopback"
    assert not panel.run.disabled
    panel.scan_type.value = "syn"
    assert "root or CAP_NET_RAW" in panel.status.value


def test_scan_panel_no_lab_running_is_a_reason():
    panel = scanpanel.ScanPanel(m=fake_machine(labs=(), why_not={}))
    panel.mode.value = "live-lab"
    assert panel.run.disabled and "no lab is running" in panel.status.value


def test_scan_panel_replay():
    panel = scanpanel.scan_panel()
    panel.mode.value = "replay"
    panel.scan_type.value = "udp"
    panel.ports.value = "53,123,9000,9001"
    panel.run.click()
    assert panel.result.source.endswith("udp.json")
    assert [p.port for p in panel.result.hosts[0].ports] == [53, 123, 9000, 9001]
    assert "53/udp" in panel.table.value and panel.progress.value == panel.progress.max


def test_scan_panel_live_loopback(tcp_listener):
    panel = scanpanel.scan_panel()
    panel.mode.value = "live-loopback"
    assert panel.target.value == "127.0.0.1"
    panel.ports.value = f"{tcp_listener},{closed_port()}"
    panel.run.click()
    assert f"{tcp_listener}/tcp" in panel.table.value
    assert panel.result.open_ports() == [tcp_listener]
    assert panel.progress.value == panel.progress.max == 2


def test_scan_panel_scope_refusal_is_one_line():
    panel = scanpanel.scan_panel()
    panel.mode.value = "live-loopback"
    panel.target.value = "192.0.2.1"     # TEST-NET-1: refused before anything is sent
    panel.ports.value = "80"
    panel.run.click()
    assert "outside the default scope" in panel.message.value


# ---- packet stepper -----------------------------------------------------------------

def test_stepper_grows_one_arrow_per_click():
    s = stepper.packet_stepper(port=22, scan_type="syn")
    assert s.counter.value == "packet 0 of 2" and s.previous.disabled
    s.next.click()
    assert len(s.chart.data["arrows"]) == 1
    assert "sends a SYN: it asks to open a connection to port 22" in s.explanation.value
    assert len(arrows_in(s.chart.figure("light"))) == 1
    s.next.click()
    assert len(s.chart.data["arrows"]) == 2 and s.next.disabled
    assert "SYN/ACK" in s.explanation.value and "open (syn-ack)" in s.explanation.value
    assert "<img" in s.diagram.value
    s.previous.click()
    assert s.counter.value == "packet 1 of 2"


def test_stepper_udp_silence_and_switching():
    s = stepper.packet_stepper(port=9000, scan_type="syn")
    s.scan_type.value = "udp"
    assert s.k == 0
    for k in range(1, 3):
        s.next.click()
        assert len(s.chart.data["arrows"]) == k
    assert "open|filtered (no-response)" in s.explanation.value
    s.port.value = 9004
    s.next.click()
    s.next.click()
    assert "admin-prohibited" in s.explanation.value


def test_stepper_connect_refused_by_icmp_explains_the_errno():
    s = stepper.packet_stepper(port=9001, scan_type="connect")
    s.go(99)
    assert s.k == 2
    assert "ECONNREFUSED" in s.explanation.value and "closed" in s.explanation.value


# ---- figures --------------------------------------------------------------------------

def test_figures_writes_every_gallery_chart_in_both_themes(tmp_path):
    from portlab.course import figures
    assert {"portmap", "scans", "sequence"} <= set(figures.chart_modules())
    written, failed = figures.render(tmp_path, ["scans"])
    assert failed == []
    names = {p.name for p in written}
    assert "scans-single-host-sim-light.png" in names and "scans-single-host-sim-dark.png" in names
    assert all(p.read_bytes().startswith(PNG) for p in written)


@pytest.mark.netns
@pytest.mark.skipif(not machine_mod.machine().allows("live-lab"), reason="the live lab needs root and namespaces")
def test_scan_panel_live_lab():
    from portlab.lab.run import Lab
    from portlab.scenario import load as load_scenario, shipped
    with Lab(load_scenario(shipped()["single-host"])) as lab:
        panel = scanpanel.scan_panel()
        panel.mode.value = "live-lab"
        assert lab.prefix in panel.lab.options
        assert not panel.run.disabled, panel.status.value
        panel.lab.value = lab.prefix
        panel.target.value = "10.77.0.2"
        panel.ports.value = "22,81,9004"
        panel.run.click()
        assert panel.result is not None, panel.message.value
        assert panel.result.transport == "connect"
        states = {p.port: (p.state.value, p.reason) for p in panel.result.hosts[0].ports}
        assert states == {22: ("open", "syn-ack"), 81: ("closed", "conn-refused"),
                          9004: ("filtered", "host-unreach")}
        assert panel.progress.value == panel.progress.max == 3


def test_stepper_keeps_the_verdict_back_until_the_last_packet():
    s = stepper.packet_stepper(port=9004, scan_type="syn")
    s.next.click()
    assert "filtered" not in s.chart.title and "filtered" not in s.chart.text
    assert "verdict comes after the last packet" in s.chart.text
    s.next.click()
    assert s.chart.title.endswith(": filtered") and "Verdict: filtered (admin-prohibited)" in s.chart.text


def test_scan_panel_refuses_a_live_scan_that_would_block_for_hours():
    panel = scanpanel.scan_panel()
    panel.mode.value = "live-loopback"
    panel.timing.value = 0
    panel.run.click()
    assert "T0 (paranoid) waits 300 s between probes: 1024 ports would take at least 85.3 hours" in panel.message.value
    assert panel.result is None
    # The same template in the simulator is virtual time: it runs, and says how long it would take.
    panel.mode.value = "sim"
    panel.ports.value = "22,80"
    panel.run.click()
    assert panel.result.elapsed_s >= 300


def test_stepper_scans_its_ports_together_so_the_rate_limit_shows():
    # Scanned alone, 9006/udp gets its ICMP error at once; among the other rejects the target's
    # ICMP budget is spent first, and the stepper shows the retries (as notebook 03 says).
    s = stepper.packet_stepper(port=9006, scan_type="udp")
    assert s.total > 3
    alone = stepper.packet_stepper(port=9006, scan_type="udp", ports=[9006])
    assert alone.total == 2
    s.go(2)
    assert "again (try 2)" in s.explanation.value


@pytest.mark.netns
def test_sequence_of_a_drop_settled_by_a_witness_ends_on_the_scanners_side(tmp_path):
    """A dropped port beside a rejected one gets a witness round (transports/witness.py);
    its diagram ends with the scanner's own conclusion, drawn as the scanner's arrow to
    itself, not as an answer from the target."""
    from netlab import netlab, netns_skip_reason

    reason = netns_skip_reason()
    if reason:
        pytest.skip(reason)
    rules = ("table inet t {\n  chain input {\n    type filter hook input priority 0; policy accept;\n"
             "    tcp dport 6100 reject with icmp type host-unreachable\n"
             "    tcp dport 6200 drop\n  }\n}\n")
    with netlab("seqw", ruleset=rules) as lab:
        results = {kind: lab.run_in(lab.scanner_ns, lambda kind=kind: portlab.scan(
            lab.target_addr, "6100,6200", kind, allow=["10.199.0.0/24"], keep_trace=True))
            for kind in ("connect", "syn")}
    out = Path(__file__).parents[1] / "build" / "test-output" / "charts"
    out.mkdir(parents=True, exist_ok=True)
    for kind, result in results.items():
        dropped = result.hosts[0].port(6200)
        arrows = sequence.sequence_data(dropped)
        assert (dropped.state.value, dropped.reason) == ("filtered", "no-response")
        assert len(arrows) == len(dropped.trace) and "other" not in {a.kind for a in arrows}, arrows
        last = arrows[-1]
        assert (last.source, last.dest, last.kind) == (sequence.SCANNER, sequence.SCANNER, "timeout")
        assert "port 6100" in last.label and "dropped" in last.label
        assert "drop, not an error" in sequence.explain(last, 6200)
        chart = sequence.sequence_diagram(result, 6200)
        assert any("port 6100 of the same host" in n for n in chart.data["notes"]), chart.data["notes"]
        assert not any("cannot tell" in n for n in chart.data["notes"])
        check_png_and_dark_contrast(chart, tmp_path, f"witness-{kind}")
        for theme_name in ("light", "dark"):
            chart.save(str(out / f"sequence-witness-{kind}-{theme_name}.png"), theme_name)
