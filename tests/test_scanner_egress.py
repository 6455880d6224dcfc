"""The scanner's own output firewall (issue: outbound rules on the scanning host).

A learner who writes an egress rule on their own machine and then scans meets
this: the kernel refuses to send the probe (``sendto`` says EPERM).  nmap counts
such a probe as sent and unanswered: TCP 56 filtered (no-response), UDP 55
open|filtered (no-response).  portlab must do the same, finish, and print no
traceback; the simulator must model the same case (a scenario's
``[scanner.firewall]``) and agree with the live lab.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from netlab import netns_skip_reason
from portlab import engine, scenario as scenario_mod

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "data" / "scanner-egress.toml"
SKIP = netns_skip_reason()

# port -> (state, reason) per scan type, on a target with 54 listening/answering.
EXPECTED_SIM = {
    "connect": {54: ("open", "syn-ack"), 55: ("closed", "conn-refused"), 56: ("filtered", "no-response"),
                57: ("closed", "conn-refused")},
    "syn": {54: ("open", "syn-ack"), 55: ("closed", "reset"), 56: ("filtered", "no-response"),
            57: ("closed", "reset")},
    "udp": {54: ("open", "udp-response"), 55: ("open|filtered", "no-response"), 56: ("closed", "port-unreach"),
            57: ("closed", "port-unreach")},
}

RULESET = """table inet egress {
  chain output {
    type filter hook output priority 0; policy accept;
    udp dport 55 drop
    tcp dport 56 drop
  }
}
"""


def states(result) -> dict[int, tuple[str, str]]:
    return {p.port: (str(p.state), p.reason) for h in result.hosts for p in h.ports}


def test_scenario_reads_and_writes_the_scanners_firewall():
    s = scenario_mod.load(SCENARIO)
    assert s.scanner.firewall is not None and len(s.scanner.firewall.output) == 2
    assert scenario_mod.loads(scenario_mod.to_toml(s)) == s


@pytest.mark.parametrize("scan_type", ["connect", "syn", "udp"])
def test_the_simulator_models_an_output_drop_on_the_scanner(scan_type):
    result = engine.scan("10.77.0.2", "54-57", scan_type, scenario=SCENARIO)
    assert states(result) == EXPECTED_SIM[scan_type]


@pytest.fixture
def egress_namespace():
    """A namespace with only loopback, whose output chain drops udp/55 and tcp/56."""
    if SKIP:
        pytest.skip(SKIP)
    ns = f"plegress{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=RULESET, text=True, check=True)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def cli_in(ns: str, *args: str) -> subprocess.CompletedProcess:
    # A hang is the bug this guards against: the timeout turns it into a failure.
    return subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "portlab", *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(HERE.parent)})


def table_states(stdout: str) -> dict[int, tuple[str, str]]:
    found = {}
    for line in stdout.splitlines():
        parts = line.split()
        if parts and "/" in parts[0] and parts[0].split("/")[0].isdigit():
            found[int(parts[0].split("/")[0])] = (parts[1], parts[-1])
    return found


@pytest.mark.netns
@pytest.mark.parametrize("scan_type, port, expected", [
    ("syn", 56, ("filtered", "no-response")),
    ("udp", 55, ("open|filtered", "no-response")),
    ("connect", 56, ("filtered", "no-response")),
])
def test_a_live_scan_through_its_own_output_drop_ends_as_nmap_says(egress_namespace, scan_type, port, expected):
    done = cli_in(egress_namespace, "scan", "127.0.0.1", "-p", "54-57", "-s", scan_type, "-T4")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    seen = table_states(done.stdout)
    assert seen[port] == expected
    # The other three ports are untouched by the rule: closed, as the kernel answers.
    assert {p: s for p, (s, _) in seen.items() if p != port} == {p: "closed" for p in (54, 55, 56, 57) if p != port}


@pytest.mark.netns
@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
@pytest.mark.parametrize("flag, scan_type", [("-sS", "syn"), ("-sU", "udp")])
def test_nmap_agrees_on_the_dropped_port(egress_namespace, flag, scan_type):
    nmap = subprocess.run(["ip", "netns", "exec", egress_namespace, "nmap", "-n", "-Pn", flag, "--reason", "-T4",
                           "-p54-57", "127.0.0.1"], capture_output=True, text=True, timeout=120)
    ours = cli_in(egress_namespace, "scan", "127.0.0.1", "-p", "54-57", "-s", scan_type, "-T4")
    theirs = {p: s for p, (s, _) in table_states(nmap.stdout).items()}
    assert theirs and theirs == {p: s for p, (s, _) in table_states(ours.stdout).items()}


@pytest.mark.netns
@pytest.mark.parametrize("scan_type", ["connect", "syn", "udp"])
def test_the_live_lab_agrees_with_the_simulator(scan_type, tmp_path, monkeypatch):
    if SKIP:
        pytest.skip(SKIP)
    from portlab.lab import Lab

    monkeypatch.setenv("PORTLAB_STATE_DIR", str(tmp_path / "labs"))
    s = scenario_mod.load(SCENARIO)
    with Lab(s) as lab:
        live = lab.scan(["10.77.0.2"], [54, 55, 56, 57], scan_type, timing=4, keep_trace=False)
    assert states(live) == EXPECTED_SIM[scan_type]
