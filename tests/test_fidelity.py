"""Fidelity: the simulator and the live lab built from the same file agree, port by port.

For every shipped scenario and for seeded random ones, each scan type (connect,
SYN, UDP) runs from the lab's scanner namespace and against the simulator of the
same scenario; every port's state AND reason must agree.  nmap, when installed,
must agree with the live scan's states on the shipped scenarios.

Each scan type runs in a freshly built lab (building one takes a fraction of a
second): fresh namespaces start with full ICMP rate-limit buckets, so one scan's
ICMP errors never starve the next scan's.  Root only; CI runs as root.
``PORTLAB_FIDELITY_SEEDS`` sets how many random scenarios (default 30).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from netlab import netns_skip_reason
from portlab import engine
from portlab import scenario as scenario_mod
from portlab.scenario_random import interesting_ports, random_scenario

SKIP = netns_skip_reason()
pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.skipif(SKIP is not None, reason=SKIP or "")]

SCAN_TYPES = ("connect", "syn", "udp")
TIMING = 4
SEEDS = range(int(os.environ.get("PORTLAB_FIDELITY_SEEDS", "30")))
SHIPPED = sorted(scenario_mod.shipped())


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTLAB_STATE_DIR", str(tmp_path / "labs"))


def targets(s) -> list[str]:
    return [str(a) for a, machine in s.addresses().items() if machine != "scanner"]


def udp_ports(s) -> list[int]:
    """The interesting ports that UDP can tell apart (UDP closed ports cost ~1 s each:
    ICMP rate limiting), plus one that nothing names."""
    named: set[int] = set()
    for machine in (*s.hosts, *s.routers):
        named.update(machine.udp)
        if machine.firewall:
            for rule in machine.firewall.rules:
                if rule.ports is not None and rule.protocol in (None, "udp"):
                    named.update(p for p in interesting_ports(s) if p in rule.ports)
    for router in s.routers:
        if router.nat:
            named.update(p for f in router.nat.forwards if f.protocol == "udp" for p in (f.port, f.to_port))
    unnamed = [p for p in interesting_ports(s) if p not in named][:1]
    return sorted(named | set(unnamed))


def ports_for(s, scan_type: str) -> list[int]:
    return udp_ports(s) if scan_type == "udp" else interesting_ports(s)


def by_port(result) -> dict[tuple[str, int], object]:
    return {(h.address, p.port): p for h in result.hosts for p in h.ports}


def describe(p) -> str:
    return f"{p.state} ({p.reason})" if p is not None else "missing"


ICMP_REASONS = {"port-unreach", "host-unreach", "net-unreach", "proto-unreach", "admin-prohibited",
                "host-prohibited", "net-prohibited"}
ICMP_BURST = 5      # the kernel lets 6 ICMP errors through per peer, then 1 a second


def tcp_batches(s, ports: list[int], addresses: list[str]) -> list[list[int]]:
    """Split TCP ports so no machine sends more than ICMP_BURST ICMP errors per batch.

    A TCP scan retransmits a silent port only once (as nmap does), so a rate-limited
    ICMP error would turn e.g. "filtered (admin-prohibited)" into "filtered
    (no-response)" by the luck of the order.  That is a transport matter, not the
    simulator's, so the TCP scans here stay within each machine's burst (the bucket
    belongs to the machine, whichever of its addresses was probed); which ports
    answer with ICMP is read off a simulated SYN scan.
    """
    owner = {str(a): m for a, m in s.addresses().items()}
    syn = engine.scan(addresses, ports, "syn", timing=TIMING, scenario=s, keep_trace=False)
    icmp: dict[int, list[str]] = {}
    for h in syn.hosts:
        for p in h.ports:
            if p.reason in ICMP_REASONS:
                icmp.setdefault(p.port, []).append(owner[h.address])
    batches: list[list[int]] = [[p for p in ports if p not in icmp]]
    used: dict[str, int] = {}
    for port in sorted(icmp):
        need: dict[str, int] = {}
        for machine in icmp[port]:
            need[machine] = need.get(machine, 0) + 1
        if any(used.get(m, 0) + n > ICMP_BURST for m, n in need.items()):
            batches.append([])
            used = {}
        batches[-1].append(port)
        for m, n in need.items():
            used[m] = used.get(m, 0) + n
    return [sorted(b) for b in batches if b]


def address_batches(s) -> list[list[str]]:
    """Target addresses with at most one address of each machine per batch.

    The kernel's ICMP bucket belongs to the sending machine (keyed by the scanner's
    address), so a router's addresses share one and a UDP scan of all of them must
    wait for it (test_lab_live.py::test_udp_scan_of_every_router_address_at_once
    checks that it does); a fresh lab per address is quicker than that wait.
    """
    batches: list[list[str]] = []
    seen: dict[str, int] = {}
    for address, machine in s.addresses().items():
        if machine == "scanner":
            continue
        index = seen.get(machine, 0)
        seen[machine] = index + 1
        while len(batches) <= index:
            batches.append([])
        batches[index].append(str(address))
    return batches


def live_and_sim(s, scan_type: str):
    """(live ports, sim ports, labs used): each batch scanned in a freshly built lab."""
    from portlab.lab import Lab
    addresses, ports = targets(s), ports_for(s, scan_type)
    sim = engine.scan(addresses, ports, scan_type, timing=TIMING, scenario=s, keep_trace=False)
    assert sim.transport == "sim"
    if scan_type == "udp":
        batches = [(group, ports) for group in address_batches(s)]
    else:
        batches = [(addresses, group) for group in tcp_batches(s, ports, addresses)]
    live: dict = {}
    for batch_addresses, batch_ports in batches:
        with Lab(s) as lab:
            result = lab.scan(batch_addresses, batch_ports, scan_type, timing=TIMING, keep_trace=False)
        assert result.transport != "sim"
        live.update(by_port(result))
    return live, by_port(sim), len(batches)


def disagreements(name: str, scan_type: str, live_ports: dict, sim_ports: dict) -> list[str]:
    lines = []
    for key in sorted(set(live_ports) | set(sim_ports), key=lambda k: (tuple(map(int, k[0].split("."))), k[1])):
        a, b = live_ports.get(key), sim_ports.get(key)
        if a is None or b is None or (str(a.state), a.reason) != (str(b.state), b.reason):
            tries = f", live tries {a.tries}" if a is not None else ""
            hint = ""
            if a is not None and b is not None and a.reason == "no-response" and b.reason in ICMP_REASONS:
                hint = " [live ICMP answer missing: rate-limited? the live transport gave up]"
            lines.append(f"{name}: {scan_type} {key[0]}:{key[1]}/{'udp' if scan_type == 'udp' else 'tcp'}: "
                         f"live {describe(a)} vs sim {describe(b)}{tries}{hint}")
    return lines


def check(s, label: str) -> None:
    problems: list[str] = []
    for scan_type in SCAN_TYPES:
        live, sim, _ = live_and_sim(s, scan_type)
        assert live, f"{label}: the live {scan_type} scan found no ports at all"
        problems += disagreements(label, scan_type, live, sim)
    assert not problems, (f"the simulator disagrees with the live lab (the live lab is the truth) in "
                          f"{len(problems)} port(s):\n  " + "\n  ".join(problems))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_live_matches_sim(name):
    check(scenario_mod.load(scenario_mod.shipped()[name]), f"{name}.toml")


@pytest.mark.parametrize("seed", SEEDS)
def test_random_scenario_live_matches_sim(seed):
    s = random_scenario(seed)
    check(s, f"random_scenario({seed})")


# ---------------------------------------------------------------- nmap agrees with the live scan

NMAP_FLAGS = {"connect": "-sT", "syn": "-sS", "udp": "-sU"}

@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
@pytest.mark.parametrize("name", SHIPPED)
def test_nmap_agrees_with_the_live_scan(name, tmp_path):
    """States must agree.  One known, documented difference is tolerated: nmap gives up on
    a UDP port whose ICMP answer the target's rate limit swallowed and calls it
    open|filtered (no-response), where portlab's paced retries got the ICMP error."""
    from portlab import results
    from portlab.lab import Lab
    s = scenario_mod.load(scenario_mod.shipped()[name])
    addresses = targets(s)
    problems, tolerated = [], 0
    for scan_type in SCAN_TYPES:
        ports = ports_for(s, scan_type)
        out = tmp_path / f"{scan_type}.xml"
        with Lab(s) as lab:
            live = lab.scan(addresses, ports, scan_type, timing=TIMING, keep_trace=False)
        with Lab(s) as lab:
            subprocess.run(lab.exec_argv("scanner", "nmap", "-n", "-Pn", NMAP_FLAGS[scan_type], "--reason",
                                         f"-T{TIMING}", "-p", ",".join(map(str, ports)), "-oX", str(out),
                                         *addresses), check=True, capture_output=True, timeout=300)
        nmap, mine = by_port(results.load(out)), by_port(live)
        assert set(nmap) == set(mine), f"{name}: {scan_type}: nmap and portlab probed different ports"
        for key, theirs in nmap.items():
            ours = mine[key]
            if str(theirs.state) == str(ours.state):
                continue
            if (scan_type == "udp" and str(theirs.state) == "open|filtered" and ours.reason in ICMP_REASONS):
                tolerated += 1
                continue
            problems.append(f"{name}: {scan_type} {key[0]}:{key[1]}: nmap {describe(theirs)} vs "
                            f"portlab live {describe(ours)}")
    assert not problems, "nmap disagrees with portlab's live scan:\n  " + "\n  ".join(problems)
