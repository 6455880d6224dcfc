"""Scans of the simulated network through the engine: docs/design.md's measured firewall
table row by row, NAT seen from outside, routing errors, virtual time and traces."""

from __future__ import annotations

import errno

import pytest

from portlab import scenario as model
from portlab.engine import scan
from portlab.sim.kernel import XRLIM_BURST_FACTOR
from portlab.states import ReplyKind
from portlab.timing import template
from portlab.transports.sim import SimTransport

# One host; each firewall action of docs/design.md's table sits on its own port, and every
# one of those ports has a listening service behind it, so the rule must be what answers.
RULE_PORTS = {
    "drop": 9001,
    "reject": 9002,
    "reject with tcp reset": 9003,
    "reject with icmp host-unreachable": 9004,
    "reject with icmp admin-prohibited": 9005,
    "reject with icmp net-unreachable": 9006,
    "reject with icmp host-prohibited": 9007,
    "reject with icmp net-prohibited": 9008,
    "reject with icmp prot-unreachable": 9009,
    "no rule, service listening": 22,
    "no rule, nothing listening": 23,
}

TABLE_SCENARIO = """
name = "measured-table"
[scanner]
address = "10.77.0.1"
[[hosts]]
name = "target"
address = "10.77.0.2"
tcp = [22, 9001, 9002, 9003, 9004, 9005, 9006, 9007, 9008, 9009]
udp = [22, 9001, 9002, 9004, 9005, 9006, 9007, 9008, 9009]
[hosts.firewall]
policy = "accept"
rules = [
  { action = "drop", ports = "9001" },
  { action = "reject", ports = "9002" },
  { action = "reject", protocol = "tcp", ports = "9003", with = "tcp-reset" },
  { action = "reject", ports = "9004", with = "host-unreachable" },
  { action = "reject", ports = "9005", with = "admin-prohibited" },
  { action = "reject", ports = "9006", with = "net-unreachable" },
  { action = "reject", ports = "9007", with = "host-prohibited" },
  { action = "reject", ports = "9008", with = "net-prohibited" },
  { action = "reject", ports = "9009", with = "prot-unreachable" },
]
"""

# docs/design.md, "What each firewall action looks like to each scan (measured)", verbatim.
MEASURED = {
    "drop": (("filtered", "no-response"), ("filtered", "no-response"), ("open|filtered", "no-response")),
    "reject": (("closed", "conn-refused"), ("filtered", "port-unreach"), ("closed", "port-unreach")),
    "reject with tcp reset": (("closed", "conn-refused"), ("closed", "reset"), None),
    "reject with icmp host-unreachable": (("filtered", "host-unreach"), ("filtered", "host-unreach"),
                                          ("filtered", "host-unreach")),
    "reject with icmp admin-prohibited": (("filtered", "host-unreach"), ("filtered", "admin-prohibited"),
                                          ("filtered", "admin-prohibited")),
    "reject with icmp net-unreachable": (("filtered", "net-unreach"), ("filtered", "net-unreach"),
                                         ("filtered", "net-unreach")),
    "reject with icmp host-prohibited": (("filtered", "host-unreach"), ("filtered", "host-prohibited"),
                                         ("filtered", "host-prohibited")),
    "reject with icmp net-prohibited": (("filtered", "net-unreach"), ("filtered", "net-prohibited"),
                                        ("filtered", "net-prohibited")),
    "reject with icmp prot-unreachable": (("filtered", "proto-unreach"), ("filtered", "proto-unreach"),
                                          ("filtered", "proto-unreach")),
    "no rule, service listening": (("open", "syn-ack"), ("open", "syn-ack"), ("open", "udp-response")),
    "no rule, nothing listening": (("closed", "conn-refused"), ("closed", "reset"), ("closed", "port-unreach")),
}
SCANS = ("connect", "syn", "udp")


@pytest.fixture(scope="module")
def table_scenario():
    return model.loads(TABLE_SCENARIO, "measured-table.toml")


@pytest.fixture(scope="module")
def table_results(table_scenario):
    ports = sorted(RULE_PORTS.values())
    return {kind: {p.port: p for p in scan("10.77.0.2", ports, kind, scenario=table_scenario).hosts[0].ports}
            for kind in SCANS}


