"""Notebook 04's helpers, on real results: simulated traces, live loopback listeners, the recordings."""

from __future__ import annotations

import socket

import pytest

import portlab
from portlab.course.exercises import core
from portlab.course.lessons import nb04
from portlab.results import load


@pytest.fixture(scope="module")
def single_host():
    return portlab.scan("10.77.0.2", ports=[22, 81, 9000, 9001], scan_type="syn", scenario="single-host", timing=4)


def test_tries_table_of_a_dropped_port_shows_the_retry_and_the_give_up(single_host):
    table = nb04.tries_table(single_host, 9000)
    assert table["direction"].tolist() == ["sent", "sent", "-"]
    assert table["what"].iloc[0] == table["what"].iloc[1]            # the same SYN, sent again
    assert table["waited_ms"].iloc[1] == pytest.approx(100.0)        # -T4's min timeout: the host answered others
    assert table["what"].iloc[2] == "gave up: filtered (no-response)"


def test_tries_table_of_an_open_port_is_one_exchange(single_host):
    table = nb04.tries_table(single_host, 22)
    assert table["direction"].tolist() == ["sent", "recv"]
    assert table["what"].iloc[1].startswith("SYN/ACK")
    with pytest.raises(KeyError):
        nb04.tries_table(single_host, 23)


def test_dropped_port_cost_follows_the_template_and_what_the_host_answered():
    assert nb04.dropped_port_cost(4)["cost_s"] == pytest.approx(0.2)
    assert nb04.dropped_port_cost(4, host_answered=False)["cost_s"] == pytest.approx(1.0)
    # the simulator charges the same: one dropped port on a host that answers nothing else
    alone = portlab.scan("10.77.0.2", ports=[9000], scan_type="syn", scenario="single-host", timing=4)
    assert alone.elapsed_s == pytest.approx(nb04.dropped_port_cost(4, host_answered=False)["cost_s"], abs=0.01)
    assert nb04.dropped_port_cost(5, tries=10)["tries"] == 3            # -T5: at most 2 retries
    table = nb04.template_table()
    assert list(table.index) == [f"-T{i}" for i in range(6)]
    assert table.loc["-T0", "scan_delay_s"] == 300.0


def test_loopback_services_live_scan_and_compare(tmp_path):
    with nb04.LoopbackServices(["web", "db"]) as services:
        before = services.scan()
        assert sorted(before.open_ports()) == sorted(services.ports.values())
        path = nb04.save_recording(before, tmp_path / "loopback.json")
        port = services.stop("db")
        assert services.running() == ["web"]
        after = services.scan()
    recorded = load(path)                                  # the recording reads back losslessly
    diff = nb04.compare(recorded, after, {p: n for n, p in services.ports.items()})
    changed = diff[diff["changed"]]
    assert changed["port"].tolist() == [port] and changed["service"].tolist() == ["db"]
    assert changed["recorded"].iloc[0] == "open (syn-ack)" and changed["now"].iloc[0] == "closed (conn-refused)"
    # every listener is closed after the block: the web port is free to bind again
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", services.ports["web"]))


def test_loopback_services_close_on_error():
    services = nb04.LoopbackServices(["a"])
    with pytest.raises(RuntimeError):
        with services:
            raise RuntimeError("boom")
    assert services.running() == []


def test_recordings_frame_reads_json_and_nmap_xml():
    files = nb04.recording_files("web-server")
    assert {"connect.json", "syn.json", "nmap-syn.xml", "nmap-udp.xml"} <= set(files)
    assert "meta.json" not in files
    frame = nb04.recordings_frame("web-server")
    counts = frame.groupby(["file", "state"]).size()
    assert counts["nmap-syn.xml", "open"] == 2 and counts["syn.json", "open"] == 2
    # portlab and nmap agree on every TCP port's state in this recording
    syn = frame[frame["scan_type"] == "syn"].pivot_table(index=["address", "port"], columns="scanner", values="state",
                                                          aggfunc="first")
    assert (syn["nmap"] == syn["portlab"]).all()
    with pytest.raises(FileNotFoundError):
        nb04.recording_files("no-such-scenario")


