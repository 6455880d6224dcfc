"""The lab's pure parts: scenario -> nftables text and ip/nft/sysctl steps.  No root needed."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from portlab import scenario as scenario_mod
from portlab.errors import BadInput
from portlab.lab import names, nftables, plan
from portlab.scenario import PortSet, Rule

PREFIX = "pltest"

SINGLE = """
name = "t"
[scanner]
address = "10.77.0.1"
[[hosts]]
name = "web"
address = "10.77.0.2"
tcp = [22, 80]
udp = [53]
[hosts.firewall]
policy = "drop"
stateful = false
rules = [
  { action = "accept", protocol = "tcp", ports = "22,80" },
  { action = "reject", protocol = "tcp", ports = "8083", with = "tcp-reset" },
  { action = "reject", ports = "9000-9010" },
]
"""

NAT = """
name = "n"
[scanner]
address = "10.77.0.1"
gateway = "10.77.0.2"
[[networks]]
name = "out"
cidr = "10.77.0.0/24"
[[networks]]
name = "home"
cidr = "192.168.77.0/24"
[[routers]]
name = "gw"
interfaces = [{ network = "out", address = "10.77.0.2" }, { network = "home", address = "192.168.77.1" }]
[routers.nat]
outside = "out"
{extra}
forwards = [{ protocol = "tcp", port = 8080, to = "192.168.77.20:80" }]
[[hosts]]
name = "nas"
address = "192.168.77.20"
tcp = [80]
gateway = "192.168.77.1"
"""


def load(text: str, filename: str = "t.toml"):
    return scenario_mod.loads(text, filename)


# ---------------------------------------------------------------- names

def test_prefix_is_fresh_and_valid():
    a, b = names.new_prefix(), names.new_prefix()
    assert names.check_prefix(a) == a and a.startswith("pl") and len(a) == 6
    assert a != b or names.new_prefix() != a  # 16 bits: two equal in a row is astronomically rare


@pytest.mark.parametrize("bad", ["", "A", "x", "pl-1", "pl.1", "1abc", "abcdefghijk"])
def test_bad_prefix_is_one_clear_line(bad):
    with pytest.raises(BadInput, match="lab prefix") as err:
        names.check_prefix(bad)
    assert "\n" not in str(err.value)


def test_names_cannot_collide():
    # A host called "scanner" and a network called "scanner" still get distinct namespaces.
    got = {names.machine_netns(PREFIX, "scanner"), names.scanner_netns(PREFIX), names.network_netns(PREFIX, "scanner")}
    assert len(got) == 3
    assert all(names.owns_netns(PREFIX, ns) for ns in got)
    assert not names.owns_netns(PREFIX, "pltestx-web") and not names.owns_netns(PREFIX, "other")


# ---------------------------------------------------------------- rules

@pytest.mark.parametrize("rule, text", [
    (Rule("drop", "tcp", PortSet.parse("9000-9010")), "tcp dport 9000-9010 drop"),
    (Rule("accept", "tcp", PortSet.parse("22,80,443")), "tcp dport { 22, 80, 443 } accept"),
    (Rule("reject", "udp", PortSet.parse("5353"), reject_with="port-unreachable"), "udp dport 5353 reject"),
    (Rule("reject", "tcp", PortSet.parse("8083"), reject_with="tcp-reset"), "tcp dport 8083 reject with tcp reset"),
    (Rule("reject", "tcp", PortSet.parse("1"), reject_with="admin-prohibited"),
     "tcp dport 1 reject with icmp type admin-prohibited"),
    (Rule("reject", None, PortSet.parse("7"), reject_with="prot-unreachable"),
     "meta l4proto { tcp, udp } th dport 7 reject with icmp type prot-unreachable"),
    (Rule("accept", "udp"), "meta l4proto udp accept"),
    (Rule("drop"), "drop"),
    (Rule("accept", "tcp", PortSet.parse("22"), source=ipaddress.ip_network("10.77.0.0/24")),
     "ip saddr 10.77.0.0/24 tcp dport 22 accept"),
])
def test_rule_text(rule, text):
    assert nftables.rule_text(rule) == text


def test_every_reject_type_has_an_nft_spelling():
    for kind in scenario_mod.REJECT_TYPES:
        protocol = "tcp"
        text = nftables.rule_text(Rule("reject", protocol, PortSet.parse("1"), reject_with=kind))
        assert text.startswith("tcp dport 1 reject")
        assert kind == "port-unreachable" or kind.split("-")[0] in text


def test_azure_tags_resolve_against_own_networks():
    own = (ipaddress.ip_network("10.77.10.0/24"),)
    assert nftables.rule_text(Rule("accept", source="VirtualNetwork"), own) == "ip saddr 10.77.10.0/24 accept"
    assert nftables.rule_text(Rule("accept", source="Internet"), own) == "ip saddr != 10.77.10.0/24 accept"
    two = own + (ipaddress.ip_network("10.77.0.0/24"),)
    assert nftables.rule_text(Rule("accept", destination="Internet"), two) == \
        "ip daddr != { 10.77.10.0/24, 10.77.0.0/24 } accept"
    with pytest.raises(BadInput, match="service tag 'Storage'"):
        nftables.rule_text(Rule("accept", source="Storage"), own, "x.toml: hosts[0].firewall")


def test_tcp_reset_needs_tcp():
    with pytest.raises(BadInput, match=r"x\.toml: r: reject with tcp-reset needs protocol"):
        nftables.rule_text(Rule("reject", "udp", PortSet.parse("1"), reject_with="tcp-reset"), (), "x.toml: r")


def test_ruleset_order_stateful_first_and_policies():
    s = load(SINGLE)
    text = nftables.firewall_ruleset(s.hosts[0].firewall, (s.networks[0].cidr,))
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == "table inet portlab {"
    assert "type filter hook input priority filter; policy drop;" in lines
    assert "ct state established,related accept" not in lines       # stateful = false
    body = lines[lines.index("type filter hook input priority filter; policy drop;") + 1:]
    assert body[:3] == ["tcp dport { 22, 80 } accept", "tcp dport 8083 reject with tcp reset",
                        "meta l4proto { tcp, udp } th dport 9000-9010 reject"]
    stateful = nftables.firewall_ruleset(scenario_mod.Firewall(), ())
    chain = [line.strip() for line in stateful.splitlines()]
    assert chain[chain.index("chain input {") + 2] == "ct state established,related accept"
    assert nftables.firewall_ruleset(None, ()) == ""


# ---------------------------------------------------------------- NAT

GW_FIREWALL = """
[routers.firewall]
forward_drop_new_from = "out"
"""


def test_nat_masquerade_dnat_and_the_firewalls_forward_rule():
    s = load(NAT.replace("[routers.nat]", GW_FIREWALL + "[routers.nat]").replace("{extra}", ""))
    p = plan.build(s, PREFIX)
    router_ns = names.machine_netns(PREFIX, "gw")
    nat = p.rulesets[router_ns + "#nat"]
    assert 'oifname "eth0" masquerade' in nat
    assert "ip daddr 10.77.0.2 tcp dport 8080 dnat to 192.168.77.20:80" in nat
    assert "ct status dnat masquerade" in nat        # hairpin is on by default
    assert "drop" not in nat and "ct state" not in nat   # NAT translates; it filters nothing
    filt = p.rulesets[router_ns]
    assert 'iifname "eth0" ct state new ct status dnat accept' in filt
    assert filt.index("ct status dnat accept") < filt.index('ct state new drop')
    assert "type filter hook forward priority filter; policy accept;" in filt
    forward = [s.argv for s in p.steps if "net.ipv4.ip_forward=1" in s.argv]
    assert forward == [("ip", "netns", "exec", router_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")]


def test_nat_alone_writes_no_filter_and_linux_conntrack_timeouts():
    s = load(NAT.replace("{extra}", "hairpin = false"))
    p = plan.build(s, PREFIX)
    router_ns = names.machine_netns(PREFIX, "gw")
    nat = p.rulesets[router_ns + "#nat"]
    assert 'iifname "eth0" ip daddr 10.77.0.2 tcp dport 8080 dnat' in nat
    assert "ct status dnat masquerade" not in nat
    assert router_ns not in p.rulesets   # no firewall: no forward rule, nothing dropped
    sysctls = {st.argv[-1] for st in p.steps if st.argv[-3:-1] == ("sysctl", "-qw")}
    assert {"net.netfilter.nf_conntrack_udp_timeout=30", "net.netfilter.nf_conntrack_udp_timeout_stream=120",
            "net.netfilter.nf_conntrack_tcp_timeout_established=432000"} <= sysctls


def test_forward_rule_without_nat():
    """The forward rule is the firewall's: a router without NAT can have it too."""
    text = NAT.replace("[routers.nat]\noutside = \"out\"\n{extra}\n"
                       "forwards = [{ protocol = \"tcp\", port = 8080, to = \"192.168.77.20:80\" }]\n",
                       GW_FIREWALL)
    s = load(text)
    assert s.machine("gw").nat is None
    p = plan.build(s, PREFIX)
    router_ns = names.machine_netns(PREFIX, "gw")
    assert router_ns + "#nat" not in p.rulesets
    assert 'iifname "eth0" ct state new drop' in p.rulesets[router_ns]


