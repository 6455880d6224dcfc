"""The NAT table against RFC 4787 (UDP: §4.1 mapping, §4.2.1 ports, §4.3 timeouts,
§5 filtering, §6 hairpinning) and RFC 5382 (TCP: REQ-1 mapping, filtering, REQ-5
timeouts), and NAT inside the simulated network."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from portlab import scenario as model
from portlab.scenario import Forward
from portlab.sim import kernel
from portlab.sim.nat import NatTable, NatRow
from portlab.sim.network import SimNetwork

OUT = "10.77.0.2"
X = ("192.168.77.10", 5000)          # the inside endpoint X:x of RFC 4787's figures
Y1, Y1b, Y2 = ("10.77.0.50", 3478), ("10.77.0.50", 3479), ("10.77.0.60", 3478)


def table(**kw) -> NatTable:
    return NatTable(OUT, **kw)


# --- RFC 4787 §4.1: mapping ---------------------------------------------------------

def test_endpoint_independent_mapping_reuses_the_mapping_for_every_remote():
    nat = table(mapping="endpoint-independent")
    first = nat.outbound("udp", X, Y1, 0)
    assert nat.outbound("udp", X, Y1b, 1) == first
    assert nat.outbound("udp", X, Y2, 2) == first


def test_address_dependent_mapping_differs_per_remote_address():
    nat = table(mapping="address-dependent")
    first = nat.outbound("udp", X, Y1, 0)
    assert nat.outbound("udp", X, Y1b, 1) == first       # same address, other port: same mapping
    assert nat.outbound("udp", X, Y2, 2) != first


def test_address_and_port_dependent_mapping_differs_per_remote_port():
    nat = table(mapping="address-and-port-dependent")
    first = nat.outbound("udp", X, Y1, 0)
    assert nat.outbound("udp", X, Y1b, 1) != first
    assert nat.outbound("udp", X, Y1, 2) == first         # the same remote reuses it


# --- §4.2.1: port allocation ------------------------------------------------------------

def test_port_preservation_keeps_the_inside_port_when_free():
    nat = table(port_allocation="preserve")
    assert nat.outbound("udp", X, Y1, 0) == (OUT, 5000)
    other = nat.outbound("udp", ("192.168.77.11", 5000), Y1, 0)
    assert other[1] != 5000          # taken: no port overloading (REQ-3), another port


def test_sequential_allocation():
    nat = table(port_allocation="sequential")
    ports = [nat.outbound("udp", (f"192.168.77.{i}", 6000), Y1, 0)[1] for i in range(10, 13)]
    assert ports == [1024, 1025, 1026]


def test_random_allocation_is_seeded():
    def ports(seed):
        nat = table(port_allocation="random", seed=seed)
        return [nat.outbound("udp", (f"192.168.77.{i}", 6000), Y1, 0)[1] for i in range(10, 20)]
    assert ports(1) == ports(1)
    assert ports(1) != ports(2)
    assert all(1024 <= p <= 65535 for p in ports(3))
    assert len(set(ports(3))) == 10


def test_forwarded_ports_are_never_given_to_dynamic_mappings():
    nat = table(forwards=(Forward("udp", 5000, IPv4Address("192.168.77.20"), 5000),))
    assert nat.outbound("udp", X, Y1, 0)[1] != 5000


# --- §4.3 / RFC 5382 REQ-5: timeouts ------------------------------------------------------

def test_udp_mapping_expires_after_udp_timeout_and_traffic_refreshes_it():
    nat = table(udp_timeout=30)
    _, port = nat.outbound("udp", X, Y1, 0)
    assert nat.outbound("udp", X, Y1, 25) == (OUT, port)    # outbound refresh (REQ-6): until 55
    assert nat.entries(54)[0].expires == 55
    assert nat.inbound("udp", Y1, port, 55) is None         # never answered, idle 30 s: gone
    assert nat.entries(55) == []


def test_udp_mapping_without_traffic_lives_exactly_udp_timeout():
    nat = table(udp_timeout=30)
    _, port = nat.outbound("udp", X, Y1, 0)
    assert nat.entries(29.9)[0].expires == 30
    assert nat.inbound("udp", Y1, port, 30) is None


def test_udp_question_and_quick_answer_is_no_stream_and_keeps_30s():
    """Linux: a reply sets SEEN_REPLY after its own packet is judged; only a packet more
    than 2 s after the first one of a replied flow makes it a stream."""
    nat = table()
    _, port = nat.outbound("udp", X, Y1, 0)
    assert nat.inbound("udp", Y1, port, 0.5) == X           # the answer, within 2 s: 30 s more
    assert nat.entries(1)[0].expires == 30.5
    assert nat.entries(30.5) == []


def test_udp_stream_lives_nf_conntrack_udp_timeout_stream():
    nat = table()                                           # Linux defaults: 30 s, stream 120 s
    assert nat.udp_stream_timeout == 120.0 and nat.timeouts["udp"] == 30.0
    _, port = nat.outbound("udp", X, Y1, 0)
    nat.inbound("udp", Y1, port, 0.5)                       # answered
    assert nat.outbound("udp", X, Y1, 10) == (OUT, port)    # still talking 10 s later: a stream
    assert nat.entries(11)[0].expires == 130
    assert nat.inbound("udp", Y1, port, 129) == X           # alive until 130, refreshed to 249
    assert nat.entries(248) and nat.entries(249) == []


def test_udp_stream_needs_an_answer():
    nat = table()
    _, port = nat.outbound("udp", X, Y1, 0)
    nat.outbound("udp", X, Y1, 10)                          # talking, never answered
    assert nat.entries(11)[0].expires == 40


def test_tcp_established_mapping_lives_as_long_as_linux_keeps_it():
    """Linux's nf_conntrack_tcp_timeout_established (432000 s, 5 days) is the default, far
    above RFC 5382 REQ-5's floor for NATs (an established connection: at least 2 h 4 min)."""
    nat = table()
    assert nat.timeouts["tcp"] == 432000 >= 2 * 3600 + 4 * 60
    _, port = nat.outbound("tcp", X, Y1, 0)
    assert nat.inbound("tcp", Y1, port, 7441) == X          # a NAT at RFC 5382's minimum would have dropped it
    assert nat.inbound("tcp", Y1, port, 7441 + 431999) == X
    assert nat.inbound("tcp", Y1, port, 7441 + 431999 + 432000) is None
    assert table(tcp_timeout=7440).entries() == []          # the floor stays a setting


