"""docs/design.md's measured firewall table, row by row, against the real kernel.

One namespace pair for the module: the target listens on TCP and UDP 1001-1010
behind an nftables ``inet`` ruleset with one action per port, 1011 has nothing
listening.  Connect, SYN and UDP scans run from the scanner namespace through the
engine (``netns=``), and every row's state and reason must match the table.
If nmap is installed, it must agree too (the table was measured with it).

The target's ``net.ipv4.icmp_ratelimit`` is set to 0 here: the table is about what
each firewall action answers, and a SYN scan meets 7 ICMP-answering ports, one more
than Linux's burst of 6.  Rate limiting has its own test (test_udp_scan.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from netlab import netlab, netns_skip_reason

_SKIP = netns_skip_reason()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")]

# port: (nftables action or None, connect, syn, udp) -- (state, reason); udp None = no row.
TABLE = {
    1001: ("drop", ("filtered", "no-response"), ("filtered", "no-response"), ("open|filtered", "no-response")),
    1002: ("reject", ("closed", "conn-refused"), ("filtered", "port-unreach"), ("closed", "port-unreach")),
    1003: ("reject with tcp reset", ("closed", "conn-refused"), ("closed", "reset"), None),
    1004: ("reject with icmp type host-unreachable",
           ("filtered", "host-unreach"), ("filtered", "host-unreach"), ("filtered", "host-unreach")),
    1005: ("reject with icmp type admin-prohibited",
           ("filtered", "host-unreach"), ("filtered", "admin-prohibited"), ("filtered", "admin-prohibited")),
    1006: ("reject with icmp type net-unreachable",
           ("filtered", "net-unreach"), ("filtered", "net-unreach"), ("filtered", "net-unreach")),
    1007: ("reject with icmp type host-prohibited",
           ("filtered", "host-unreach"), ("filtered", "host-prohibited"), ("filtered", "host-prohibited")),
    1008: ("reject with icmp type net-prohibited",
           ("filtered", "net-unreach"), ("filtered", "net-prohibited"), ("filtered", "net-prohibited")),
    1009: ("reject with icmp type prot-unreachable",
           ("filtered", "proto-unreach"), ("filtered", "proto-unreach"), ("filtered", "proto-unreach")),
    1010: (None, ("open", "syn-ack"), ("open", "syn-ack"), ("open", "udp-response")),      # listening
    1011: (None, ("closed", "conn-refused"), ("closed", "reset"), ("closed", "port-unreach")),  # nothing
}
COLUMN = {"connect": 1, "syn": 2, "udp": 3}
LISTENING = list(range(1001, 1011))


def ruleset() -> str:
    lines = []
    for port, (action, *_rest) in TABLE.items():
        if action is None:
            continue
        lines.append(f"    tcp dport {port} {action}")
        if "tcp reset" not in action:
            lines.append(f"    udp dport {port} {action}")
    return ("table inet portlab_fw {\n  chain input {\n"
            "    type filter hook input priority 0; policy accept;\n" + "\n".join(lines) + "\n  }\n}\n")


def ports_for(scan_type: str) -> list[int]:
    return [p for p, row in TABLE.items() if row[COLUMN[scan_type]] is not None]


@pytest.fixture(scope="module")
def lab():
    with netlab("fw", tcp=LISTENING, udp=LISTENING, ruleset=ruleset()) as lab:
        lab.sysctl(lab.target_ns, "net.ipv4.icmp_ratelimit", "0")
        yield lab


@pytest.fixture(scope="module")
def portlab_results(lab):
    from portlab import engine

    results = {}
    for scan_type in COLUMN:
        result = engine.scan(lab.target_addr, ports_for(scan_type), scan_type, timing=4,
                             netns=lab.scanner_ns, allow=["10.199.0.0/24"])
        [host] = result.hosts
        results[scan_type] = {p.port: (p.state.value, p.reason) for p in host.ports}
        results[scan_type + ":transport"] = result.transport
    return results


@pytest.mark.parametrize("scan_type,port", [(s, p) for s in COLUMN for p in ports_for(s)])
def test_row(portlab_results, scan_type, port):
    expected = TABLE[port][COLUMN[scan_type]]
    action = TABLE[port][0] or ("listening" if port in LISTENING else "nothing listening")
    assert portlab_results[scan_type][port] == expected, f"{scan_type} vs '{action}' on {port}"


def test_transports_used(portlab_results):
    assert portlab_results["connect:transport"] == "connect"
    assert portlab_results["syn:transport"] == "raw"
    assert portlab_results["udp:transport"] == "udp"


def test_unprivileged_udp_reads_the_same_codes(lab):
    """IP_RECVERR gives the unprivileged UDP scan the exact ICMP code, like the raw socket."""
    from portlab import engine
    from portlab.transports.udp import UdpTransport

    result = engine.scan(lab.target_addr, ports_for("udp"), "udp", timing=4, netns=lab.scanner_ns,
                         allow=["10.199.0.0/24"], transport=UdpTransport(privileged=False))
    assert result.transport == "udp-unprivileged"
    got = {p.port: (p.state.value, p.reason) for p in result.hosts[0].ports}
    assert got == {p: TABLE[p][3] for p in ports_for("udp")}


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
@pytest.mark.parametrize("scan_type,flag", [("connect", "-sT"), ("syn", "-sS"), ("udp", "-sU")])
def test_nmap_agrees(lab, scan_type, flag):
    ports = ports_for(scan_type)
    done = subprocess.run(["ip", "netns", "exec", lab.scanner_ns, "nmap", flag, "--reason", "-T4", "-n", "-Pn",
                           "-p", ",".join(map(str, ports)), "-oX", "-", lab.target_addr],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    root = ET.fromstring(done.stdout)
    got = {}
    for port in root.iter("port"):
        state = port.find("state")
        got[int(port.get("portid"))] = (state.get("state"), state.get("reason"))
    assert got == {p: TABLE[p][COLUMN[scan_type]] for p in ports}


def test_no_fd_leak_after_full_range_syn_scan(lab):
    from portlab import engine

    before = len(os.listdir("/proc/self/fd"))
    result = engine.scan(lab.target_addr, "-", "syn", timing=5, netns=lab.scanner_ns,
                         allow=["10.199.0.0/24"], keep_trace=False)
    after = len(os.listdir("/proc/self/fd"))
    ports = result.hosts[0].ports
    assert len(ports) == 65535
    states = {p.port: p.state.value for p in ports}
    assert states[1010] == "open" and states[1003] == "closed" and states[1001] == "filtered"
    assert after <= before


def test_syn_names_every_icmp_reason_despite_the_rate_limit():
    """With the kernel's default ICMP rate limit (a burst of 6, then 1/s) the seven
    ICMP-rejecting ports cannot all answer the first round; the raw transport's witness
    rounds ask the few silent ones again, so each gets its real reason, not no-response."""
    from portlab.transports.witness import MAX_ROUNDS
    from portlab import engine

    with netlab("fwrl", tcp=LISTENING, ruleset=ruleset()) as fresh:
        result = engine.scan(fresh.target_addr, ports_for("syn"), "syn", timing=4, netns=fresh.scanner_ns,
                             allow=["10.199.0.0/24"])
    got = {p.port: (p.state.value, p.reason) for p in result.hosts[0].ports}
    assert got == {p: TABLE[p][2] for p in ports_for("syn")}
    # The extra tries are bounded (counted, not timed): one per witness round at most.
    assert all(p.tries <= 2 + MAX_ROUNDS for p in result.hosts[0].ports)
    assert sum(p.tries > 2 for p in result.hosts[0].ports) <= 16   # only the silent ones
