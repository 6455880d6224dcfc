"""The scenario model: what a valid file becomes, and that to_toml writes it back."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, IPv4Network

import pytest

from portlab.errors import BadInput
from portlab.scenario import (AZURE_LOAD_BALANCER, REJECT_TYPES, Firewall, Host, PortSet, Router, Rule,
                              Scenario, load, loads, match_address, shipped, to_toml)

# The smallest kind of scenario (docs/design.md, section 8): every scenario reader must accept it unchanged.
DESIGN_EXAMPLE = '''
name = "small-office"
description = "One web server behind a host firewall"

[scanner]
address = "10.77.0.1"

[[hosts]]
name = "web"
address = "10.77.0.2"
tcp = [22, 80, 443, 8080]        # listening TCP services
udp = [53, 123]                  # UDP services that answer a datagram

[hosts.firewall]                 # inbound, evaluated top to bottom, first match wins
policy = "accept"                # accept | drop
rules = [
  { action = "drop",   protocol = "tcp", ports = "9000-9010" },
  { action = "reject", protocol = "tcp", ports = "8082", with = "admin-prohibited" },
  { action = "reject", protocol = "tcp", ports = "8083", with = "tcp-reset" },
  { action = "reject", protocol = "udp", ports = "5353" },          # default: port-unreachable
  { action = "accept", protocol = "tcp", ports = "22", source = "10.77.0.0/24" },
]
'''

ROUTED = '''
name = "routed"
[scanner]
address = "10.77.0.1"
gateway = "10.77.0.254"
[[networks]]
name = "wan"
cidr = "10.77.0.0/24"
[[networks]]
name = "lan"
cidr = "192.168.77.0/24"
[[routers]]
name = "gw"
interfaces = [{ network = "wan", address = "10.77.0.254" }, { network = "lan", address = "192.168.77.1" }]
tcp = [80]
[routers.nat]
outside = "wan"
udp_timeout = 45
forwards = [
  { protocol = "tcp", port = 8080, to = "192.168.77.10:80" },
  { protocol = "udp", port = 53, to = "192.168.77.10" },
]
[[hosts]]
name = "web"
address = "192.168.77.10"
tcp = [443, 80]
gateway = "192.168.77.1"
'''


# ------------------------------------------------------------------ PortSet

@pytest.mark.parametrize("text, ranges, shown", [
    ("22", ((22, 22),), "22"),
    ("9000-9010", ((9000, 9010),), "9000-9010"),
    ("443,22,80", ((22, 22), (80, 80), (443, 443)), "22,80,443"),
    ("1-10,5-20,21", ((1, 21),), "1-21"),            # overlapping and adjacent ranges merge
    (" 22 , 80 ", ((22, 22), (80, 80)), "22,80"),
    ([80, 22, 23], ((22, 23), (80, 80)), "22-23,80"),
    (65535, ((65535, 65535),), "65535"),
])
def test_portset_parse(text, ranges, shown) -> None:
    ports = PortSet.parse(text)
    assert ports.ranges == ranges
    assert str(ports) == shown
    assert PortSet.parse(str(ports)) == ports


def test_portset_membership_iteration_and_hash() -> None:
    ports = PortSet.parse("22,9000-9002")
    assert 22 in ports and 9001 in ports
    assert 23 not in ports and 8999 not in ports and "22" not in ports
    assert list(ports) == [22, 9000, 9001, 9002]
    assert len(ports) == 4
    assert len({ports, PortSet.parse([9000, 9001, 9002, 22])}) == 1
    assert PortSet(((5, 6), (1, 2))).ranges == ((1, 2), (5, 6))   # the constructor normalises too


# ------------------------------------------------------------ the minimum

def test_design_example_loads_as_documented() -> None:
    s = loads(DESIGN_EXAMPLE, "design.toml")
    assert s.name == "small-office" and s.description.startswith("One web server")
    assert s.scanner.address == IPv4Address("10.77.0.1")
    # No [[networks]]: one network, the /24 holding the scanner.
    assert [(n.name, n.cidr) for n in s.networks] == [("net", IPv4Network("10.77.0.0/24"))]
    assert s.scanner.network == "net" and s.scanner.gateway is None
    web = s.machine("web")
    assert isinstance(web, Host)
    assert web.tcp == (22, 80, 443, 8080) and web.udp == (53, 123) and web.network == "net"
    fw = web.firewall
    assert fw.style == "nftables" and fw.policy == "accept" and fw.stateful
    assert fw.output_policy == "accept" and fw.output == ()
    assert [r.action for r in fw.rules] == ["drop", "reject", "reject", "reject", "accept"]
    assert fw.rules[0].ports == PortSet.parse("9000-9010") and fw.rules[0].reject_with is None
    assert fw.rules[1].reject_with == "admin-prohibited"
    assert fw.rules[2].reject_with == "tcp-reset"
    assert fw.rules[3].reject_with == "port-unreachable"     # the default, made explicit
    assert fw.rules[4].source == IPv4Network("10.77.0.0/24") and fw.rules[4].destination is None
    assert s.addresses() == {IPv4Address("10.77.0.1"): "scanner", IPv4Address("10.77.0.2"): "web"}
    assert s.cidrs() == ["10.77.0.0/24"]


def test_minimal_file_defaults() -> None:
    s = loads('name = "m"\n[scanner]\naddress = "192.168.77.5"\n')
    assert s.description == "" and s.hosts == () and s.routers == ()
    assert s.networks[0].cidr == IPv4Network("192.168.77.0/24")
    assert s.path is None


def test_host_without_firewall_and_single_address_source() -> None:
    s = loads('name = "m"\n[scanner]\naddress = "10.77.0.1"\n[[hosts]]\nname = "a"\naddress = "10.77.0.2"\n'
              '[[hosts]]\nname = "b"\naddress = "10.77.0.3"\n[hosts.firewall]\n'
              'rules = [{ action = "accept", source = "10.77.0.1", ports = [22, 80] }]\n')
    assert s.machine("a").firewall is None and s.machine("a").tcp == ()
    rule = s.machine("b").firewall.rules[0]
    assert rule.source == IPv4Network("10.77.0.1/32") and rule.protocol is None
    assert rule.ports == PortSet.parse("22,80")


def test_lookups_fail_clearly() -> None:
    s = loads(DESIGN_EXAMPLE)
    with pytest.raises(BadInput, match=r"no machine named 'db' \(expected one of web\)"):
        s.machine("db")
    with pytest.raises(BadInput, match=r"no network named 'lan' \(expected one of net\)"):
        s.network("lan")


# ------------------------------------------------------- routers and NAT

def test_router_nat_and_forwards() -> None:
    s = loads(ROUTED)
    gw = s.machine("gw")
    assert isinstance(gw, Router)
    assert [(i.network, str(i.address)) for i in gw.interfaces] == [("wan", "10.77.0.254"), ("lan", "192.168.77.1")]
    assert gw.interface("lan").address == IPv4Address("192.168.77.1")
    assert gw.inside == ("lan",)
    nat = gw.nat
    assert nat.outside == "wan" and nat.udp_timeout == 45.0 and isinstance(nat.udp_timeout, float)
    # Linux's conntrack defaults: the NAT row is the conntrack entry.
    assert (nat.udp_stream_timeout, nat.tcp_timeout) == (120.0, 432000.0) and nat.hairpin
    assert gw.firewall is None              # NAT alone: no firewall, so nothing drops new inbound
    assert nat.mapping == "endpoint-independent" and nat.filtering == "address-and-port-dependent"
    assert nat.port_allocation == "preserve" and nat.linux_like
    assert [(f.protocol, f.port, str(f.to_address), f.to_port) for f in nat.forwards] == [
        ("tcp", 8080, "192.168.77.10", 80), ("udp", 53, "192.168.77.10", 53)]
    assert s.scanner.gateway == IPv4Address("10.77.0.254")
    web = s.machine("web")
    assert web.gateway == IPv4Address("192.168.77.1") and web.network == "lan" and web.tcp == (80, 443)
    assert s.addresses()[IPv4Address("192.168.77.1")] == "gw"
    assert s.cidrs() == ["10.77.0.0/24", "192.168.77.0/24"]
    assert s.local_networks("gw") == (IPv4Network("10.77.0.0/24"), IPv4Network("192.168.77.0/24"))
    with pytest.raises(BadInput, match="no interface on network 'dmz'"):
        gw.interface("dmz")


ROUTER_FIREWALL = """
[routers.firewall]
policy = "drop"
forward_drop_new_from = "wan"
"""


def test_forward_drop_new_from_is_a_router_firewall_property() -> None:
    s = loads(ROUTED.replace("[routers.nat]", ROUTER_FIREWALL + "[routers.nat]"))
    fw = s.machine("gw").firewall
    assert (fw.style, fw.policy, fw.forward_drop_new_from) == ("nftables", "drop", "wan")
    assert loads(to_toml(s)) == s
    assert 'forward_drop_new_from = "wan"' in to_toml(s) and "block_inbound" not in to_toml(s)


@pytest.mark.parametrize("text, message", [
    (ROUTED.replace("[routers.nat]", ROUTER_FIREWALL.replace('"wan"', '"dmz"') + "[routers.nat]"),
     "routed.toml: routers[0].firewall.forward_drop_new_from: 'dmz' is not one of this router's networks "
     "(expected wan or lan)"),
    (ROUTED + '[hosts.firewall]\nforward_drop_new_from = "wan"\n',
     "routed.toml: hosts[0].firewall.forward_drop_new_from: only a router forwards packets"),
    (ROUTED.replace("udp_timeout = 45", 'udp_timeout = 45\nblock_inbound = true').replace(
        "[routers.nat]", '[routers.firewall]\nstyle = "aws-sg"\n[routers.nat]'),
     "routed.toml: routers[0].nat.block_inbound: the router's firewall is 'aws-sg', which has no forward path"),
])
def test_forward_drop_new_from_mistakes_are_one_line(text, message) -> None:
    with pytest.raises(BadInput) as err:
        loads(text, "routed.toml")
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_older_files_block_inbound_reads_as_the_firewall_rule() -> None:
    """Files written before NAT and the firewall were told apart said block_inbound in
    [routers.nat]; it means the router's forward rule, and is written back as that."""
    old = loads(ROUTED.replace("udp_timeout = 45", "udp_timeout = 45\nblock_inbound = true"))
    fw = old.machine("gw").firewall
    assert (fw.forward_drop_new_from, fw.policy, fw.rules) == ("wan", "accept", ())
    with_fw = loads(ROUTED.replace("[routers.nat]", ROUTER_FIREWALL + "[routers.nat]").replace(
        "udp_timeout = 45", "udp_timeout = 45\nblock_inbound = true"))
    assert with_fw.machine("gw").firewall.policy == "drop"
    assert loads(to_toml(old)) == old and "block_inbound" not in to_toml(old)
    off = loads(ROUTED.replace("udp_timeout = 45", "udp_timeout = 45\nblock_inbound = false"))
    assert off == loads(ROUTED)