def test_scenario_defaults_are_linux_conntrack_defaults():
    nat = model.loads(model.shipped()["home-nat"].read_text(), "home-nat.toml").routers[0].nat
    assert (nat.udp_timeout, nat.udp_stream_timeout, nat.tcp_timeout) == (30.0, 120.0, 432000.0)
    built = NatTable.from_nat(nat, OUT)
    assert (built.timeouts, built.udp_stream_timeout) == ({"udp": 30.0, "tcp": 432000.0}, 120.0)


def test_a_looser_filter_records_the_remote_it_let_in():
    nat = table(filtering="endpoint-independent")
    _, port = nat.outbound("udp", X, Y1, 0)
    assert nat.inbound("udp", Y2, port, 1) == X
    assert {row.remote for row in nat.entries()} == {"10.77.0.50:3478", "10.77.0.60:3478"}


def test_tcp_mapping_is_endpoint_independent():
    """RFC 5382 REQ-1: one inside TCP endpoint gets one outside endpoint for every remote."""
    nat = table()
    assert nat.outbound("tcp", X, Y1, 0) == nat.outbound("tcp", X, Y2, 0)


# --- §5: filtering ----------------------------------------------------------------------

@pytest.mark.parametrize("filtering, allowed", [
    ("endpoint-independent", {Y1, Y1b, Y2}),
    ("address-dependent", {Y1, Y1b}),
    ("address-and-port-dependent", {Y1}),
])
@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_filtering(filtering, allowed, protocol):
    nat = table(filtering=filtering)
    _, port = nat.outbound(protocol, X, Y1, 0)
    for remote in (Y1, Y1b, Y2):
        got = nat.inbound(protocol, remote, port, 1)
        assert (got == X) == (remote in allowed), (filtering, remote)


def test_unsolicited_inbound_finds_no_mapping():
    nat = table(filtering="endpoint-independent")
    assert nat.inbound("udp", Y1, 5000, 0) is None


def test_static_forward_wins_over_a_dynamic_mapping():
    inside_web = ("192.168.77.20", 80)
    nat = table(filtering="endpoint-independent",
                forwards=(Forward("tcp", 8080, IPv4Address(inside_web[0]), 80),))
    nat.outbound("tcp", ("192.168.77.10", 8080), Y1, 0)      # wants 8080, cannot have it
    assert nat.inbound("tcp", Y2, 8080, 1) == inside_web
    assert nat.lookup_inbound("tcp", Y2, 8080) == (inside_web, "forward")


# --- inspection -------------------------------------------------------------------------