@pytest.mark.parametrize("extra, key", [
    ('mapping = "address-dependent"', "mapping"),
    ('filtering = "endpoint-independent"', "filtering"),
    ('port_allocation = "random"', "port_allocation"),
])
def test_non_linux_nat_is_refused_in_one_line(extra, key, tmp_path):
    (tmp_path / "home.toml").write_text(NAT.replace("{extra}", extra))
    s = scenario_mod.load(tmp_path / "home.toml")
    with pytest.raises(BadInput) as err:
        plan.build(s, PREFIX)
    message = str(err.value)
    assert message.startswith(f"home.toml: routers[0].nat.{key}:") and "simulator" in message
    assert "\n" not in message


# ---------------------------------------------------------------- whole plans

SHIPPED = sorted(scenario_mod.shipped().items())


def _netns_of(argv: tuple[str, ...]) -> str:
    """The namespace a step acts in; fails the test for a step in the root namespace."""
    if argv[:3] in (("ip", "netns", "add"), ("ip", "netns", "delete"), ("ip", "netns", "exec")):
        return argv[3]
    assert argv[:2] == ("ip", "-n"), f"step runs in the root namespace: {argv}"
    return argv[2]


@pytest.mark.parametrize("name, path", SHIPPED, ids=[n for n, _ in SHIPPED])
def test_shipped_plan_stays_inside_its_namespaces(name, path):
    s = scenario_mod.load(path)
    p = plan.build(s, PREFIX)
    own = set(p.namespaces)
    machines = len(s.hosts) + len(s.routers)
    assert len(own) == machines + 1 + len(s.networks)
    assert p.namespaces[0] == names.network_netns(PREFIX, s.networks[0].name)   # bridges first
    for step in p.steps:
        ns = _netns_of(step.argv)
        assert ns in own, step.argv
        if "veth" in step.argv:
            assert step.argv[step.argv.index("netns") + 1] in own      # the peer lands in a lab namespace
        if "link" in step.argv and "add" in step.argv:
            ifnames = [step.argv[step.argv.index("add") + 1]]
            if "peer" in step.argv:
                ifnames.append(step.argv[step.argv.index("peer") + 2])
            assert all(len(n) <= names.IFNAMSIZ for n in ifnames)
    # Routes: only default routes, only via a gateway the scenario names (a lab address).
    lab_addresses = {str(a) for a in s.addresses()}
    routes = [st.argv for st in p.steps if "route" in st.argv]
    gateways = [m.gateway for m in (s.scanner, *s.hosts) if m.gateway is not None]
    assert len(routes) == len(gateways)
    for argv in routes:
        assert argv[argv.index("route") + 1:argv.index("route") + 3] == ("add", "default")
        assert argv[-1] in lab_addresses
    # Undo deletes exactly what was made, machines before bridges.
    undo = [st.argv for st in p.undo_steps()]
    assert [a[3] for a in undo] == list(reversed(p.namespaces))
    assert {sv.machine for sv in p.services} == {m.name for m in (*s.hosts, *s.routers) if m.tcp or m.udp}