def test_non_linux_nat_is_flagged() -> None:
    s = loads(ROUTED.replace('outside = "wan"', 'outside = "wan"\nmapping = "address-and-port-dependent"'))
    assert not s.machine("gw").nat.linux_like


# ----------------------------------------------------------- cloud styles

def _with_firewall(body: str) -> Firewall:
    text = 'name = "c"\n[scanner]\naddress = "10.77.0.1"\n[[hosts]]\nname = "vm"\naddress = "10.77.0.10"\n'
    return loads(text + "[hosts.firewall]\n" + body).machine("vm").firewall


def test_aws_security_group_becomes_allow_rules_behind_drop() -> None:
    fw = _with_firewall('style = "aws-sg"\ninbound = [\n'
                        '  { protocol = "tcp", ports = "22", source = "10.77.0.64/26" },\n'
                        '  { protocol = "all", source = "10.77.0.128/25" },\n]\n')
    assert fw.style == "aws-sg" and fw.policy == "drop" and fw.output_policy == "drop" and fw.stateful
    assert fw.rules == (Rule("accept", "tcp", PortSet.parse("22"), IPv4Network("10.77.0.64/26")),
                        Rule("accept", None, None, IPv4Network("10.77.0.128/25")))
    assert fw.output == (Rule("accept"),)              # AWS's default outbound rule
    assert _with_firewall('style = "aws-sg"\noutbound = []\n').output == ()
    assert _with_firewall('style = "aws-sg"\n').rules == ()   # nothing in


