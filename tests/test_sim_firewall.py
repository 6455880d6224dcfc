"""Firewall decisions (nftables, AWS security groups, Azure NSGs), stateful tracking,
and the Linux stack's answers, errno table and ICMP rate limits."""

from __future__ import annotations

import errno
import ipaddress
import random

import pytest

from portlab import scenario as model
from portlab.scenario import Firewall, PortSet, Rule
from portlab.sim import kernel
from portlab.sim.conntrack import ConntrackTable, FlowKey
from portlab.sim.firewall import OPEN, compile_firewall, ip_int
from portlab.sim.network import SimNetwork

NET = ipaddress.IPv4Network("10.77.0.0/24")
SCANNER = ip_int("10.77.0.1")
HOST = ip_int("10.77.0.2")


def decide(firewall, protocol, port, src=SCANNER, dst=HOST, own=(NET,)):
    action, lo, hi = compile_firewall(firewall, own).inbound.decide(protocol, src, dst, port)
    assert lo <= port <= hi
    return action


# --- nftables ------------------------------------------------------------------------

def test_first_match_wins_then_policy():
    fw = Firewall(policy="drop", rules=(
        Rule("accept", "tcp", PortSet.parse("22")),
        Rule("reject", "tcp", PortSet.parse("20-30"), reject_with="tcp-reset"),
    ))
    assert decide(fw, "tcp", 22).kind == "accept"
    assert decide(fw, "tcp", 23).is_reset
    assert decide(fw, "tcp", 31).kind == "drop" and decide(fw, "tcp", 31).rule == "policy"
    assert decide(fw, "udp", 22).kind == "drop"   # protocol must match too


@pytest.mark.parametrize("with_, code", [
    ("port-unreachable", 3), ("host-unreachable", 1), ("net-unreachable", 0), ("prot-unreachable", 2),
    ("net-prohibited", 9), ("host-prohibited", 10), ("admin-prohibited", 13), ("tcp-reset", None),
])
def test_reject_types_send_what_nftables_sends(with_, code):
    fw = Firewall(rules=(Rule("reject", "tcp", PortSet.parse("80"), reject_with=with_),))
    action = decide(fw, "tcp", 80)
    assert action.kind == "reject" and action.icmp_code == code


def test_source_match_uses_the_cidr():
    fw = Firewall(policy="drop", rules=(
        Rule("accept", "tcp", PortSet.parse("22"), source=ipaddress.IPv4Network("10.77.0.5/32")),))
    assert decide(fw, "tcp", 22, src=ip_int("10.77.0.5")).kind == "accept"
    assert decide(fw, "tcp", 22, src=ip_int("10.77.0.6")).kind == "drop"


