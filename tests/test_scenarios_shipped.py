"""The scenarios portlab ships: each loads, round-trips, and shows what it is meant to teach."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from portlab.scenario import REJECT_TYPES, SCENARIO_DIR, load, loads, shipped, to_toml

EXPECTED = {"single-host", "web-server", "home-nat", "home-nat-forward", "home-nat-nofirewall", "cloud-sg",
            "cloud-nsg", "ssh-2222", "capstone"}
LAB_RANGES = (IPv4Network("10.77.0.0/16"), IPv4Network("192.168.77.0/24"))


def test_every_expected_scenario_is_shipped() -> None:
    assert EXPECTED <= set(shipped())
    assert set(shipped()) == {p.stem for p in SCENARIO_DIR.glob("*.toml")}


@pytest.mark.parametrize("name", sorted(shipped()))
def test_shipped_scenario_loads_and_round_trips(name: str) -> None:
    path = shipped()[name]
    scenario = load(path)
    assert scenario.name == name, "the file name and the scenario name must agree"
    assert scenario.path == str(path)
    assert len(scenario.description) > 20 and "\n" not in scenario.description
    again = loads(to_toml(scenario), f"{name} (rewritten)")
    assert again == scenario
    # Lab-safe addresses: every network inside the course's two ranges.
    for net in scenario.networks:
        assert any(net.cidr.subnet_of(r) for r in LAB_RANGES), net
    # The live lab builds only Linux NAT; every shipped file must be buildable.
    for router in scenario.routers:
        assert router.nat is None or router.nat.linux_like


def _rules_by_port(firewall, protocol):
    return {port: rule for rule in firewall.rules if rule.protocol == protocol for port in rule.ports}


def test_single_host_is_the_measured_table() -> None:
    s = load(shipped()["single-host"])
    target = s.machine("target")
    tcp_rules, udp_rules = _rules_by_port(target.firewall, "tcp"), _rules_by_port(target.firewall, "udp")
    # Each way of answering on its own TCP port, with a service behind it.
    kinds = [tcp_rules[p].reject_with or tcp_rules[p].action for p in range(9000, 9009)]
    assert kinds == ["drop", *REJECT_TYPES]
    assert all(p in target.tcp for p in range(9000, 9009))
    # The same for UDP, except tcp-reset, which cannot answer UDP.
    udp_kinds = [udp_rules[p].reject_with or udp_rules[p].action for p in range(9000, 9009) if p in udp_rules]
    assert udp_kinds == ["drop", *[k for k in REJECT_TYPES if k != "tcp-reset"]]
    # An open and a closed port of each protocol, untouched by any rule.
    assert 80 in target.tcp and 80 not in tcp_rules and 81 not in target.tcp and 81 not in tcp_rules
    assert 53 in target.udp and 54 not in target.udp and 54 not in udp_rules
    assert target.firewall.policy == "accept"


def test_web_server_least_privilege() -> None:
    s = load(shipped()["web-server"])
    web = s.machine("web")
    fw = web.firewall
    assert fw.policy == "drop"
    scanner = s.scanner.address
    ssh = [r for r in fw.rules if r.ports and 22 in r.ports]
    assert len(ssh) == 1 and ssh[0].source.prefixlen == 32 and scanner not in ssh[0].source
    assert ssh[0].source.network_address == s.machine("admin").address
    web_rules = [r for r in fw.rules if r.ports and 80 in r.ports and 443 in r.ports]
    assert web_rules and web_rules[0].source is None and web_rules[0].action == "accept"
    cnc = [r for r in fw.output if r.action == "drop" and r.destination is not None]
    assert cnc and not any(r.destination.overlaps(IPv4Network(c)) for r in cnc for c in s.cidrs())


def test_home_nat_with_and_without_forward() -> None:
    plain, forwarded = load(shipped()["home-nat"]), load(shipped()["home-nat-forward"])
    for s in (plain, forwarded):
        router = s.machine("router")
        assert router.nat.outside == "internet"
        # NAT and the firewall, apart: the drop of new inbound is the firewall's forward rule.
        assert router.firewall.policy == "drop" and router.firewall.forward_drop_new_from == "internet"
        assert all(h.network == "home" and h.gateway == router.interface("home").address for h in s.hosts)
        assert sum(len(h.tcp) for h in s.hosts) >= 3
    assert plain.machine("router").nat.forwards == ()
    (forward,) = forwarded.machine("router").nat.forwards
    assert (forward.protocol, forward.port, forward.to_port) == ("tcp", 8080, 80)
    target = next(h for h in forwarded.hosts if h.address == forward.to_address)
    assert forward.to_port in target.tcp
    # Apart from the forward (and their names), the two files describe the same network.
    assert plain.hosts == forwarded.hosts and plain.networks == forwarded.networks


def test_home_nat_nofirewall_is_home_nat_without_its_router_firewall() -> None:
    plain, bare = load(shipped()["home-nat"]), load(shipped()["home-nat-nofirewall"])
    assert bare.machine("router").firewall is None and bare.machine("router").nat == plain.machine("router").nat
    assert (bare.hosts, bare.networks, bare.scanner) == (plain.hosts, plain.networks, plain.scanner)
    assert bare.machine("router").tcp == plain.machine("router").tcp


def test_cloud_security_group_and_nsg() -> None:
    sg = load(shipped()["cloud-sg"]).machine("vm").firewall
    assert sg.style == "aws-sg" and all(r.action == "accept" for r in sg.rules)
    by_port = {p: r for r in sg.rules for p in r.ports}
    assert by_port[443].source == IPv4Network("0.0.0.0/0")
    assert by_port[22].source != IPv4Network("0.0.0.0/0")
    assert IPv4Address("10.77.0.1") not in by_port[22].source
    nsg_scenario = load(shipped()["cloud-nsg"])
    nsg = nsg_scenario.machine("vm").firewall
    assert nsg.style == "azure-nsg"
    priorities = [r.priority for r in nsg.rules]
    assert priorities == sorted(priorities) and priorities[-3:] == [65000, 65001, 65500]
    assert {"allow", "deny"} == {("allow" if r.action == "accept" else "deny") for r in nsg.rules if r.priority <= 4096}
    # The teaching point: a deny with a lower number hides an allow with a higher one.
    deny = next(r for r in nsg.rules if r.action == "drop" and r.ports and 8443 in r.ports)
    allow = next(r for r in nsg.rules if r.action == "accept" and r.ports and 8443 in r.ports)
    assert deny.priority < allow.priority
    assert nsg_scenario.scanner.network != nsg_scenario.machine("vm").network


def test_ssh_moved_to_2222() -> None:
    server = load(shipped()["ssh-2222"]).machine("server")
    assert 2222 in server.tcp and 22 not in server.tcp


def test_capstone_is_a_network_to_audit() -> None:
    s = load(shipped()["capstone"])
    assert len(s.networks) >= 2 and len(s.hosts) >= 3 and s.routers
    exposed = {p for h in s.hosts for p in h.tcp}
    assert {3306, 5432, 3389, 22} <= exposed          # deliberately over-exposed
    assert all(h.gateway is not None for h in s.hosts) and s.scanner.gateway is not None


# --- what a scan of each scenario shows (through the simulator, which must agree with
# the live lab; these check that each file teaches what its comments say) -------------

# docs/design.md's measured table, as the ports of single-host.toml: (connect, syn, udp).
SINGLE_HOST_TABLE = {
    9000: (("filtered", "no-response"), ("filtered", "no-response"), ("open|filtered", "no-response")),
    9001: (("closed", "conn-refused"), ("filtered", "port-unreach"), ("closed", "port-unreach")),
    9002: (("closed", "conn-refused"), ("closed", "reset"), ("open", "udp-response")),  # UDP: no rule
    9003: (("filtered", "host-unreach"), ("filtered", "host-unreach"), ("filtered", "host-unreach")),
    9004: (("filtered", "host-unreach"), ("filtered", "admin-prohibited"), ("filtered", "admin-prohibited")),
    9005: (("filtered", "net-unreach"), ("filtered", "net-unreach"), ("filtered", "net-unreach")),
    9006: (("filtered", "host-unreach"), ("filtered", "host-prohibited"), ("filtered", "host-prohibited")),
    9007: (("filtered", "net-unreach"), ("filtered", "net-prohibited"), ("filtered", "net-prohibited")),
    9008: (("filtered", "proto-unreach"), ("filtered", "proto-unreach"), ("filtered", "proto-unreach")),
}


def _sim_states(target: str, ports: str, scan_type: str, name: str) -> dict[int, tuple[str, str]]:
    engine = pytest.importorskip("portlab.engine", reason="the scan engine is not built yet")
    result = engine.scan(target, ports, scan_type, scenario=load(shipped()[name]), keep_trace=False)
    return {p.port: (str(p.state), p.reason) for p in result.hosts[0].ports}


@pytest.mark.parametrize("column, scan_type", list(enumerate(("connect", "syn", "udp"))))
def test_single_host_shows_the_measured_table(column: int, scan_type: str) -> None:
    states = _sim_states("10.77.0.2", "53,54,80,81,9000-9008", scan_type, "single-host")
    for port, row in SINGLE_HOST_TABLE.items():
        assert states[port] == row[column], (port, scan_type)
    if scan_type == "udp":
        assert states[53] == ("open", "udp-response") and states[54] == ("closed", "port-unreach")
    else:
        assert states[80] == ("open", "syn-ack") and states[81][0] == "closed"


def test_web_server_scan() -> None:
    states = _sim_states("10.77.0.10", "22,80,443,3306", "syn", "web-server")
    assert states[80] == states[443] == ("open", "syn-ack")
    assert states[22] == states[3306] == ("filtered", "no-response")


def test_ssh_2222_scan() -> None:
    states = _sim_states("10.77.0.10", "22,2222", "connect", "ssh-2222")
    assert states[22] == ("closed", "conn-refused") and states[2222] == ("open", "syn-ack")


def test_cloud_scans() -> None:
    sg = _sim_states("10.77.0.10", "22,443,5432", "syn", "cloud-sg")
    assert sg == {22: ("filtered", "no-response"), 443: ("open", "syn-ack"), 5432: ("filtered", "no-response")}
    nsg = _sim_states("10.77.10.4", "22,443,3389,8080,8443", "syn", "cloud-nsg")
    assert nsg[443] == ("open", "syn-ack")
    for port in (22, 3389, 8080, 8443):                 # 8443: the deny at 200 wins over the allow at 300
        assert nsg[port] == ("filtered", "no-response"), port


def test_home_nat_scans_show_the_firewall_not_nat_keeps_the_outside_out() -> None:
    for address in ("10.77.0.2", "192.168.77.20"):
        assert set(_sim_states(address, "22,80,445", "syn", "home-nat").values()) == {("filtered", "no-response")}
    assert _sim_states("10.77.0.2", "22,80,445", "syn", "home-nat-nofirewall") == {
        22: ("closed", "reset"), 80: ("open", "syn-ack"), 445: ("closed", "reset")}
    assert _sim_states("192.168.77.20", "22,80,445", "syn", "home-nat-nofirewall") == {
        22: ("closed", "reset"), 80: ("open", "syn-ack"), 445: ("open", "syn-ack")}


def test_capstone_is_over_exposed_from_outside() -> None:
    assert _sim_states("10.77.20.10", "22,3306,8080", "syn", "capstone") == dict.fromkeys(
        (22, 3306, 8080), ("open", "syn-ack"))
    assert _sim_states("192.168.77.20", "5432", "syn", "capstone")[5432] == ("open", "syn-ack")
    assert _sim_states("192.168.77.50", "3389", "syn", "capstone")[3389] == ("open", "syn-ack")
    assert _sim_states("10.77.0.254", "22,80", "syn", "capstone") == dict.fromkeys((22, 80), ("open", "syn-ack"))