def test_entries_and_dataframe():
    nat = table(forwards=(Forward("tcp", 8080, IPv4Address("192.168.77.20"), 80),))
    nat.outbound("udp", X, Y1, 5.0)
    nat.outbound("udp", X, Y2, 6.0)
    nat.inbound("tcp", Y2, 8080, 7.0)
    rows = nat.entries()
    assert rows[0] == NatRow("udp", "192.168.77.10:5000", "10.77.0.2:5000", "10.77.0.50:3478", 5.0, 5.0, 35.0, "dynamic")
    assert rows[1].remote == "10.77.0.60:3478"
    assert rows[2].kind == "forward" and rows[2].inside == "192.168.77.20:80" and rows[2].outside == "10.77.0.2:8080"
    frame = nat.to_dataframe()
    assert list(frame.columns) == list(NatRow._fields)
    assert len(frame) == 3 and len(nat) == 3


def test_bad_behaviour_names_are_refused():
    with pytest.raises(ValueError):
        table(mapping="symmetric")
    with pytest.raises(ValueError):
        table(port_allocation="any")


# --- NAT in the network -----------------------------------------------------------------

def _home(**nat_changes) -> SimNetwork:
    text = model.shipped()["home-nat-forward"].read_text()
    scenario = model.loads(text, "home-nat-forward.toml")
    if nat_changes:
        from dataclasses import replace
        router = scenario.routers[0]
        scenario = replace(scenario, routers=(replace(router, nat=replace(router.nat, **nat_changes)),))
    return SimNetwork(scenario)


def test_outbound_connection_is_masqueraded_and_recorded():
    net = _home()
    answer = net.send("laptop", "10.77.0.1", 22, record=True)
    assert answer.kind == kernel.RST and answer.responder == "10.77.0.1"
    assert any("SNAT 192.168.77.10:40001 -> 10.77.0.2:40001" in line for line in answer.path)
    (row,) = net.nat_table().entries()
    assert (row.inside, row.outside, row.remote) == ("192.168.77.10:40001", "10.77.0.2:40001", "10.77.0.1:22")


def test_a_mapping_opens_the_inside_port_only_as_filtering_allows():
    for filtering, reachable in (("address-and-port-dependent", False), ("endpoint-independent", True)):
        net = _home(filtering=filtering)
        net.send("laptop", "10.77.0.1", 22, sport=22, record=True)    # laptop's sshd port, mapped
        answer = net.send("scanner", "10.77.0.2", 22)                 # from 10.77.0.1:40001
        assert (answer.kind == kernel.SYN_ACK) == reachable, filtering


def test_hairpinning_reaches_the_forward_from_inside():
    net = _home()
    answer = net.send("laptop", "10.77.0.2", 8080)
    assert answer.kind == kernel.SYN_ACK and answer.responder == "10.77.0.2"
    # Sender and target share a network: the router masquerades to its inside address
    # (as the live lab's `ct status dnat masquerade` does) so the answer comes back to it.
    assert any("hairpin SNAT 192.168.77.10 -> 192.168.77.1" in line for line in answer.path)
    # Without hairpinning the router answers itself: its firewall accepts the home network,
    # and nothing listens on 8080 there.
    answer = _home(hairpin=False).send("laptop", "10.77.0.2", 8080)
    assert answer.kind == kernel.RST and not any("DNAT" in line for line in answer.path)


# --- NAT and the router's firewall are two things (notebook 07, section 2) ---------------

def _shipped(name: str) -> SimNetwork:
    return SimNetwork(model.load(model.shipped()[name]))


def test_the_variant_differs_from_home_nat_only_by_the_router_firewall():
    with_fw, nat_only = (model.load(model.shipped()[n]) for n in ("home-nat", "home-nat-nofirewall"))
    assert with_fw.machine("router").firewall.forward_drop_new_from == "internet"
    assert nat_only.machine("router").firewall is None
    assert with_fw.machine("router").nat == nat_only.machine("router").nat
    assert (with_fw.hosts, with_fw.networks, with_fw.scanner) == (nat_only.hosts, nat_only.networks, nat_only.scanner)


def test_nat_alone_a_packet_to_the_outside_address_with_no_row_is_the_routers_own():
    """(a) No forward, no mapping: NAT has no row to translate by, so the packet is for
    the router itself, which answers as any machine does (the live lab agrees:
    tests/test_fidelity.py and tests/test_lesson_nb07.py)."""
    net = _shipped("home-nat-nofirewall")
    assert net.nat_table().lookup_inbound("tcp", ("10.77.0.1", 40001), 445) == (None, "no-mapping")
    closed = net.send("scanner", "10.77.0.2", 445)
    assert (closed.kind, closed.responder) == (kernel.RST, "10.77.0.2")
    assert any("no port forward and no mapping for tcp 445" in line for line in closed.path)
    assert "router: nothing listening on tcp/445" in closed.path
    admin = net.send("scanner", "10.77.0.2", 80)                     # the router's own admin page
    assert (admin.kind, admin.responder) == (kernel.SYN_ACK, "10.77.0.2")
    udp = net.send("scanner", "10.77.0.2", 54, "udp")
    assert (udp.kind, udp.icmp_code) == (kernel.ICMP, kernel.ICMP_PORT_UNREACH)
    # With home-nat's firewall the same packets die in the router's INPUT chain, not in NAT.
    for port in (445, 80):
        answer = _shipped("home-nat").send("scanner", "10.77.0.2", port)
        assert answer.kind == kernel.SILENCE and answer.path[-1] == "router input: drop (policy)"