def test_azure_nsg_sorted_by_priority_with_defaults() -> None:
    fw = _with_firewall('style = "azure-nsg"\ninbound = [\n'
                        '  { priority = 300, name = "AllowTLS", action = "allow", protocol = "tcp", ports = "8443" },\n'
                        '  { priority = 200, name = "DenyApp", action = "deny", protocol = "tcp", ports = "8000-8999",'
                        ' source = "Internet", destination = "*" },\n'
                        '  { priority = 100, name = "Web", action = "allow", ports = "*", source = "VirtualNetwork" },\n]\n')
    assert fw.style == "azure-nsg" and fw.policy == "drop" and fw.stateful
    assert [r.priority for r in fw.rules] == [100, 200, 300, 65000, 65001, 65500]
    assert [r.name for r in fw.rules][3:] == ["AllowVnetInBound", "AllowAzureLoadBalancerInBound", "DenyAllInBound"]
    web, deny, tls = fw.rules[:3]
    assert web == Rule("accept", None, None, "VirtualNetwork", None, priority=100, name="Web")
    assert deny.action == "drop" and deny.source == "Internet" and deny.destination is None
    assert tls.action == "accept" and tls.source is None and tls.ports == PortSet.parse("8443")
    assert fw.rules[4].source == AZURE_LOAD_BALANCER
    assert [r.name for r in fw.output] == ["AllowVnetOutBound", "AllowInternetOutBound", "DenyAllOutBound"]
    assert fw.output[1].destination == "Internet"


