"""Large scans: host groups and folded results keep memory bounded (issue 12).

A scan of more than ``engine.FOLD_PORTS`` ports keeps each host's commonest
non-open answer as an ExtraPorts count with a compact port list, as nmap's
"Not shown: 65530 closed ports"; it runs in host groups of at most
``engine.GROUP_PROBES`` probes.  These tests lower both limits so that a scan
of a few seconds crosses them, and check that nothing is lost on the way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from portlab import engine
from portlab.results import ExtraPorts, HostResult, PortNumbers, PortResult, ScanResult
from portlab.states import PortState
from portlab.targets import parse_targets

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def small_limits(monkeypatch):
    monkeypatch.setattr(engine, "GROUP_PROBES", 1 << 12)
    monkeypatch.setattr(engine, "FOLD_PORTS", 1 << 13)


def every_port(result: ScanResult) -> dict[tuple[str, int], str]:
    """(address, port) -> state, from listed ports and folded ones alike."""
    found = {}
    for host in result.hosts:
        for port in host.ports:
            found[(host.address, port.port)] = str(port.state)
        for extra in host.extraports:
            assert extra.ports is not None and len(extra.ports) == extra.count
            for number in extra.ports:
                assert (host.address, number) not in found, "a port both listed and folded"
                found[(host.address, number)] = str(extra.state)
    return found


def test_host_groups_cover_every_target_once():
    targets = parse_targets("10.0.0.0/28")
    groups = engine.host_groups(targets, 65535)
    assert [t.address for g in groups for t in g] == [t.address for t in targets]
    assert all(len(g) * 65535 <= max(engine.GROUP_PROBES, 65535) for g in groups)
    assert len(engine.host_groups(targets, 10)) == 1
    # More ports than a group holds: one host a group, never none.
    assert [len(g) for g in engine.host_groups(targets[:3], engine.GROUP_PROBES * 2)] == [1, 1, 1]


def test_a_folded_scan_finds_what_an_unfolded_one_finds(small_limits, monkeypatch):
    args = ("10.77.20.1-12", "1-2048", "syn")
    folded = engine.scan(*args, scenario="capstone", keep_trace=False, seed=3)
    monkeypatch.setattr(engine, "FOLD_PORTS", 1 << 30)
    monkeypatch.setattr(engine, "GROUP_PROBES", 1 << 30)
    whole = engine.scan(*args, scenario="capstone", keep_trace=False, seed=3)
    assert not any(h.extraports for h in whole.hosts)
    assert any(h.extraports for h in folded.hosts), "this scan is above the lowered FOLD_PORTS"
    assert every_port(folded) == every_port(whole)
    assert folded.counts() == whole.counts()
    assert folded.open_ports() == whole.open_ports() == [22, 80, 443]
    assert [h.address for h in folded.hosts] == [h.address for h in whole.hosts]
    assert folded.probes_sent == whole.probes_sent
    # Host groups run one after the other (as nmap's do), so their virtual times add up.
    assert folded.elapsed_s >= whole.elapsed_s > 0
    web = folded.host("10.77.20.10")
    assert [(p.port, str(p.state)) for p in web.ports] == [
        (22, "open"), (23, "filtered"), (80, "open"), (443, "open")]      # the minority stays listed
    assert [(str(e.state), e.count) for e in web.extraports] == [("closed", 2044)]
    assert "Not shown: 2044 closed tcp ports (reset)" in folded.table()


def test_folded_results_survive_json_and_xml(small_limits, tmp_path):
    result = engine.scan("10.77.20.8-11", "1-4096", "syn", scenario="capstone", keep_trace=False)
    assert any(h.extraports for h in result.hosts)
    text = result.to_json(indent=1)
    extras = [e for h in json.loads(text)["hosts"] for e in h.get("extraports", [])]
    assert extras and all(isinstance(e["ports"], str) for e in extras)   # "1-21,23-79", not 4000 numbers
    assert len(text) < 20_000
    back = ScanResult.from_json(text)
    assert back == result
    assert every_port(back) == every_port(result)
    from_xml = ScanResult.from_xml(result.to_xml())
    assert from_xml.counts() == result.counts()
    assert {(h.address, p.port) for h in from_xml.hosts for p in h.ports} == set(every_port(result))


def test_fold_keeps_open_ports_and_the_minority():
    host = HostResult("10.0.0.1", ports=[
        PortResult(n, "tcp", PortState.OPEN, "syn-ack") for n in range(1, 200)] + [
        PortResult(n, "tcp", PortState.CLOSED, "reset") for n in range(200, 300)] + [
        PortResult(300, "tcp", PortState.FILTERED, "no-response")])
    engine.fold_commonest(host)
    assert [str(p.state) for p in host.ports].count("open") == 199     # the commonest, but open
    assert host.extraports == [ExtraPorts(PortState.CLOSED, 100, {"reset": 100}, list(range(200, 300)), "tcp")]
    assert host.port(300).reason == "no-response"


def test_port_numbers_compare_as_a_list_and_stay_small():
    numbers = PortNumbers(range(1, 65536, 2))
    assert numbers == list(range(1, 65536, 2)) and numbers != list(range(1, 65536))
    assert 65535 in numbers and 2 not in numbers and 0 not in numbers
    assert numbers.itemsize * len(numbers) == 65536
    with pytest.raises(OverflowError):
        PortNumbers([70000])


def test_memory_does_not_grow_with_the_number_of_hosts(tmp_path):
    """Peak memory of 6 hosts and of 62 hosts × 8192 ports, in host groups of 4:
    nearly the same when results fold (measured: 34 and 37 MiB; with folding
    turned off, 35 and 82 MiB)."""
    code = (
        "import resource, sys\n"
        "from portlab import engine\n"
        "engine.FOLD_PORTS, engine.GROUP_PROBES = 1 << 16, 1 << 15\n"
        "r = engine.scan(sys.argv[1], '1-8192', 'syn', scenario='capstone', keep_trace=False)\n"
        "print(len(r.hosts), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n")
    peaks = {}
    for targets in ("10.77.20.0/29", "10.77.20.0/26"):
        done = subprocess.run([sys.executable, "-c", code, targets], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
        assert done.returncode == 0, done.stderr
        hosts, peak = map(int, done.stdout.split())
        peaks[hosts] = peak
    assert sorted(peaks) == [6, 62]
    assert peaks[62] - peaks[6] < 20, f"peak MiB by host count: {peaks}"