def test_a_packet_routed_to_an_inside_address_is_stopped_only_by_the_firewall_rule():
    """(b) 192.168.77.20:445 from outside: filtered with the rule, open without it."""
    stopped = _shipped("home-nat").send("scanner", "192.168.77.20", 445)
    assert stopped.kind == kernel.SILENCE
    assert "forward_drop_new_from" in stopped.path[-1] and "firewall rule" in stopped.path[-1]
    assert "block_inbound" not in "\n".join(stopped.path)
    got_in = _shipped("home-nat-nofirewall").send("scanner", "192.168.77.20", 445)
    assert (got_in.kind, got_in.responder) == (kernel.SYN_ACK, "192.168.77.20")
    assert not any("DNAT" in line or "SNAT" in line for line in got_in.path)    # NAT translated nothing
    assert "nas: listening on tcp/445" in got_in.path


def test_the_forward_rule_does_the_blocking_with_or_without_nat():
    from dataclasses import replace
    scenario = model.load(model.shipped()["home-nat"])
    router = scenario.routers[0]
    no_nat = replace(scenario, routers=(replace(router, nat=None),))
    assert SimNetwork(no_nat).send("scanner", "192.168.77.20", 445).kind == kernel.SILENCE
    no_rule = replace(scenario, routers=(replace(router, firewall=replace(router.firewall,
                                                                          forward_drop_new_from=None)),))
    assert SimNetwork(no_rule).send("scanner", "192.168.77.20", 445).kind == kernel.SYN_ACK


def test_a_port_forward_passes_the_forward_rule_and_says_why():
    answer = _home().send("scanner", "10.77.0.2", 8080)
    assert answer.kind == kernel.SYN_ACK
    assert "router forward: new, but DNAT'ed by a port forward: accepted (ct status dnat accept)" in answer.path


@pytest.mark.parametrize("scan_type", ["syn", "connect"])
def test_scans_of_the_nas_and_the_router_with_and_without_the_firewall(scan_type):
    from portlab import engine

    def states(name):
        result = engine.scan(["10.77.0.2", "192.168.77.20"], [80, 445], scan_type, scenario=name,
                             keep_trace=False)
        return {(h.address, p.port): str(p.state) for h in result.hosts for p in h.ports}
    assert set(states("home-nat").values()) == {"filtered"}
    assert states("home-nat-nofirewall") == {("10.77.0.2", 80): "open", ("10.77.0.2", 445): "closed",
                                             ("192.168.77.20", 80): "open", ("192.168.77.20", 445): "open"}


def test_mappings_age_with_the_network_clock():
    net = _home()
    net.send("laptop", "10.77.0.1", 53, protocol="udp", record=True)
    assert len(net.nat_table()) == 1
    net.clock.advance(31)
    net.expire()
    assert len(net.nat_table()) == 0


def test_icmp_from_behind_a_forward_leaves_as_from_the_outside_address():
    text = model.shipped()["home-nat-forward"].read_text().replace(
        'to = "192.168.77.20:80" }', 'to = "192.168.77.20:81" }')
    net = SimNetwork(model.loads(text, "x.toml"))
    answer = net.send("scanner", "10.77.0.2", 8080)
    assert answer.kind == kernel.RST and answer.responder == "10.77.0.2"


def test_an_answered_udp_flow_that_keeps_talking_becomes_a_stream_in_the_network():
    net = _home()
    net.send("laptop", "203.0.113.53", 53, protocol="udp", sport=41000, record=True)   # the Internet answers
    (row,) = net.nat_table().entries()
    assert row.expires == 30.0                                  # one question, one answer: 30 s
    net.clock.advance(10)
    net.send("laptop", "203.0.113.53", 53, protocol="udp", sport=41000, record=True)
    (row,) = net.nat_table().entries()
    assert row.expires == 10 + 120.0                            # still talking after 2 s: a stream
    # A flow nobody answers (the scanner has nothing on 9/udp: an ICMP error, not a reply) stays short.
    net.send("laptop", "10.77.0.1", 9, protocol="udp", sport=41001, record=True)
    net.clock.advance(10)
    net.send("laptop", "10.77.0.1", 9, protocol="udp", sport=41001, record=True)
    short = next(r for r in net.nat_table().entries() if r.inside.endswith(":41001"))
    assert short.expires == 20 + 30.0
