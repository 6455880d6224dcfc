"""The course's what-if experiments on the simulated network."""

from __future__ import annotations

import errno

import pytest

from portlab import scenario as model
from portlab.errors import BadInput
from portlab.sim.experiments import (CONNECT_TIMEOUT_S, nat_exposure, nat_table_after, outbound_attempt,
                                     with_forwards)

CNC = """
name = "cnc"
[scanner]
address = "10.77.0.1"
gateway = "10.77.0.2"
[[networks]]
name = "internet"
cidr = "10.77.0.0/24"
[[networks]]
name = "office"
cidr = "192.168.77.0/24"
[[routers]]
name = "gw"
interfaces = [{ network = "internet", address = "10.77.0.2" }, { network = "office", address = "192.168.77.1" }]
[routers.nat]
outside = "internet"
[[hosts]]
name = "pc"
address = "192.168.77.10"
gateway = "192.168.77.1"
[hosts.firewall]
output = [
  { action = "drop", protocol = "tcp", ports = "4444", destination = "203.0.113.66" },
  { action = "reject", protocol = "tcp", ports = "6667", destination = "203.0.113.66" },
  { action = "reject", protocol = "tcp", ports = "6668", destination = "203.0.113.66", with = "admin-prohibited" },
  { action = "reject", protocol = "tcp", ports = "6669", destination = "203.0.113.66", with = "tcp-reset" },
  { action = "drop", protocol = "udp", ports = "53", destination = "203.0.113.66" },
]
"""


@pytest.fixture(scope="module")
def cnc():
    return model.loads(CNC, "cnc.toml")


def test_allowed_outbound_connects_through_the_nat(cnc):
    result = outbound_attempt(cnc, "pc", "203.0.113.66", 443)
    assert result.outcome == "allowed" and result.allowed and result.errno is None
    assert result.rule == "accept (policy)"
    assert any("SNAT 192.168.77.10" in line for line in result.trace)


def test_dropped_outbound_waits_for_the_connect_timeout(cnc):
    result = outbound_attempt(cnc, "pc", "203.0.113.66", 4444)
    assert result.outcome == "dropped" and result.errno is None
    assert result.waited_s == CONNECT_TIMEOUT_S
    assert result.rule.startswith("drop (rules[0]")
    assert "gives up after 127 s" in str(result)


@pytest.mark.parametrize("port, err", [
    (6667, errno.ECONNREFUSED),    # plain reject: ICMP port unreachable to ourselves
    (6668, errno.EHOSTUNREACH),    # admin-prohibited
    (6669, errno.ECONNREFUSED),    # tcp reset
])
def test_rejected_outbound_fails_at_once_with_the_errno(cnc, port, err):
    result = outbound_attempt(cnc, "pc", "203.0.113.66", port)
    assert result.outcome == "rejected" and result.errno == err and result.waited_s == 0
    assert result.errno_name in str(result)


def test_udp_dropped_by_the_output_chain_is_eperm(cnc):
    result = outbound_attempt(cnc, "pc", "203.0.113.66", 53, "udp")
    assert result.outcome == "rejected" and result.errno == errno.EPERM


def test_shipped_web_server_blocks_its_cnc():
    result = outbound_attempt("web-server", "web", "203.0.113.66", 6667)
    assert result.outcome == "dropped" and "known C&C server" in result.rule


def test_bad_arguments_are_one_clear_error(cnc):
    with pytest.raises(BadInput, match="no machine named 'nobody'"):
        outbound_attempt(cnc, "nobody", "203.0.113.66", 80)
    with pytest.raises(BadInput, match="expected an IPv4 address"):
        outbound_attempt(cnc, "pc", "not-an-address", 80)
    with pytest.raises(BadInput, match="expected tcp or udp"):
        outbound_attempt(cnc, "pc", "203.0.113.66", 80, "sctp")
    with pytest.raises(BadInput, match="1-65535"):
        outbound_attempt(cnc, "pc", "203.0.113.66", 70000)


# --- NAT exposure -------------------------------------------------------------------------

def test_nat_exposure_shows_the_forwarded_port_and_nothing_else():
    frame = nat_exposure("home-nat", forwards=[("tcp", 8080, "192.168.77.20:80")])
    assert list(frame["port"]) == [8080]
    row = frame.iloc[0]
    assert (row["before"], row["after"], row["after_reason"]) == ("filtered", "open", "syn-ack")
    assert bool(row["changed"]) and row["leads_to"] == "192.168.77.20:80"


def test_nat_exposure_with_two_scenarios_agrees_with_forwards():
    by_file = nat_exposure("home-nat", "home-nat-forward")
    by_forward = nat_exposure("home-nat", forwards=[{"protocol": "tcp", "port": 8080, "to": "192.168.77.20:80"}])
    assert by_file.to_dict("records") == by_forward.to_dict("records")


def test_nat_exposure_everything_lists_every_port():
    frame = nat_exposure("home-nat", forwards=[("tcp", 8080, "192.168.77.20")], ports=[22, 80, 8080],
                         everything=True)
    assert list(frame["port"]) == [22, 80, 8080]
    assert frame.set_index("port").loc[8080, "leads_to"] == "192.168.77.20:8080"
    assert not frame.set_index("port").loc[22, "changed"]