def test_match_address_and_rule_matches() -> None:
    lan = (IPv4Network("192.168.77.0/24"),)
    inside, outside = IPv4Address("192.168.77.9"), IPv4Address("10.77.0.1")
    assert match_address(None, outside)
    assert match_address(IPv4Network("10.77.0.0/24"), outside) and not match_address(IPv4Network("10.77.1.0/24"), outside)
    assert match_address("VirtualNetwork", inside, lan) and not match_address("VirtualNetwork", outside, lan)
    assert match_address("Internet", outside, lan) and not match_address("Internet", inside, lan)
    with pytest.raises(ValueError):
        match_address("AzureCloud", inside, lan)
    rule = Rule("drop", "tcp", PortSet.parse("22"), source=IPv4Network("10.77.0.0/24"))
    assert rule.matches("tcp", 22, outside, inside)
    assert not rule.matches("udp", 22, outside, inside)
    assert not rule.matches("tcp", 23, outside, inside)
    assert not rule.matches("tcp", 22, inside, inside)
    # The Azure default load-balancer rule matches no scenario address.
    assert not loads(DESIGN_EXAMPLE).network("net").cidr.overlaps(AZURE_LOAD_BALANCER)


# ------------------------------------------------------------- round trip

def test_round_trip_of_every_feature() -> None:
    for text in (DESIGN_EXAMPLE, ROUTED):
        s = loads(text)
        again = loads(to_toml(s))
        assert again == s
        assert to_toml(again) == to_toml(s)       # the writer is deterministic


def test_round_trip_escapes_strings() -> None:
    s = loads(DESIGN_EXAMPLE)
    odd = 'quotes " and \\ back\tslash, é, 🛡 and \x7f and \x01'
    s2 = dataclasses.replace(s, description=odd)
    assert loads(to_toml(s2)).description == odd