def _design_table():
    """docs/design.md's measured table, parsed: row name -> (connect, syn, udp) cells."""
    import pathlib
    import re
    design = pathlib.Path(__file__).resolve().parents[1] / "docs" / "design.md"
    if not design.exists():
        pytest.skip(f"{design} is not next to the repository here")
    text = design.read_text()
    section = text[text.index("### What each firewall action looks like"):]
    rows = {}
    for line in section.splitlines()[1:]:
        if line.startswith("##"):
            break
        # A cell may hold an escaped pipe ("open\\|filtered"): split on the others only.
        cells = ([c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
                 if line.startswith("|") else [])
        if len(cells) != 4 or cells[0].startswith("rule on") or cells[0].startswith("---"):
            continue
        name = re.sub(r"\s*\(port-unreachable, the default\)", "", cells[0]).replace("`", "")

        def parse(cell):
            if cell in ("–", "-"):
                return None
            state, reason = re.fullmatch(r"(.+?) \((.+)\)", cell.replace("**", "").replace("\\|", "|")).groups()
            return state, reason
        rows[name] = tuple(parse(c) for c in cells[1:])
    return rows


def test_the_expected_table_is_design_md_verbatim():
    assert _design_table() == MEASURED


# Every cell of the table that has a value ("–", a TCP reset answering UDP, has none).
CELLS = [(row, column) for row in MEASURED for column in range(3) if MEASURED[row][column] is not None]


@pytest.mark.parametrize("row, column", CELLS, ids=[f"{r} / {SCANS[c]}" for r, c in CELLS])
def test_measured_firewall_table(table_results, row, column):
    port = RULE_PORTS[row]
    result = table_results[SCANS[column]][port]
    assert (str(result.state), result.reason) == MEASURED[row][column], f"{row} / {SCANS[column]}"


def test_drop_costs_retries_and_reject_answers_at_once(table_scenario):
    # Two ports only: more ICMP errors than the burst of 6 would cost the reject retries too.
    result = scan("10.77.0.2", [RULE_PORTS["drop"], RULE_PORTS["reject"]], "syn", scenario=table_scenario)
    dropped, rejected = result.hosts[0].ports
    assert dropped.tries == 2 and dropped.rtt is None
    assert rejected.tries == 1 and rejected.rtt is not None


def test_more_icmp_errors_than_the_burst_cost_retries_not_answers(table_results):
    icmp_ports = [p for p in table_results["syn"].values() if p.reason not in ("syn-ack", "reset", "no-response")]
    assert len(icmp_ports) == 7          # 7 ICMP rejects, the burst is 6
    assert sum(p.tries for p in icmp_ports) > len(icmp_ports)
    assert all(str(p.state) == "filtered" for p in icmp_ports)


def test_traces_show_the_packets(table_scenario):
    result = scan("10.77.0.2", [22, 9005], "syn", scenario=table_scenario, keep_trace=True)
    by_port = {p.port: p for p in result.hosts[0].ports}
    open_trace = [e.summary for e in by_port[22].trace]
    assert open_trace == ["SYN 10.77.0.1:40001 > 10.77.0.2:22", "SYN/ACK 10.77.0.2:22 > 10.77.0.1:40001"]
    icmp = by_port[9005].trace
    assert icmp[-1].direction == "recv"
    assert icmp[-1].summary == "ICMP 3/13 admin-prohibited from 10.77.0.2"
    assert icmp[-1].t > icmp[0].t >= 0


def test_connect_trace_names_the_errno(table_scenario):
    result = scan("10.77.0.2", [9005], "connect", scenario=table_scenario)
    assert "EHOSTUNREACH" in result.hosts[0].ports[0].trace[-1].summary


def test_no_trace_when_not_kept(table_scenario):
    result = scan("10.77.0.2", [22], "syn", scenario=table_scenario, keep_trace=False)
    assert result.hosts[0].ports[0].trace == ()


# --- ICMP rate limiting: time and tries, never the answer ------------------------------

def test_udp_closed_ports_are_slow_but_still_closed():
    scenario = model.loads('name = "udp"\n[scanner]\naddress = "10.77.0.1"\n'
                           '[[hosts]]\nname = "h"\naddress = "10.77.0.2"\nudp = [53]\n', "udp.toml")
    result = scan("10.77.0.2", "1-60", "udp", scenario=scenario)
    states = {p.port: str(p.state) for p in result.hosts[0].ports}
    assert states[53] == "open"
    assert all(state == "closed" for port, state in states.items() if port != 53)
    # 59 ICMP errors: 6 at once (the burst), then about one a second.
    assert 50 <= result.elapsed_s <= 70, result.elapsed_s
    assert any(p.tries > 1 for p in result.hosts[0].ports)
    # A SYN scan of the same closed ports gets RSTs, which Linux never rate-limits.
    fast = scan("10.77.0.2", "1-60", "syn", scenario=scenario)
    assert fast.elapsed_s < 0.1
    assert all(p.tries == 1 for p in fast.hosts[0].ports)


def test_burst_of_six_icmp_errors_answers_at_once():
    scenario = model.loads('name = "udp"\n[scanner]\naddress = "10.77.0.1"\n'
                           '[[hosts]]\nname = "h"\naddress = "10.77.0.2"\n', "udp.toml")
    result = scan("10.77.0.2", f"1-{XRLIM_BURST_FACTOR}", "udp", scenario=scenario)
    assert result.elapsed_s < 0.1
    assert all(p.tries == 1 for p in result.hosts[0].ports)


def test_rate_limit_bucket_refills_in_virtual_time():
    scenario = model.loads('name = "udp"\n[scanner]\naddress = "10.77.0.1"\n'
                           '[[hosts]]\nname = "h"\naddress = "10.77.0.2"\n', "udp.toml")
    transport = SimTransport(scenario)
    first = scan("10.77.0.2", "1-6", "udp", transport=transport)
    second = scan("10.77.0.2", "7-12", "udp", transport=transport)
    assert first.elapsed_s < 0.1
    # The bucket was emptied by the first scan and has refilled only for ~0 s since.
    assert second.elapsed_s > 1.0
    transport.network.clock.advance(60)
    third = scan("10.77.0.2", "13-18", "udp", transport=transport)
    assert third.elapsed_s < 0.1


# --- virtual time versus timing templates -------------------------------------------

def test_filtered_ports_make_scans_slow_and_templates_matter():
    scenario = model.loads('name = "t"\n[scanner]\naddress = "10.77.0.1"\n[[hosts]]\nname = "h"\n'
                           'address = "10.77.0.2"\ntcp = [80]\n[hosts.firewall]\npolicy = "drop"\n'
                           'rules = [{ action = "accept", protocol = "tcp", ports = "80" }]\n', "t.toml")
    closed_host = model.loads('name = "c"\n[scanner]\naddress = "10.77.0.1"\n[[hosts]]\nname = "h"\n'
                              'address = "10.77.0.2"\ntcp = [80]\n', "c.toml")
    filtered = scan("10.77.0.2", "1-1000", "syn", scenario=scenario).elapsed_s
    closed = scan("10.77.0.2", "1-1000", "syn", scenario=closed_host).elapsed_s
    assert filtered > 10 * closed
    durations = [scan("10.77.0.2", "1-100", "syn", scenario=scenario, timing=t).elapsed_s for t in (2, 3, 4, 5)]
    assert durations == sorted(durations, reverse=True), durations
    polite = durations[0]
    assert polite >= 100 * template(2).scan_delay  # one probe per 0.4 s at -T2


# --- NAT and routing, seen by the scanner --------------------------------------------

def _states(result):
    return {p.port: (str(p.state), p.reason) for p in result.hosts[0].ports}


def test_forwarded_port_is_open_everything_else_is_the_routers_own():
    result = scan("10.77.0.2", "22,80,8080,445", "syn", scenario="home-nat-forward")
    states = _states(result)
    assert states[8080] == ("open", "syn-ack")        # -> nas:80
    assert states[80] == ("filtered", "no-response")  # router's own web page, input policy drop
    assert states[445] == ("filtered", "no-response")  # the NAS's SMB is not forwarded


def test_without_the_forward_the_router_shows_nothing():
    result = scan("10.77.0.2", "8080", "syn", scenario="home-nat")
    assert _states(result)[8080] == ("filtered", "no-response")


def test_inside_addresses_are_blocked_from_outside():
    result = scan("192.168.77.20", "80,445", "syn", scenario="home-nat-forward")
    assert set(_states(result).values()) == {("filtered", "no-response")}


def test_no_route_fails_at_once_with_enetunreach():
    text = model.shipped()["home-nat-forward"].read_text().replace('gateway = "10.77.0.2"\n', "", 1)
    scenario = model.loads(text, "no-gateway.toml")
    assert scenario.scanner.gateway is None
    connect = _states(scan("192.168.77.20", "80", "connect", scenario=scenario))
    syn = _states(scan("192.168.77.20", "80", "syn", scenario=scenario))
    assert connect[80] == ("filtered", "net-unreach")
    assert syn[80] == ("filtered", "net-unreach")
    exchange = _one_exchange(scenario, "192.168.77.20", 80, "connect")
    assert exchange.reply.kind is ReplyKind.CONNECT_ERROR and exchange.reply.errno == errno.ENETUNREACH
    assert exchange.tries == 1


def test_an_address_nobody_has_on_the_link():
    scenario = model.loads('name = "e"\n[scanner]\naddress = "10.77.0.1"\n', "e.toml")
    assert _states(scan("10.77.0.99", "80", "syn", scenario=scenario))[80] == ("filtered", "no-response")
    assert _states(scan("10.77.0.99", "80", "connect", scenario=scenario))[80] == ("filtered", "host-unreach")


def _one_exchange(scenario, target, port, kind):
    import asyncio

    from portlab.states import Probe, ScanType
    transport = SimTransport(scenario)
    got = []
    asyncio.run(transport.run([Probe(target, port, ScanType(kind))], template(3), got.append))
    assert len(got) == 1
    return got[0]


# --- cloud firewalls through a scan ----------------------------------------------------

def test_cloud_scenarios_drop_silently(cloud=("cloud-sg", "cloud-nsg")):
    for name in cloud:
        scenario = model.load(model.shipped()[name])
        host = scenario.hosts[0]
        result = scan(str(host.address), "1-1024", "syn", scenario=scenario)
        reasons = {p.reason for p in result.hosts[0].ports}
        assert reasons <= {"syn-ack", "no-response", "reset"}, (name, reasons)
        assert "no-response" in reasons, name


# --- the transport itself -------------------------------------------------------------

def test_transport_contract():
    transport = SimTransport("web-server")
    assert transport.name == "sim"
    assert {str(s) for s in transport.scan_types} == {"connect", "syn", "udp"}
    assert transport.networks == ["10.77.0.0/24"]
    for kind in transport.scan_types:
        transport.check(kind)  # never needs privilege
    assert transport.network.machine("web").firewall.inbound.policy.kind == "drop"


def test_bad_scenario_name_is_one_clear_error():
    from portlab.errors import BadInput
    with pytest.raises(BadInput, match="no such scenario file"):
        SimTransport("no-such-scenario")


def test_scope_guard_keeps_a_simulated_scan_inside_the_scenario():
    from portlab.errors import ScopeRefused
    with pytest.raises(ScopeRefused):
        scan("192.0.2.1", "80", "syn", scenario="web-server")


def test_full_range_scan_lists_every_port():
    # Its speed is measured by benchmarks/bench_sim.py, not asserted here.
    result = scan("10.77.0.10", "-", "syn", scenario="web-server", keep_trace=False)
    assert len(result.hosts[0].ports) == 65535
    states = _states(result)
    assert states[80] == ("open", "syn-ack") and states[3306] == ("filtered", "no-response")


def test_retries_wait_the_timeout_nmap_would_use():
    # A host that answered something: the RTT-based timeout, clamped to min_timeout.
    answered = scan("10.77.0.10", "22,80", "syn", scenario="web-server")
    silent = {p.port: p for p in answered.hosts[0].ports}[22].trace
    assert [e.direction for e in silent] == ["sent", "sent"]
    assert silent[1].t - silent[0].t == pytest.approx(template(3).min_timeout)
    # A host that never answered: the initial timeout.
    alone = scan("10.77.0.10", "22", "syn", scenario="web-server").hosts[0].ports[0].trace
    assert alone[1].t - alone[0].t == pytest.approx(template(3).initial_timeout)


@pytest.mark.parametrize("name", sorted(model.shipped()))
def test_every_shipped_scenario_answers_every_scan(name):
    """Each address of each shipped scenario, each scan type: one classified result a port."""
    scenario = model.load(model.shipped()[name])
    addresses = [str(a) for a, who in scenario.addresses().items() if who != "scanner"]
    ports = sorted({22, 53, 80, 443, 8080, 1, 65535}
                   | {p for m in (*scenario.hosts, *scenario.routers) for p in (*m.tcp, *m.udp)})
    for kind in ("connect", "syn", "udp"):
        result = scan(addresses, ports, kind, scenario=scenario, keep_trace=False)
        assert {h.address for h in result.hosts} == set(addresses)
        for host in result.hosts:
            assert [p.port for p in host.ports] == ports
            assert all(p.reason for p in host.ports)
        assert result.elapsed_s > 0


def test_an_ipv6_target_is_one_clear_error():
    from portlab.errors import BadInput
    with pytest.raises(BadInput, match="IPv4 networks only"):
        scan("::1", "80", "syn", scenario="web-server")


REJECTS_30 = ('name = "rl"\n[scanner]\naddress = "10.77.0.1"\n[[hosts]]\nname = "h"\naddress = "10.77.0.2"\n'
              '[hosts.firewall]\nrules = [{ action = "reject", protocol = "tcp", ports = "1000-1029",'
              ' with = "admin-prohibited" }]\n')


def test_tcp_scans_do_not_slow_down_for_icmp_rate_limits():
    # Measured: nmap 7.93 -sS -T4 on 30 such ports took 1.5 s; portlab's live SYN scan 0.25 s.
    scenario = model.loads(REJECTS_30, "rl.toml")
    result = scan("10.77.0.2", "1000-1029", "syn", scenario=scenario, timing=4)
    assert result.elapsed_s < 2.0
    assert {(str(p.state), p.reason) for p in result.hosts[0].ports} == {("filtered", "admin-prohibited")}


def test_icmp_loss_shows_what_live_tcp_scans_report():
    # Live (nmap and portlab alike): the burst of 6 gets its ICMP reason, most others none.
    scenario = model.loads(REJECTS_30, "rl.toml")
    transport = SimTransport(scenario, icmp_loss=True)
    result = scan("10.77.0.2", "1000-1029", "syn", transport=transport, timing=4)
    reasons = [p.reason for p in result.hosts[0].ports]
    assert 6 <= reasons.count("admin-prohibited") <= 8
    assert reasons.count("no-response") == 30 - reasons.count("admin-prohibited")
    assert {str(p.state) for p in result.hosts[0].ports} == {"filtered"}
    assert all(p.rtt is None for p in result.hosts[0].ports if p.reason == "no-response")


@pytest.mark.parametrize("name", ["capstone", "home-nat-forward", "cloud-sg", "web-server"])
def test_answer_tables_give_every_probe_the_answer_it_gets_alone(name):
    # The simulator reads a scan's answers from one table per target (C loops over the
    # probes); a probe at a time, through the port-range cache, must give the very same.
    import asyncio
    import random

    from portlab.sim.firewall import ip_int
    from portlab.states import Probe, ScanType

    scenario = model.load(model.shipped()[name])
    rng = random.Random(name)
    hosts = [str(a) for a in scenario.addresses()] + ["10.77.0.250"]    # and one nobody has
    for scan_type in (ScanType.SYN, ScanType.UDP, ScanType.CONNECT):
        # Dense enough for tables (a table spans the lowest to the highest port asked).
        ports = sorted(set(rng.sample(range(1, 20001), 12000)) | {1, 22, 53, 80, 443, 2222, 8080, 20000})
        probes = [Probe(h, p, scan_type) for h in hosts for p in ports]
        rng.shuffle(probes)
        transport = SimTransport(scenario)
        targets, numbers = [p.target for p in probes], [p.port for p in probes]
        by_table = transport._answers_by_table(targets, numbers, scan_type)
        assert by_table is not None
        one_by_one = asyncio.run(transport._answers_one_by_one(probes))
        assert by_table == one_by_one
        net, protocol = transport.network, scan_type.protocol
        table = net.answer_table(ip_int(hosts[0]), protocol, 20, 90)
        assert table == [net.scan_answer(ip_int(hosts[0]), port, protocol) for port in range(20, 91)]