def test_exercises_solutions_pass_and_wrong_answers_get_hints():
    for ex_id in ("04-predict-udp-silence", "04-polite-minutes", "04-slowest-scan", "04-open-in-recording"):
        ex = core.get(ex_id)
        assert core.feedback(ex_id, ex.solution) is None
    assert core.get("04-predict-udp-silence").reveal() == "open|filtered"
    assert "TCP scan" in core.feedback("04-predict-udp-silence", "filtered")
    assert "seconds" in core.feedback("04-polite-minutes", 400)
    assert core.feedback("04-polite-minutes", "6.7 min") is None
    assert core.feedback("04-slowest-scan", core.get("04-slowest-scan").choices[0]) is not None
    assert core.feedback("04-open-in-recording", 208) is not None


def test_timing_explorer_updates_when_a_control_moves():
    box = nb04.timing_explorer(ports=1000, filtered_share=0.0, level=4)
    count, share, tmpl, out = box.children
    assert "1000 ports, 0 of them filtered" in out.value
    quick = out.value
    share.value = 0.5
    count.value = 10000
    assert "10000 ports, 5000 of them filtered" in out.value and out.value != quick
    tmpl.value = 2                       # one probe at a time with pauses: hours, not seconds
    assert "-T2 (polite)" in out.value and out.value.split(": ")[1].split(" (")[0].endswith(" h")


def test_tries_table_is_the_same_whatever_order_the_scan_sent_the_ports():
    tables = [nb04.tries_table(portlab.scan("10.77.0.2", ports=[22, 81, 9000, 9001], scan_type="syn",
                                            scenario="single-host", timing=4, seed=seed), 9000)
              for seed in (1, 2, 3)]
    assert all(t.equals(tables[0]) for t in tables)
    assert tables[0]["t_ms"].tolist() == [0.0, 100.0, 200.0]


# ---- change a value: a host that answers nothing (04-silent-host-param) -----------------------

def test_a_silent_host_costs_what_the_template_makes_it():
    from portlab.course.exercises.nb04 import SILENT_SECONDS
    from portlab.timing import TEMPLATES
    # the question's premise: -T2 and -T3 wait the same first timeout
    assert TEMPLATES[2].initial_timeout == TEMPLATES[3].initial_timeout == 1.0
    scans = {level: nb04.silent_host_scan(level) for level in range(6)}
    for scan in scans.values():
        assert scan.states == {"filtered": 100} and scan.probes == 200
    assert scans[2].duration_s == pytest.approx(280.0) and scans[2].at_once == 1 and scans[2].pause_s == 0.4
    assert scans[3].duration_s == pytest.approx(2.0, abs=1e-3) and scans[3].at_once == 100
    # the other templates' times, which the checker names when a learner gives one of them
    for level, seconds in SILENT_SECONDS.items():
        assert scans[level].duration_s == pytest.approx(seconds, abs=1e-3), level
    text = str(scans[2])
    assert text.splitlines()[0].startswith("-T2 (polite): a SYN scan of 100 ports")
    assert "waiting at once: 1 probe (one at a time)" in text and text.endswith("the scan takes 280 s (4.7 min)")
    assert str(scans[3]).endswith("the scan takes 2 s") and "100 probes (all of them)" in str(scans[3])


@pytest.mark.parametrize("level, ports, match", [(7, 100, "timing template 7"), ("fast", 100, "timing template"),
                                                 (4, 0, "ports 0"), (4, True, "ports True")])
def test_silent_host_scan_bad_input_is_one_clear_line(level, ports, match):
    from portlab.errors import BadInput
    with pytest.raises(BadInput, match=match) as caught:
        nb04.silent_host_scan(level, ports)
    assert "\n" not in str(caught.value)


def test_the_silent_host_exercise_is_what_the_cell_shows_at_T2():
    ex = core.get("04-silent-host-param")
    assert ex.parameter == "template" and "`template`" in ex.question and ex.kind == "number"
    assert f"the scan takes {ex.solution} s" in str(nb04.silent_host_scan(2))
    for right in (ex.solution, "280", "280 s", " 280.0 "):
        assert core.feedback(ex.id, right) is None, right
    assert "-T3" in core.feedback(ex.id, "2") and "-T4" in core.feedback(ex.id, 1)
    assert "minutes" in core.feedback(ex.id, "4.7") and "minutes" in core.feedback(ex.id, "4.67 min")
    assert "waits alone" in core.feedback(ex.id, 200)
    assert "retries included" in core.feedback(ex.id, 240)
    assert "whole number of seconds" in core.feedback(ex.id, "slow")