def test_round_trip_every_reject_type() -> None:
    rules = ",\n".join(f'  {{ action = "reject", protocol = "tcp", ports = "{9000 + i}", with = "{w}" }}'
                       for i, w in enumerate(REJECT_TYPES))
    fw_text = f'[hosts.firewall]\npolicy = "drop"\nstateful = false\noutput_policy = "drop"\nrules = [\n{rules}\n]\n'
    text = 'name = "r"\n[scanner]\naddress = "10.77.0.1"\n[[hosts]]\nname = "h"\naddress = "10.77.0.2"\n' + fw_text
    s = loads(text)
    fw = s.hosts[0].firewall
    assert tuple(r.reject_with for r in fw.rules) == REJECT_TYPES
    assert not fw.stateful and fw.output_policy == "drop"
    assert loads(to_toml(s)) == s


def test_path_is_recorded_but_not_compared(tmp_path) -> None:
    path = tmp_path / "design.toml"
    path.write_text(DESIGN_EXAMPLE)
    s = load(path)
    assert s.path == str(path)
    assert s == loads(DESIGN_EXAMPLE)


def test_model_is_frozen() -> None:
    s = loads(DESIGN_EXAMPLE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name = "other"  # type: ignore[misc]
    assert isinstance(s, Scenario) and hash(s.hosts[0].firewall.rules)


def test_shipped_lists_the_data_directory() -> None:
    found = shipped()
    assert "single-host" in found and found["single-host"].suffix == ".toml"
    assert all(path.is_file() for path in found.values())


# -------------------------------------------------------- random scenarios

from portlab.scenario_random import interesting_ports, random_scenario  # noqa: E402


def test_random_same_seed_same_scenario() -> None:
    for seed in (0, 1, 42, 2**40):
        assert random_scenario(seed) == random_scenario(seed)
        assert to_toml(random_scenario(seed)) == to_toml(random_scenario(seed))
    assert len({to_toml(random_scenario(seed)) for seed in range(20)}) == 20


@pytest.mark.parametrize("lab_compatible", [True, False])
def test_random_round_trips_for_50_seeds(lab_compatible: bool) -> None:
    for seed in range(50):
        s = random_scenario(seed, lab_compatible=lab_compatible)
        assert loads(to_toml(s)) == s, seed
        assert 1 <= len(s.hosts) <= 3


def test_random_covers_every_feature_and_stays_lab_buildable() -> None:
    actions, kinds, styles, sources, forwards = set(), set(), set(), set(), set()
    scanner_matched = scanner_missed = False
    for seed in range(200):
        s = random_scenario(seed)
        for router in s.routers:
            assert router.nat.linux_like                # the lab builds only Linux NAT
            forwards.add(len(router.nat.forwards))
        for machine in (*s.hosts, *s.routers):
            if machine.firewall is None:
                continue
            styles.add(machine.firewall.style)
            for rule in machine.firewall.rules:
                actions.add(rule.action)
                kinds.add(rule.reject_with)
                if isinstance(rule.source, IPv4Network):
                    sources.add(rule.source)
                    if s.scanner.address in rule.source:
                        scanner_matched = True
                    else:
                        scanner_missed = True
                if rule.reject_with == "tcp-reset":
                    assert rule.protocol == "tcp"
    assert actions == {"accept", "drop", "reject"}
    assert set(REJECT_TYPES) <= kinds
    assert styles == {"nftables", "aws-sg", "azure-nsg"}
    assert forwards == {0, 1, 2}
    assert scanner_matched and scanner_missed
    # Routers with NAT and the forward rule, and with NAT alone (nothing drops new inbound).
    drops = {r.firewall.forward_drop_new_from if r.firewall else None
             for seed in range(200) for r in random_scenario(seed).routers}
    assert drops == {"wan", None}


def test_random_sim_only_nat_appears_when_allowed() -> None:
    behaviours = {(r.nat.mapping, r.nat.filtering) for seed in range(200)
                  for r in random_scenario(seed, lab_compatible=False).routers}
    assert len(behaviours) > 3


def test_interesting_ports_cover_services_rules_and_forwards() -> None:
    for seed in range(50):
        s = random_scenario(seed)
        ports = interesting_ports(s)
        assert ports == sorted(set(ports)) and all(1 <= p <= 65535 for p in ports)
        for machine in (*s.hosts, *s.routers):
            assert set(machine.tcp) | set(machine.udp) <= set(ports)
            for rule in machine.firewall.rules if machine.firewall else ():
                if rule.ports is not None:
                    for low, high in rule.ports.ranges:
                        assert low in ports and high in ports
        for router in s.routers:
            for f in router.nat.forwards:
                assert f.port in ports and f.to_port in ports
        # ...and a few ports nothing names, so "no rule, nothing listening" is scanned too.
        named = {p for m in (*s.hosts, *s.routers) for p in (*m.tcp, *m.udp)}
        assert len(set(ports) - named) >= 3
        assert len(ports) < 80                          # a scan stays short


def test_interesting_ports_of_a_hand_written_file() -> None:
    s = loads(DESIGN_EXAMPLE)
    ports = interesting_ports(s)
    assert {22, 80, 443, 8080, 53, 123, 8082, 8083, 5353, 9000, 9001, 9005, 9009, 9010} <= set(ports)
    assert {1, 7, 1023} <= set(ports)


def test_hand_built_objects_take_the_loaded_form() -> None:
    """A notebook building rules by hand gets what the same file would give."""
    rule = Rule("reject", "tcp", "22,80", source="10.77.0.5", destination="*")
    assert rule == Rule("reject", "tcp", PortSet.parse([22, 80]), IPv4Network("10.77.0.5/32"),
                        reject_with="port-unreachable")
    assert Rule("accept", source="Internet").source == "Internet"
    host = Host("web", "10.77.0.2", "net", tcp=[443, 80, 80], firewall=Firewall(rules=[rule]))
    assert host.address == IPv4Address("10.77.0.2") and host.tcp == (80, 443)
    assert host.firewall.rules == (rule,)
    s = loads(DESIGN_EXAMPLE)
    edited = dataclasses.replace(s, hosts=[dataclasses.replace(s.hosts[0], firewall=Firewall(rules=[rule]))])
    assert isinstance(edited.hosts, tuple)
    assert loads(to_toml(edited)) == edited
    odd = Rule("drop", source="Storage")       # not a CIDR, not a tag the loader accepts: left as is
    assert odd.source == "Storage"
    with pytest.raises(ValueError, match="unknown address spec"):
        odd.matches("tcp", 22, IPv4Address("10.77.0.1"), IPv4Address("10.77.0.2"))


def test_random_scenarios_build_as_lab_plans_and_simulate() -> None:
    """What random_scenario draws, the lab can plan and the simulator can scan
    (the fidelity check needs both); sim-only NAT is refused by the lab."""
    plan = pytest.importorskip("portlab.lab.plan", reason="the lab planner is not built yet")
    engine = pytest.importorskip("portlab.engine", reason="the scan engine is not built yet")
    for seed in range(30):
        s = random_scenario(seed)
        built = plan.build(s, "plrnd")
        assert set(built.machine_netns) == {m.name for m in (*s.hosts, *s.routers)}
        ports = ",".join(map(str, interesting_ports(s)))
        for host in s.hosts:
            result = engine.scan(str(host.address), ports, "syn", scenario=s, keep_trace=False)
            assert len(result.hosts[0].ports) == len(interesting_ports(s))
    refused = 0
    for seed in range(60):
        s = random_scenario(seed, lab_compatible=False)
        if s.routers and not s.routers[0].nat.linux_like:
            with pytest.raises(BadInput, match="cannot be built in the live lab"):
                plan.build(s, "plrnd")
            refused += 1
    assert refused > 0