def test_compiled_rules_agree_with_the_scenario_models_reference_matcher():
    """Random rule sets: the fast compiled chain and Rule.matches (first match) agree,
    and the port window returned is really uniform."""
    rng = random.Random(7)
    tags = [None, ipaddress.IPv4Network("10.77.0.0/25"), ipaddress.IPv4Network("10.77.0.128/25"),
            "VirtualNetwork", "Internet"]
    for _ in range(60):
        rules = []
        for _ in range(rng.randint(0, 8)):
            lo = rng.randint(1, 200)
            ports = None if rng.random() < 0.2 else PortSet.parse(f"{lo}-{lo + rng.randint(0, 30)},{rng.randint(1, 250)}")
            action = rng.choice(["accept", "drop", "reject"])
            rules.append(Rule(action, rng.choice([None, "tcp", "udp"]), ports, source=rng.choice(tags),
                              reject_with="admin-prohibited" if action == "reject" else None))
        fw = Firewall(policy=rng.choice(["accept", "drop"]), rules=tuple(rules))
        chain = compile_firewall(fw, (NET,)).inbound
        for _ in range(40):
            protocol = rng.choice(["tcp", "udp"])
            port = rng.randint(1, 260)
            src = ipaddress.IPv4Address(rng.choice(["10.77.0.3", "10.77.0.200", "10.99.0.1"]))
            expected = next((r.action for r in rules if r.matches(protocol, port, src, ipaddress.IPv4Address(HOST),
                                                                   (NET,))), fw.policy)
            action, lo, hi = chain.decide(protocol, int(src), HOST, port)
            assert action.kind == expected
            for other in (lo, hi, (lo + hi) // 2):
                if other >= 1:
                    assert chain.decide(protocol, int(src), HOST, other)[0] == action


def test_icmp_packets_match_only_rules_without_ports_or_protocol():
    fw = Firewall(output_policy="drop", output=(Rule("accept", "tcp", PortSet.parse("1-65535")),))
    chain = compile_firewall(fw).outbound
    assert chain.decide("icmp", HOST, SCANNER, None)[0].kind == "drop"
    fw = Firewall(output_policy="drop", output=(Rule("accept"),))
    assert compile_firewall(fw).outbound.decide("icmp", HOST, SCANNER, None)[0].kind == "accept"


def test_no_firewall_accepts_everything():
    assert compile_firewall(None) is OPEN
    assert OPEN.inbound.decide("tcp", SCANNER, HOST, 1)[0].kind == "accept"


# --- AWS security groups ----------------------------------------------------------

SG = """
name = "sg"
[scanner]
address = "10.77.0.1"
[[hosts]]
name = "vm"
address = "10.77.0.10"
tcp = [22, 443, 5432]
[hosts.firewall]
style = "aws-sg"
inbound = [
  { protocol = "tcp", ports = "22", source = "10.77.0.64/26" },
  { protocol = "tcp", ports = "443", source = "0.0.0.0/0" },
  { protocol = "tcp", ports = "400-500", source = "10.77.0.1/32" },
]
"""


def test_security_group_is_a_union_of_allows_in_any_order():
    scenario = model.loads(SG, "sg.toml")
    fw = scenario.hosts[0].firewall
    assert fw.style == "aws-sg" and fw.policy == "drop" and fw.stateful
    shuffled = Firewall(fw.style, fw.policy, tuple(reversed(fw.rules)), fw.output_policy, fw.output, fw.stateful)
    for port in (22, 443, 450, 5432, 80):
        for src in ("10.77.0.1", "10.77.0.70", "10.77.0.200"):
            a = decide(fw, "tcp", port, src=ip_int(src))
            b = decide(shuffled, "tcp", port, src=ip_int(src))
            assert a.kind == b.kind
            assert a.kind in ("accept", "drop")   # never reject: blocked traffic vanishes
    assert decide(fw, "tcp", 22, src=ip_int("10.77.0.70")).kind == "accept"
    assert decide(fw, "tcp", 22, src=ip_int("10.77.0.1")).kind == "drop"
    # Outbound default: one rule allowing everything.
    assert compile_firewall(fw, (NET,)).outbound.decide("udp", HOST, ip_int("203.0.113.9"), 53)[0].kind == "accept"


# --- Azure NSGs -------------------------------------------------------------------

def test_nsg_priority_order_first_match_and_service_tags():
    scenario = model.load(model.shipped()["cloud-nsg"])
    vm = scenario.hosts[0]
    own = scenario.local_networks(vm.name)
    fw = vm.firewall
    scanner = int(scenario.scanner.address)        # on another network: the Internet to the VM
    me = int(vm.address)

    def kind(port, src=scanner):
        return compile_firewall(fw, own).inbound.decide("tcp", src, me, port)[0]

    assert kind(443).kind == "accept"               # 100 AllowHTTPS from Internet
    assert kind(8443).kind == "drop"                # 200 deny 8000-8999 wins over 300 allow 8443
    assert "DenyAppPorts" in kind(8443).rule
    assert kind(3389).kind == "drop"
    assert "DenyAllInBound" in kind(5000).rule      # Azure's default at 65500
    neighbour = ip_int("10.77.10.9")                # same VNet: AllowVnetInBound at 65000
    assert kind(5000, neighbour).kind == "accept" and "AllowVnetInBound" in kind(5000, neighbour).rule


def test_nsg_internet_tag_means_outside_the_machines_networks():
    rule = Rule("accept", source="Internet")
    fw = Firewall(style="azure-nsg", policy="drop", rules=(rule,))
    assert decide(fw, "tcp", 1, src=ip_int("10.77.0.3")).kind == "drop"      # inside its network
    assert decide(fw, "tcp", 1, src=ip_int("192.168.1.3")).kind == "accept"  # anywhere else


# --- stateful versus stateless, through the network -----------------------------------

STATELESS = """
name = "stateless"
[scanner]
address = "10.77.0.1"
[[hosts]]
name = "web"
address = "10.77.0.2"
tcp = [80]
[hosts.firewall]
policy = "drop"
stateful = {stateful}
rules = [{{ action = "accept", protocol = "tcp", ports = "80" }}]
output_policy = "drop"
output = [{{ action = "accept", protocol = "tcp", ports = "53" }}]
[[hosts]]
name = "other"
address = "10.77.0.3"
tcp = [22]
"""


def _stateless(stateful: bool):
    return model.loads(STATELESS.format(stateful=str(stateful).lower()), "s.toml")


def test_stateful_firewall_passes_replies_stateless_does_not():
    stateful = SimNetwork(_stateless(True))
    stateless = SimNetwork(_stateless(False))
    # Inbound to the allowed port: the SYN/ACK must leave through the output chain.
    assert stateful.send("scanner", "10.77.0.2", 80).kind == kernel.SYN_ACK
    answer = stateless.send("scanner", "10.77.0.2", 80)
    assert answer.kind == kernel.SILENCE
    assert any("output (stateless)" in line for line in answer.path)
    # Outbound from the host: allowed by port 53 only... to a machine listening on 22 the
    # output chain drops it; and a stateless input chain drops the answer to port 53.
    assert stateful.send("web", "10.77.0.3", 22).kind == kernel.SILENCE
    assert stateful.send("web", "10.77.0.3", 53).kind == kernel.RST           # the answer comes back in
    assert stateless.send("web", "10.77.0.3", 53).kind == kernel.SILENCE      # policy drop eats it


def test_conntrack_recognises_replies_only():
    table = ConntrackTable()
    key = FlowKey("tcp", "10.77.0.2", 40000, "10.77.0.3", 22)
    table.track(key, now=0.0)
    assert table.is_reply(key.reversed(), now=1.0)
    assert not table.is_reply(key, now=1.0)                     # same direction is not a reply
    assert table.flows()[0].state == "ESTABLISHED"
    assert not table.is_reply(FlowKey("tcp", "10.77.0.3", 22, "10.77.0.2", 40001), now=1.0)


def test_conntrack_forgets_unreplied_flows_after_their_timeout():
    table = ConntrackTable()
    key = FlowKey("udp", "10.77.0.2", 5000, "10.77.0.3", 53)
    table.track(key, now=0.0)
    assert not table.is_reply(key.reversed(), now=31.0)         # nf_conntrack_udp_timeout 30 s
    assert len(table) == 0


# --- the Linux stack --------------------------------------------------------------------

def test_stack_answers():
    assert kernel.stack_answer("tcp", 22, {22}, set()) == (kernel.SYN_ACK, None)
    assert kernel.stack_answer("tcp", 23, {22}, set()) == (kernel.RST, None)
    assert kernel.stack_answer("udp", 53, set(), {53}) == (kernel.UDP_REPLY, None)
    assert kernel.stack_answer("udp", 54, set(), {53}) == (kernel.ICMP, 3)


@pytest.mark.parametrize("code, err", [
    (0, errno.ENETUNREACH), (1, errno.EHOSTUNREACH), (2, errno.ENOPROTOOPT), (3, errno.ECONNREFUSED),
    (9, errno.ENETUNREACH), (10, errno.EHOSTUNREACH), (13, errno.EHOSTUNREACH),
])
def test_icmp_err_convert(code, err):
    assert kernel.connect_errno(code) == err


def test_icmp_err_convert_is_the_whole_linux_table():
    assert len(kernel.ICMP_ERR_CONVERT) == 16
    assert [e.fatal for e in kernel.ICMP_ERR_CONVERT[:4]] == [False, False, True, True]


def test_peer_bucket_burst_of_six_then_one_a_second():
    limiter = kernel.IcmpRateLimiter()
    assert [limiter.allow("10.77.0.1", 0.0) for _ in range(8)] == [True] * 6 + [False] * 2
    assert not limiter.allow("10.77.0.1", 0.5)
    assert limiter.allow("10.77.0.1", 1.0)
    assert not limiter.allow("10.77.0.1", 1.5)
    # Another peer has its own bucket.
    assert limiter.allow("10.77.0.9", 1.5)
    # After a long pause the bucket is full again, but holds no more than 6.
    assert [limiter.allow("10.77.0.1", 100.0) for _ in range(7)] == [True] * 6 + [False]


def test_global_bucket_caps_errors_to_many_peers():
    limiter = kernel.IcmpRateLimiter()
    sent = sum(limiter.allow(f"10.77.{i // 250}.{i % 250}", 0.0) for i in range(200))
    assert sent == kernel.ICMP_MSGS_BURST


def test_loopback_and_unmasked_types_are_never_limited():
    limiter = kernel.IcmpRateLimiter()
    assert all(limiter.allow("127.0.0.1", 0.0, loopback=True) for _ in range(100))
    assert all(limiter.allow("10.77.0.1", 0.0, icmp_type=0) for _ in range(100))  # echo reply


def test_token_bucket_next_token():
    bucket = kernel.TokenBucket(1.0, 6)
    for _ in range(6):
        assert bucket.allow(10.0)
    assert bucket.next_token_at(10.0) == pytest.approx(11.0)


def test_firewall_and_network_tables_for_notebooks():
    net = SimNetwork(model.load(model.shipped()["web-server"]))
    frame = net.firewall("web").to_dataframe()
    inbound = frame[frame["chain"] == "in"]
    assert list(inbound["action"]) == ["accept", "accept", "accept", "drop"]   # ct, web, ssh, policy
    assert "ssh for the admin only" in set(inbound["name"])
    assert inbound.iloc[-1]["order"] == "policy"
    machines = net.to_dataframe().set_index("name")
    assert machines.loc["web", "firewall"] == "nftables" and machines.loc["admin", "firewall"] == "none"
    assert machines.loc["web", "tcp"] == "22,80,443,3306"
    assert net.firewall("admin").to_dataframe().empty
