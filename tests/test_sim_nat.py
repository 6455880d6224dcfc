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
    assert nat.outbound("udp", X, Y1, 25) == (OUT, port)    # outbound refresh (REQ-6)
    assert nat.inbound("udp", Y1, port, 50) == X            # alive until 55; inbound refreshes too
    assert nat.inbound("udp", Y1, port, 79) == X            # alive until 80
    assert nat.inbound("udp", Y1, port, 110) is None        # idle 31 s: gone
    assert nat.entries(110) == []


def test_udp_mapping_without_traffic_lives_exactly_udp_timeout():
    nat = table(udp_timeout=30)
    _, port = nat.outbound("udp", X, Y1, 0)
    assert nat.entries(29.9)[0].expires == 30
    assert nat.inbound("udp", Y1, port, 30) is None


def test_a_looser_filter_records_the_remote_it_let_in():
    nat = table(filtering="endpoint-independent")
    _, port = nat.outbound("udp", X, Y1, 0)
    assert nat.inbound("udp", Y2, port, 1) == X
    assert {row.remote for row in nat.entries()} == {"10.77.0.50:3478", "10.77.0.60:3478"}


def test_tcp_established_mapping_lives_at_least_2h4min():
    nat = table()                                          # tcp_timeout default 7440 s
    _, port = nat.outbound("tcp", X, Y1, 0)
    assert nat.inbound("tcp", Y1, port, 7439) == X
    assert nat.inbound("tcp", Y1, port, 7439 + 7441) is None
    assert nat.timeouts["tcp"] >= 2 * 3600 + 4 * 60


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


def test_block_inbound_off_lets_routed_traffic_in():
    blocked = _home()
    open_ = _home(block_inbound=False)
    assert blocked.send("scanner", "192.168.77.20", 80).kind == kernel.SILENCE
    assert open_.send("scanner", "192.168.77.20", 80).kind == kernel.SYN_ACK


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
