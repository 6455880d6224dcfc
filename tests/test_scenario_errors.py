"""Every way a scenario file can be wrong gives one line: FILE: KEY.PATH: what (expected ...)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from portlab.errors import EXIT_BAD_INPUT, BadInput
from portlab.scenario import PortSet, load, loads

SCANNER = '[scanner]\naddress = "10.77.0.1"\n'
HEAD = 'name = "t"\n' + SCANNER

TWO_NETS = HEAD + textwrap.dedent("""\
    [[networks]]
    name = "wan"
    cidr = "10.77.0.0/24"
    [[networks]]
    name = "lan"
    cidr = "192.168.77.0/24"
    """)
ROUTER = textwrap.dedent("""\
    [[routers]]
    name = "gw"
    interfaces = [{ network = "wan", address = "10.77.0.254" }, { network = "lan", address = "192.168.77.1" }]
    """)


def host(extra: str = "", firewall: str = "") -> str:
    text = HEAD + '[[hosts]]\nname = "h"\naddress = "10.77.0.2"\n' + extra
    if firewall:
        text += "[hosts.firewall]\n" + firewall
    return text


def rule(fragment: str) -> str:
    return host(firewall=f"rules = [ {{ {fragment} }} ]\n")


def nat(body: str) -> str:
    return TWO_NETS + ROUTER + "[routers.nat]\n" + body


# (test id, TOML text, [fragments that must all appear in the message])
CASES = [
    # -- TOML itself
    ("toml-syntax", 'name = "t"\n[scanner]\naddress = 10.77.0.1\n', ["x.toml: line 3:", "TOML syntax error"]),
    ("toml-unclosed", 'name = "t"\n\nrules = [ { action = "drop" }\n', ["x.toml: line 3 (end of file):", "TOML syntax error"]),
    # -- unknown keys, at every level, with a suggestion
    ("unknown-top", 'name = "t"\ndescripton = "x"\n' + SCANNER, ["x.toml: descripton: unknown key", "did you mean 'description'"]),
    ("unknown-scanner", 'name = "t"\n[scanner]\naddress = "10.77.0.1"\ngatway = "10.77.0.9"\n',
     ["scanner.gatway: unknown key", "did you mean 'gateway'"]),
    ("unknown-host", host('fierwall = {}\n'), ["hosts[0].fierwall: unknown key", "did you mean 'firewall'"]),
    ("unknown-firewall", host(firewall='polcy = "drop"\n'),
     ["hosts[0].firewall.polcy: unknown key", "did you mean 'policy'"]),
    ("unknown-rule", rule('action = "drop", port = "22"'),
     ["hosts[0].firewall.rules[0].port: unknown key", "did you mean 'ports'"]),
    ("unknown-network", HEAD + '[[networks]]\nname = "n"\ncidr = "10.77.0.0/24"\nmask = 24\n',
     ["networks[0].mask: unknown key"]),
    ("unknown-router", TWO_NETS + ROUTER + 'interface = []\n',
     ["routers[0].interface: unknown key", "did you mean 'interfaces'"]),
    ("unknown-nat", nat('outside = "wan"\nforward = []\n'),
     ["routers[0].nat.forward: unknown key", "did you mean 'forwards'"]),
    ("unknown-forward", nat('outside = "wan"\nforwards = [{ protocol = "tcp", port = 80, to = "192.168.77.9", from = 1 }]\n'),
     ["routers[0].nat.forwards[0].from: unknown key"]),
    ("aws-action", host(firewall='style = "aws-sg"\ninbound = [{ protocol = "tcp", action = "drop" }]\n'),
     ["hosts[0].firewall.inbound[0].action: unknown key", "only allow"]),
    ("aws-policy", host(firewall='style = "aws-sg"\npolicy = "accept"\n'),
     ["hosts[0].firewall.policy: unknown key", "only inbound and outbound"]),
    # -- missing required keys
    ("no-name", SCANNER, ["x.toml: name: missing required key 'name'"]),
    ("no-scanner", 'name = "t"\n', ["scanner: missing required key"]),
    ("no-address", 'name = "t"\n[scanner]\n', ["scanner.address: missing required key"]),
    ("host-no-address", HEAD + '[[hosts]]\nname = "h"\n', ["hosts[0].address: missing required key"]),
    # -- wrong types
    ("name-type", 'name = 5\n' + SCANNER, ["name: an integer 5 is not a string"]),
    ("tcp-type", host('tcp = "22"\n'), ["hosts[0].tcp: a string '22' is not an array"]),
    ("tcp-bool", host('tcp = [true]\n'), ["hosts[0].tcp[0]: a boolean True is not a port"]),
    ("address-int", HEAD.replace('"10.77.0.1"', "10"), ["scanner.address: an integer 10 is not an address"]),
    ("hosts-table", 'name = "t"\nhosts = 3\n' + SCANNER, ["hosts: an integer 3 is not an array"]),
    ("firewall-type", host('firewall = "drop"\n'), ["hosts[0].firewall: a string 'drop' is not a table"]),
    ("stateful-type", host(firewall='stateful = "yes"\n'), ["hosts[0].firewall.stateful: a string 'yes' is not true or false"]),
    ("ports-float", rule('action = "drop", ports = 2.5'), ["rules[0].ports: a number 2.5 is not a port set"]),
    ("timeout-type", nat('outside = "wan"\nudp_timeout = "30"\n'), ["routers[0].nat.udp_timeout: a string"]),
    ("timeout-small", nat('outside = "wan"\nudp_timeout = 0.5\n'), ["routers[0].nat.udp_timeout: 0.5 seconds", ">= 1"]),
    # -- names
    ("scenario-name", 'name = "Small Office"\n' + SCANNER, ["name: name 'Small Office' is not allowed", "a-z, 0-9"]),
    ("host-name-long", host().replace('name = "h"', 'name = "averyveryverylongname"'),
     ["hosts[0].name: name 'averyveryverylongname' is not allowed", "1-12"]),
    ("host-named-scanner", host().replace('name = "h"', 'name = "scanner"'), ["hosts[0].name: name 'scanner' is reserved"]),
    ("duplicate-name", host() + '[[hosts]]\nname = "h"\naddress = "10.77.0.3"\n',
     ["hosts[1].name: name 'h' is already used at hosts[0].name"]),
    ("duplicate-network-name", HEAD + '[[networks]]\nname = "n"\ncidr = "10.77.0.0/24"\n[[networks]]\nname = "n"\ncidr = "10.78.0.0/24"\n',
     ["networks[1].name: network name 'n' is already used"]),
    # -- addresses and networks
    ("bad-address", HEAD.replace("10.77.0.1", "10.77.0.300"), ["scanner.address: '10.77.0.300' is not an IPv4 address"]),
    ("bad-cidr", HEAD + '[[networks]]\nname = "n"\ncidr = "10.77.0.0/33"\n', ["networks[0].cidr: '10.77.0.0/33' is not an IPv4 CIDR"]),
    ("cidr-host-bits", HEAD + '[[networks]]\nname = "n"\ncidr = "10.77.0.1/24"\n',
     ["networks[0].cidr: '10.77.0.1/24' has host bits set", "10.77.0.0/24"]),
    ("cidr-prefix", HEAD + '[[networks]]\nname = "n"\ncidr = "10.0.0.0/8"\n', ["networks[0].cidr: prefix /8 is out of range", "/16 to /30"]),
    ("cidr-public", 'name = "t"\n[scanner]\naddress = "8.8.8.1"\n', ["scanner.address: 8.8.8.0/24 is not a private or test range"]),
    ("cidr-public-net", HEAD + '[[networks]]\nname = "n"\ncidr = "1.1.1.0/24"\n', ["networks[0].cidr: 1.1.1.0/24 is not a private"]),
    ("overlap", HEAD + '[[networks]]\nname = "a"\ncidr = "10.77.0.0/16"\n[[networks]]\nname = "b"\ncidr = "10.77.5.0/24"\n',
     ["networks[1].cidr: 10.77.5.0/24 overlaps network 'a'"]),
    ("no-networks", 'name = "t"\nnetworks = []\n' + SCANNER, ["networks: no networks"]),
    ("in-no-network", host().replace("10.77.0.2", "10.78.0.2"), ["hosts[0].address: 10.78.0.2 is in no network", "10.77.0.0/24"]),
    ("network-address", host().replace("10.77.0.2", "10.77.0.0"), ["hosts[0].address: 10.77.0.0 is the network address"]),
    ("broadcast-address", host().replace("10.77.0.2", "10.77.0.255"),
     ["hosts[0].address: 10.77.0.255 is the broadcast address", "10.77.0.1 to 10.77.0.254"]),
    ("duplicate-address", host().replace("10.77.0.2", "10.77.0.1"),
     ["hosts[0].address: address 10.77.0.1 is already used at scanner.address"]),
    ("scanner-network-wrong", TWO_NETS.replace('address = "10.77.0.1"', 'address = "10.77.0.1"\nnetwork = "lan"'),
     ["scanner.network: address 10.77.0.1 is not in network 'lan'", "expected 'wan'"]),
    ("scanner-network-unknown", TWO_NETS.replace('address = "10.77.0.1"', 'address = "10.77.0.1"\nnetwork = "dmz"'),
     ["scanner.network: no network named 'dmz'"]),
    # -- ports
    ("port-0", host('tcp = [0]\n'), ["hosts[0].tcp[0]: port 0 is out of range (expected 1-65535)"]),
    ("port-70000", host('tcp = [22, 80, 70000]\n'), ["hosts[0].tcp[2]: port 70000 is out of range (expected 1-65535)"]),
    ("port-twice", host('udp = [53, 53]\n'), ["hosts[0].udp[1]: port 53 is listed twice"]),
    ("port-string-bad", rule('action = "drop", ports = "22-"'), ["rules[0].ports: bad port string '22-'"]),
    ("port-string-word", rule('action = "drop", ports = "ssh"'), ["rules[0].ports: bad port string 'ssh'"]),
    ("port-string-range", rule('action = "drop", ports = "9010-9000"'), ["rules[0].ports: port range '9010-9000' runs backwards"]),
    ("port-string-70000", rule('action = "drop", ports = "1-70000"'), ["rules[0].ports: port 70000 is out of range"]),
    ("port-string-0", rule('action = "drop", ports = "0"'), ["rules[0].ports: port 0 is out of range"]),
    # -- rules
    ("rule-no-action", host(firewall='rules = [ { protocol = "tcp", ports = "22" } ]\n'),
     ["x.toml: hosts[0].firewall.rules[0]: a rule needs an action (expected accept, drop or reject)"]),
    ("rule-bad-action", rule('action = "deny"'), ["rules[0].action: action 'deny' is not known", "accept, drop or reject"]),
    ("rule-bad-protocol", rule('action = "drop", protocol = "icmp"'), ["rules[0].protocol: protocol 'icmp' is not known"]),
    ("rule-unknown-with", rule('action = "reject", with = "icmp-port-unreachable"'),
     ["rules[0].with: reject type 'icmp-port-unreachable' is not known", "did you mean 'port-unreachable'"]),
    ("rule-with-on-drop", rule('action = "drop", with = "host-unreachable"'),
     ["rules[0].with: 'with' belongs to reject rules"]),
    ("tcp-reset-udp", rule('action = "reject", protocol = "udp", with = "tcp-reset"'),
     ["rules[0].with: tcp-reset needs protocol = \"tcp\"", "protocol = 'udp'"]),
    ("tcp-reset-any", rule('action = "reject", with = "tcp-reset"'), ["rules[0].with: tcp-reset needs protocol", "no protocol"]),
    ("rule-bad-source", rule('action = "drop", source = "10.77.0.0/24x"'), ["rules[0].source: '10.77.0.0/24x' is not an IPv4 CIDR"]),
    ("output-rule", host(firewall='output = [ { action = "drop", destination = "203.0.113.1/24" } ]\n'),
     ["hosts[0].firewall.output[0].destination: '203.0.113.1/24' has host bits set"]),
    ("policy-bad", host(firewall='policy = "reject"\n'), ["firewall.policy: policy 'reject' is not known", "accept or drop"]),
    ("style-bad", host(firewall='style = "iptables"\n'), ["firewall.style: firewall style 'iptables' is not known"]),
    # -- cloud styles
    ("aws-protocol", host(firewall='style = "aws-sg"\ninbound = [{ protocol = "any" }]\n'),
     ["inbound[0].protocol: protocol 'any' is not known", "tcp, udp or all"]),
    ("aws-all-ports", host(firewall='style = "aws-sg"\ninbound = [{ protocol = "all", ports = "22" }]\n'),
     ["inbound[0].ports: protocol \"all\" covers every port"]),
    ("azure-priority-range", host(firewall='style = "azure-nsg"\ninbound = [{ priority = 50, name = "a", action = "allow" }]\n'),
     ["hosts[0].firewall.inbound[0].priority: priority 50 is out of range (expected 100-4096)"]),
    ("azure-priority-high", host(firewall='style = "azure-nsg"\noutbound = [{ priority = 5000, name = "a", action = "deny" }]\n'),
     ["outbound[0].priority: priority 5000 is out of range"]),
    ("azure-priority-dup", host(firewall='style = "azure-nsg"\ninbound = [{ priority = 100, name = "a", action = "allow" }, '
                                         '{ priority = 100, name = "b", action = "deny" }]\n'),
     ["inbound[1].priority: priority 100 is already used at hosts[0].firewall.inbound[0]"]),
    ("azure-action", host(firewall='style = "azure-nsg"\ninbound = [{ priority = 100, name = "a", action = "accept" }]\n'),
     ["inbound[0].action: action 'accept' is not known", "allow or deny"]),
    ("azure-no-name", host(firewall='style = "azure-nsg"\ninbound = [{ priority = 100, action = "allow" }]\n'),
     ["inbound[0].name: missing required key 'name'"]),
    ("azure-bad-tag", host(firewall='style = "azure-nsg"\ninbound = [{ priority = 100, name = "a", action = "allow", source = "Interweb" }]\n'),
     ["inbound[0].source: 'Interweb' is not an IPv4 CIDR"]),
    # -- routers, gateways, NAT
    ("router-one-interface", TWO_NETS + '[[routers]]\nname = "gw"\ninterfaces = [{ network = "wan", address = "10.77.0.254" }]\n',
     ["routers[0].interfaces: 1 interface(s) (expected at least 2"]),
    ("router-iface-wrong-net", TWO_NETS + ROUTER.replace('"lan", address = "192.168.77.1"', '"lan", address = "10.77.0.253"'),
     ["routers[0].interfaces[1].address: 10.77.0.253 is not in network 'lan'"]),
    ("router-iface-same-net", TWO_NETS + ROUTER.replace('"lan", address = "192.168.77.1"', '"wan", address = "10.77.0.253"'),
     ["routers[0].interfaces[1].network: a second interface on network 'wan'"]),
    ("router-iface-unknown-net", TWO_NETS + ROUTER.replace('network = "lan"', 'network = "dmz"'),
     ["routers[0].interfaces[1].network: no network named 'dmz'", "wan or lan"]),
    ("router-host-same-address", TWO_NETS + ROUTER + '[[hosts]]\nname = "h"\naddress = "192.168.77.1"\n',
     ["hosts[0].address: address 192.168.77.1 is already used at routers[0].interfaces[1].address"]),
    ("router-host-same-name", TWO_NETS + ROUTER + '[[hosts]]\nname = "gw"\naddress = "192.168.77.5"\n',
     ["hosts[0].name: name 'gw' is already used at routers[0].name"]),
    ("gateway-not-router", host('gateway = "10.77.0.9"\n'), ["hosts[0].gateway: 10.77.0.9 is not a router interface", "there is none"]),
    ("gateway-other-net", TWO_NETS + ROUTER + '[[hosts]]\nname = "h"\naddress = "192.168.77.5"\ngateway = "10.77.0.254"\n',
     ["hosts[0].gateway: 10.77.0.254 is router gw's interface on network 'wan', not on 'lan'"]),
    ("scanner-gateway", TWO_NETS.replace('address = "10.77.0.1"', 'address = "10.77.0.1"\ngateway = "192.168.77.1"') + ROUTER,
     ["scanner.gateway: 192.168.77.1 is router gw's interface on network 'lan', not on 'wan'"]),
    ("nat-outside", nat('outside = "dmz"\n'), ["routers[0].nat.outside: 'dmz' is not one of this router's networks", "wan or lan"]),
    ("nat-no-outside", nat('hairpin = false\n'), ["routers[0].nat.outside: missing required key"]),
    ("nat-mapping", nat('outside = "wan"\nmapping = "full-cone"\n'), ["routers[0].nat.mapping: mapping 'full-cone' is not known"]),
    ("forward-outside-net", nat('outside = "wan"\nforwards = [{ protocol = "tcp", port = 80, to = "10.77.0.9:80" }]\n'),
     ["routers[0].nat.forwards[0].to: 10.77.0.9 is not on an inside network of this router", "192.168.77.0/24"]),
    ("forward-bad-to", nat('outside = "wan"\nforwards = [{ protocol = "tcp", port = 80, to = "192.168.77.9:http" }]\n'),
     ["routers[0].nat.forwards[0].to: '192.168.77.9:http' has a bad port"]),
    ("forward-to-port", nat('outside = "wan"\nforwards = [{ protocol = "tcp", port = 80, to = "192.168.77.9:0" }]\n'),
     ["routers[0].nat.forwards[0].to: port 0 is out of range"]),
    ("forward-protocol", nat('outside = "wan"\nforwards = [{ protocol = "sctp", port = 80, to = "192.168.77.9" }]\n'),
     ["forwards[0].protocol: protocol 'sctp' is not known"]),
    ("forward-twice", nat('outside = "wan"\nforwards = [{ protocol = "tcp", port = 80, to = "192.168.77.9" }, '
                          '{ protocol = "tcp", port = 80, to = "192.168.77.8" }]\n'),
     ["forwards[1].port: tcp port 80 is forwarded twice"]),
]


@pytest.mark.parametrize("text, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_is_one_clear_line(text: str, fragments: list[str]) -> None:
    with pytest.raises(BadInput) as caught:
        loads(text, "x.toml")
    message = str(caught.value)
    assert message.startswith("x.toml: "), message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    # Every message says what was expected, except the bare "missing key" ones whose key is the answer.
    assert "(expected" in message or "missing required key" in message, message


def test_error_ids_are_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


def test_every_case_is_valid_once_fixed() -> None:
    """The fixtures the table builds on are valid, so each case fails for its own reason."""
    assert loads(host(), "x.toml").hosts[0].name == "h"
    assert loads(TWO_NETS + ROUTER, "x.toml").routers[0].name == "gw"
    assert loads(nat('outside = "wan"\nforwards = [{ protocol = "tcp", port = 80, to = "192.168.77.9" }]\n')
                 ).routers[0].nat.forwards[0].to_port == 80


def test_load_names_the_file(tmp_path) -> None:
    path = tmp_path / "home.toml"
    path.write_text(host('tcp = [70000]\n'))
    with pytest.raises(BadInput, match=r"home\.toml: hosts\[0\]\.tcp\[0\]: port 70000 is out of range"):
        load(path)


def test_load_missing_file_lists_shipped(tmp_path) -> None:
    with pytest.raises(BadInput, match=r"no-such\.toml: no such scenario file .*single-host"):
        load(tmp_path / "no-such.toml")


def test_load_directory_and_binary(tmp_path) -> None:
    with pytest.raises(BadInput, match="is a directory"):
        load(tmp_path)
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(BadInput, match="not UTF-8"):
        load(binary)


@pytest.mark.parametrize("value, fragment", [
    ("", "bad port string"), ("22,,80", "bad port string"), ("-5", "bad port string"),
    ("65536", "out of range"), (0, "out of range"), (True, "not a port"), ([], "empty port list"),
    ([22, "80"], "not a port"), (2.0, "not a port set"),
])
def test_portset_parse_errors(value, fragment) -> None:
    with pytest.raises(BadInput, match=fragment):
        PortSet.parse(value)


def test_cli_style_exit_status(tmp_path) -> None:
    """A BadInput carries exit status 2 and the message has no traceback in it."""
    path = tmp_path / "bad.toml"
    path.write_text(rule('action = "reject", protocol = "udp", with = "tcp-reset"'))
    code = ("import sys\nfrom portlab.scenario import load\nfrom portlab.errors import PortlabError\n"
            "try:\n    load(sys.argv[1])\nexcept PortlabError as e:\n"
            "    print(e, file=sys.stderr); sys.exit(e.exit_code)\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_BAD_INPUT
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "bad.toml: hosts[0].firewall.rules[0].with: tcp-reset needs protocol" in done.stderr