def test_service_command_line():
    s = load(SINGLE)
    (service,) = plan.build(s, PREFIX).services
    assert service.argv("py") == ("ip", "netns", "exec", "pltest-web", "py", "-m", "portlab.lab.services",
                                  "--tcp", "22,80", "--udp", "53")


def test_every_address_gets_its_prefix_length():
    s = scenario_mod.load(scenario_mod.shipped()["home-nat"])
    p = plan.build(s, PREFIX)
    added = {st.argv[st.argv.index("add") + 1] for st in p.steps if "addr" in st.argv}
    expected = {f"{a}/{n.cidr.prefixlen}" for a in s.addresses() for n in s.networks if a in n.cidr}
    assert added == expected


# ---------------------------------------------------------------- shipped recordings

RECORDINGS = Path(__file__).resolve().parents[1] / "data" / "recordings"


@pytest.mark.parametrize("name", sorted(scenario_mod.shipped()))
def test_every_shipped_scenario_has_a_complete_recording(name):
    from portlab import results
    from portlab.lab import recording
    folder = RECORDINGS / name
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["scenario"] == name and meta["kernel"] and meta["date"].endswith("Z") and meta["portlab"]
    s = scenario_mod.load(scenario_mod.shipped()[name])
    addresses = recording.targets(s)
    assert meta["targets"] == addresses
    for scan_type in recording.SCAN_TYPES:
        expected_ports = meta["scans"][scan_type]["ports"].split(",")
        for file, transport in ((f"{scan_type}.json", None), (f"nmap-{scan_type}.xml", "nmap")):
            if transport == "nmap" and meta["nmap"] is None:
                continue
            result = results.load(folder / file)
            assert str(result.scan_type) == scan_type
            assert sorted(h.address for h in result.hosts) == sorted(addresses)
            for host in result.hosts:          # lossless: every probed port is there
                assert sorted(p.port for p in host.ports) == sorted(map(int, expected_ports)), (file, host.address)
        if meta["nmap"] is not None:
            assert meta["scans"][f"nmap-{scan_type}"]["command"].startswith("ip netns exec SCANNER nmap ")