def test_nat_exposure_needs_a_change():
    with pytest.raises(BadInput, match="scenario_after or forwards"):
        nat_exposure("home-nat")


def test_with_forwards_keeps_the_rest_of_the_scenario():
    before = model.load(model.shipped()["home-nat"])
    after = with_forwards(before, [("udp", 5000, "192.168.77.10:5001")])
    assert after.hosts == before.hosts
    assert after.routers[0].nat.forwards[-1].to_port == 5001


# --- the NAT table after connections ------------------------------------------------------

def test_nat_table_after_connections():
    table = nat_table_after("home-nat", [
        ("laptop", "10.77.0.1", 80, "tcp", 50000),
        ("laptop", "10.77.0.1", 443, "tcp", 50000),     # same inside endpoint: same mapping (EIM)
        ("nas", "198.51.100.7", 123, "udp"),
    ])
    rows = table.entries()
    assert len(rows) == 3
    assert rows[0].outside == rows[1].outside == "10.77.0.2:50000"
    assert rows[0].remote == "10.77.0.1:80" and rows[1].remote == "10.77.0.1:443"
    assert rows[2].protocol == "udp" and rows[2].inside.startswith("192.168.77.20:")
    assert [r.created for r in rows] == [0.0, 1.0, 2.0]
    frame = table.to_dataframe()
    assert list(frame["kind"]) == ["dynamic"] * 3
    # Time passes on the network the table came from: the UDP session goes first.
    table.network.clock.advance(60)
    assert [r.protocol for r in table.entries(table.network.clock.now)] == ["tcp", "tcp"]


def test_nat_table_after_rejects_malformed_connections():
    with pytest.raises(BadInput, match="connections\\[0\\]"):
        nat_table_after("home-nat", [("laptop", "10.77.0.1")])


# --- the same attempts on a real kernel -----------------------------------------------------

OUTBOUND_RULES = """
table inet portlab {
  chain output {
    type filter hook output priority filter; policy accept;
    ct state established,related accept
    tcp dport 4444 drop
    tcp dport 6667 reject
    tcp dport 6668 reject with icmp type admin-prohibited
    tcp dport 6669 reject with tcp reset
    udp dport 53 drop
  }
}
"""

OUTBOUND_SCENARIO = """
name = "outbound-live"
[scanner]
address = "10.199.0.9"
[[networks]]
name = "lan"
cidr = "10.199.0.0/24"
[[hosts]]
name = "pc"
address = "10.199.0.1"
[hosts.firewall]
output = [
  { action = "drop", protocol = "tcp", ports = "4444" },
  { action = "reject", protocol = "tcp", ports = "6667" },
  { action = "reject", protocol = "tcp", ports = "6668", with = "admin-prohibited" },
  { action = "reject", protocol = "tcp", ports = "6669", with = "tcp-reset" },
  { action = "drop", protocol = "udp", ports = "53" },
]
[[hosts]]
name = "server"
address = "10.199.0.2"
tcp = [443]
"""

# (destination, port, protocol): a program's socket call from "pc".
ATTEMPTS = [("10.199.0.2", 443, "tcp"), ("10.199.0.2", 80, "tcp"), ("10.199.0.2", 4444, "tcp"),
            ("10.199.0.2", 6667, "tcp"), ("10.199.0.2", 6668, "tcp"), ("10.199.0.2", 6669, "tcp"),
            ("10.199.0.2", 53, "udp"), ("10.199.0.99", 80, "tcp"), ("10.200.0.1", 80, "tcp")]


def _kernel_outcome(destination: str, port: int, protocol: str) -> tuple[str, object]:
    """What the real socket call reports, in OutboundResult's words."""
    import socket
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    sock.settimeout(5.0)   # past the ~3 s ARP give-up; a dropped SYN is still waiting by then
    try:
        if protocol == "tcp":
            sock.connect((destination, port))
        else:
            sock.sendto(b"portlab", (destination, port))
        return "allowed", None
    except socket.timeout:
        return "dropped", None
    except OSError as err:
        return "rejected", err.errno
    finally:
        sock.close()


@pytest.mark.netns
def test_outbound_attempts_match_a_real_kernel():
    from netlab import netlab, netns_skip_reason
    reason = netns_skip_reason()
    if reason:
        pytest.skip(reason)
    scenario = model.loads(OUTBOUND_SCENARIO, "outbound-live.toml")
    simulated = {}
    for dest, port, protocol in ATTEMPTS:
        result = outbound_attempt(scenario, "pc", dest, port, protocol)
        simulated[(dest, port, protocol)] = (result.outcome, result.errno)
    with netlab("ob", tcp=[443]) as lab:
        # The scanner namespace plays "pc": its own output chain is the one under test.
        lab.exec(lab.scanner_ns, "nft", "-f", "-", stdin=OUTBOUND_RULES)
        real = lab.run_in(lab.scanner_ns, lambda: {a: _kernel_outcome(*a) for a in ATTEMPTS})
    assert real == simulated


def test_nat_table_after_needs_a_nat_router():
    with pytest.raises(BadInput, match="0 NAT routers"):
        nat_table_after("web-server", [("web", "10.77.0.5", 22, "tcp")])
