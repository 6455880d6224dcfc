"""Reading scenarios: TOML text or a parsed document to the model, every mistake one
:class:`~portlab.errors.BadInput` line naming file and key; :func:`resolve` turns what a
user gives (a name, a path, a Scenario) into a Scenario."""

from __future__ import annotations

import difflib
import math
import re
import sys
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any, Iterable, NoReturn, Optional, Sequence, Union

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from ..errors import BadInput
from .model import (ACTIONS, ALLOWED_RANGES, AWS_DEFAULT_OUTBOUND, AZURE_DEFAULT_INBOUND, AZURE_DEFAULT_OUTBOUND,
                    AZURE_TAGS, FIREWALL_STYLES, LINUX_TCP_TIMEOUT, LINUX_UDP_STREAM_TIMEOUT, LINUX_UDP_TIMEOUT,
                    NAT_BEHAVIOURS, PORT_ALLOCATIONS, REJECT_TYPES, SCENARIO_DIR,
                    _MACHINE_NAME, _SCENARIO_NAME, Address, Firewall, Forward, Host, Interface, Nat, Network,
                    PortSet, Router, Rule, Scanner, Scenario)


# -------------------------------------------------------------------------- reading

_MISSING: Any = object()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


class _Reader:
    """Turns the parsed TOML into the model, naming file and key path on any error."""

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def fail(self, path: str, message: str) -> NoReturn:
        raise BadInput(f"{self.filename}: {path or '(top level)'}: {message}")

    # -- generic checks

    def keys(self, table: dict, path: str, allowed: Sequence[str], required: Sequence[str] = (),
             hint: str = "") -> None:
        for key in table:
            if key not in allowed:
                near = difflib.get_close_matches(key, allowed, n=1)
                guess = f"; did you mean {near[0]!r}?" if near else ""
                self.fail(_join(path, key), f"unknown key {key!r}{hint} (expected one of "
                                            f"{', '.join(allowed)}{guess})")
        for key in required:
            if key not in table:
                self.fail(_join(path, key), f"missing required key {key!r}")

    def typed(self, value: object, path: str, kind: type, what: str) -> Any:
        # bool is an int in Python, but `tcp = [true]` is a mistake, not port 1.
        if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            self.fail(path, f"{_type_name(value)} {value!r} is not {what}")
        return value

    def string(self, table: dict, key: str, path: str, default: Any = _MISSING) -> Any:
        if key not in table:
            if default is _MISSING:
                self.fail(_join(path, key), f"missing required key {key!r}")
            return default
        return self.typed(table[key], _join(path, key), str, "a string (expected a quoted string)")

    def choice(self, table: dict, key: str, path: str, options: Sequence[str],
               default: Any = _MISSING, what: str = "") -> Any:
        value = self.string(table, key, path, default)
        if value is not default and value not in options:
            near = difflib.get_close_matches(str(value), options, n=1)
            guess = f"; did you mean {near[0]!r}?" if near else ""
            self.fail(_join(path, key), f"{what or key} {value!r} is not known (expected "
                                        f"{_or_list(options)}{guess})")
        return value

    def boolean(self, table: dict, key: str, path: str, default: bool) -> bool:
        if key not in table:
            return default
        return self.typed(table[key], _join(path, key), bool, "true or false (expected a boolean)")

    def array(self, table: dict, key: str, path: str) -> list:
        if key not in table:
            return []
        return self.typed(table[key], _join(path, key), list, "an array (expected [ ... ])")

    def table(self, value: object, path: str) -> dict:
        return self.typed(value, path, dict, "a table (expected { ... } or a [section])")

    def name(self, table: dict, path: str, pattern: re.Pattern, longest: int) -> str:
        value = self.string(table, "name", path)
        if not pattern.fullmatch(value):
            self.fail(_join(path, "name"), f"name {value!r} is not allowed (expected 1-{longest} "
                                           "characters from a-z, 0-9 and -)")
        return value

    def port(self, value: object, path: str) -> int:
        self.typed(value, path, int, "a port (expected an integer 1-65535)")
        if not 1 <= value <= 65535:
            self.fail(path, f"port {value} is out of range (expected 1-65535)")
        return value

    def port_list(self, table: dict, key: str, path: str) -> tuple[int, ...]:
        ports: list[int] = []
        for i, value in enumerate(self.array(table, key, path)):
            where = f"{_join(path, key)}[{i}]"
            port = self.port(value, where)
            if port in ports:
                self.fail(where, f"port {port} is listed twice (expected each port once)")
            ports.append(port)
        return tuple(sorted(ports))

    def port_set(self, value: object, path: str) -> PortSet:
        if isinstance(value, bool) or not isinstance(value, (str, int, list)):
            self.fail(path, f"{_type_name(value)} {value!r} is not a port set "
                            "(expected a string like \"22,80,9000-9010\")")
        try:
            return PortSet.parse(value)
        except BadInput as err:
            self.fail(path, str(err))

    def address(self, value: object, path: str) -> IPv4Address:
        self.typed(value, path, str, "an address (expected a quoted IPv4 address like \"10.77.0.2\")")
        try:
            return IPv4Address(value)
        except ValueError:
            self.fail(path, f"{value!r} is not an IPv4 address (expected dotted quad like \"10.77.0.2\")")

    def cidr(self, value: object, path: str) -> IPv4Network:
        self.typed(value, path, str, "a CIDR (expected a quoted network like \"10.77.0.0/24\")")
        try:
            return IPv4Network(value)
        except ValueError as err:
            if "has host bits set" in str(err):
                net = IPv4Network(value, strict=False)
                self.fail(path, f"{value!r} has host bits set (expected the network address, {net})")
            self.fail(path, f"{value!r} is not an IPv4 CIDR (expected a network like \"10.77.0.0/24\")")

    # -- the document

    def scenario(self, doc: dict) -> Scenario:
        self.keys(doc, "", ("name", "description", "scanner", "networks", "hosts", "routers"),
                  required=("name", "scanner"))
        name = self.string(doc, "name", "")
        if not _SCENARIO_NAME.fullmatch(name):
            self.fail("name", f"name {name!r} is not allowed (expected 1-24 characters from a-z, 0-9 and -)")
        description = self.string(doc, "description", "", "")
        scanner_table = self.table(doc["scanner"], "scanner")
        self.keys(scanner_table, "scanner", ("address", "network", "gateway", "firewall"), required=("address",))
        scanner_address = self.address(scanner_table["address"], "scanner.address")

        networks = self.networks(doc, scanner_address)
        locate = _Locator(self, networks)
        addresses: dict[IPv4Address, str] = {}

        def claim(address: IPv4Address, path: str) -> None:
            if address in addresses:
                self.fail(path, f"address {address} is already used at {addresses[address]} "
                                "(expected every address once)")
            addresses[address] = path

        claim(scanner_address, "scanner.address")
        scanner_network = locate.network_of(scanner_address, "scanner.address")
        if "network" in scanner_table:
            named = self.string(scanner_table, "network", "scanner")
            locate.check_named(named, "scanner.network")
            if named != scanner_network:
                self.fail("scanner.network", f"address {scanner_address} is not in network {named!r} "
                                             f"(expected {scanner_network!r}, whose CIDR holds it)")

        names: dict[str, str] = {}

        def claim_name(machine: str, path: str) -> None:
            if machine == "scanner":
                self.fail(path, "name 'scanner' is reserved for the scanner (expected another name)")
            if machine in names:
                self.fail(path, f"name {machine!r} is already used at {names[machine]} "
                                "(expected unique names among hosts and routers)")
            names[machine] = path

        raw_hosts = self.array(doc, "hosts", "")
        raw_routers = self.array(doc, "routers", "")
        # Routers first: hosts' and the scanner's gateways must be their interfaces.
        routers = tuple(self.router(self.table(t, f"routers[{i}]"), f"routers[{i}]", locate, claim, claim_name)
                        for i, t in enumerate(raw_routers))
        hosts = tuple(self.host(self.table(t, f"hosts[{i}]"), f"hosts[{i}]", locate, claim, claim_name)
                      for i, t in enumerate(raw_hosts))
        # Gateways are checked once every router is known.
        gateway = self.gateway(scanner_table, "scanner", scanner_network, routers)
        scanner_firewall = None
        if "firewall" in scanner_table:
            scanner_firewall = self.firewall(self.table(scanner_table["firewall"], "scanner.firewall"),
                                             "scanner.firewall")
        hosts = tuple(_replace(h, gateway=self.gateway(raw_hosts[i], f"hosts[{i}]", h.network, routers))
                      for i, h in enumerate(hosts))
        return Scenario(name=name, description=description,
                        scanner=Scanner(scanner_address, scanner_network, gateway, scanner_firewall),
                        networks=networks, hosts=hosts, routers=routers)

    def networks(self, doc: dict, scanner_address: IPv4Address) -> tuple[Network, ...]:
        if "networks" not in doc:
            # The smallest scenario (docs/design.md, section 8) has no networks: everything sits on the scanner's /24.
            net = IPv4Network(f"{scanner_address}/24", strict=False)
            self.allowed_range(net, "scanner.address")
            return (Network("net", net),)
        raw = self.array(doc, "networks", "")
        if not raw:
            self.fail("networks", "no networks (expected at least one [[networks]] table)")
        result: list[Network] = []
        for i, table in enumerate(raw):
            path = f"networks[{i}]"
            self.keys(self.table(table, path), path, ("name", "cidr"), required=("name", "cidr"))
            name = self.name(table, path, _MACHINE_NAME, 12)
            cidr = self.cidr(table["cidr"], f"{path}.cidr")
            if not 16 <= cidr.prefixlen <= 30:
                self.fail(f"{path}.cidr", f"prefix /{cidr.prefixlen} is out of range (expected /16 to /30)")
            self.allowed_range(cidr, f"{path}.cidr")
            for j, other in enumerate(result):
                if other.name == name:
                    self.fail(f"{path}.name", f"network name {name!r} is already used at networks[{j}] "
                                              "(expected unique names)")
                if other.cidr.overlaps(cidr):
                    self.fail(f"{path}.cidr", f"{cidr} overlaps network {other.name!r} ({other.cidr}) "
                                              "(expected networks that do not overlap)")
            result.append(Network(name, cidr))
        return tuple(result)

    def allowed_range(self, cidr: IPv4Network, path: str) -> None:
        if not any(cidr.subnet_of(allowed) for allowed in ALLOWED_RANGES):
            self.fail(path, f"{cidr} is not a private or test range; scenario networks become scan "
                            "targets, so they must not be anyone's real addresses (expected a network "
                            "inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, "
                            "198.18.0.0/15 or an RFC 5737 test net)")

    def host(self, table: dict, path: str, locate: "_Locator", claim, claim_name) -> Host:
        self.keys(table, path, ("name", "address", "tcp", "udp", "gateway", "firewall"),
                  required=("name", "address"))
        name = self.name(table, path, _MACHINE_NAME, 12)
        claim_name(name, f"{path}.name")
        address = self.address(table["address"], f"{path}.address")
        claim(address, f"{path}.address")
        network = locate.network_of(address, f"{path}.address")
        firewall = None
        if "firewall" in table:
            firewall = self.firewall(self.table(table["firewall"], f"{path}.firewall"), f"{path}.firewall")
        return Host(name=name, address=address, network=network,
                    tcp=self.port_list(table, "tcp", path), udp=self.port_list(table, "udp", path),
                    gateway=None, firewall=firewall)

    def gateway(self, table: dict, path: str, network: str, routers: Sequence[Router]) -> Optional[IPv4Address]:
        if "gateway" not in table:
            return None
        where = _join(path, "gateway")
        address = self.address(table["gateway"], where)
        for router in routers:
            for iface in router.interfaces:
                if iface.address == address:
                    if iface.network != network:
                        self.fail(where, f"{address} is router {router.name}'s interface on network "
                                         f"{iface.network!r}, not on {network!r} (expected a router "
                                         "interface on the same network)")
                    return address
        on_net = [f"{i.address} ({r.name})" for r in routers for i in r.interfaces if i.network == network]
        self.fail(where, f"{address} is not a router interface (expected a router interface on network "
                         f"{network!r}: {', '.join(on_net) if on_net else 'there is none'})")

    def router(self, table: dict, path: str, locate: "_Locator", claim, claim_name) -> Router:
        self.keys(table, path, ("name", "interfaces", "tcp", "udp", "firewall", "nat"),
                  required=("name", "interfaces"))
        name = self.name(table, path, _MACHINE_NAME, 12)
        claim_name(name, f"{path}.name")
        raw = self.array(table, "interfaces", path)
        if len(raw) < 2:
            self.fail(f"{path}.interfaces", f"{len(raw)} interface(s) (expected at least 2: a router "
                                            "joins networks)")
        interfaces: list[Interface] = []
        for i, iface in enumerate(raw):
            where = f"{path}.interfaces[{i}]"
            self.keys(self.table(iface, where), where, ("network", "address"), required=("network", "address"))
            network = self.string(iface, "network", where)
            locate.check_named(network, f"{where}.network")
            address = self.address(iface["address"], f"{where}.address")
            claim(address, f"{where}.address")
            actual = locate.network_of(address, f"{where}.address")
            if actual != network:
                self.fail(f"{where}.address", f"{address} is not in network {network!r} "
                                              f"(expected an address in {locate.cidr(network)})")
            if any(other.network == network for other in interfaces):
                self.fail(f"{where}.network", f"a second interface on network {network!r} "
                                              "(expected one interface per network)")
            interfaces.append(Interface(network, address))
        firewall = None
        joined = tuple(i.network for i in interfaces)
        if "firewall" in table:
            firewall = self.firewall(self.table(table["firewall"], f"{path}.firewall"), f"{path}.firewall",
                                     router_networks=joined)
        nat = None
        if "nat" in table:
            nat_table = self.table(table["nat"], f"{path}.nat")
            nat = self.nat(nat_table, f"{path}.nat", interfaces, locate)
            if self.boolean(nat_table, "block_inbound", f"{path}.nat", False):
                firewall = self.legacy_block_inbound(firewall, nat.outside, f"{path}.nat.block_inbound")
        return Router(name=name, interfaces=tuple(interfaces), tcp=self.port_list(table, "tcp", path),
                      udp=self.port_list(table, "udp", path), firewall=firewall, nat=nat)

    def legacy_block_inbound(self, firewall: Optional[Firewall], outside: str, path: str) -> Firewall:
        """Older files said ``block_inbound = true`` in ``[routers.nat]`` for what is the
        router's firewall rule: read it as ``forward_drop_new_from = OUTSIDE``."""
        if firewall is None:
            return Firewall(forward_drop_new_from=outside)
        if firewall.style != "nftables":
            self.fail(path, f"the router's firewall is {firewall.style!r}, which has no forward path "
                            "(expected an nftables-style firewall with forward_drop_new_from)")
        if firewall.forward_drop_new_from not in (None, outside):
            self.fail(path, f"says the outside ({outside!r}) while the firewall's forward_drop_new_from says "
                            f"{firewall.forward_drop_new_from!r} (expected only forward_drop_new_from)")
        return _replace(firewall, forward_drop_new_from=outside)

    def nat(self, table: dict, path: str, interfaces: Sequence[Interface], locate: "_Locator") -> Nat:
        # block_inbound: older files' name for the firewall's forward_drop_new_from (see router()).
        self.keys(table, path, ("outside", "mapping", "filtering", "port_allocation", "udp_timeout",
                                "udp_stream_timeout", "tcp_timeout", "hairpin", "block_inbound", "forwards"),
                  required=("outside",))
        joined = [i.network for i in interfaces]
        outside = self.string(table, "outside", path)
        if outside not in joined:
            self.fail(f"{path}.outside", f"{outside!r} is not one of this router's networks "
                                         f"(expected {_or_list(joined)})")
        inside = [n for n in joined if n != outside]
        forwards: list[Forward] = []
        for i, raw in enumerate(self.array(table, "forwards", path)):
            where = f"{path}.forwards[{i}]"
            self.keys(self.table(raw, where), where, ("protocol", "port", "to"), required=("protocol", "port", "to"))
            protocol = self.choice(raw, "protocol", where, ("tcp", "udp"))
            port = self.port(raw["port"], f"{where}.port")
            to = self.typed(raw["to"], f"{where}.to", str,
                            "a destination (expected \"ADDRESS:PORT\" or \"ADDRESS\", like \"192.168.77.10:80\")")
            address_text, colon, port_text = to.partition(":")
            to_address = self.address(address_text, f"{where}.to")
            if colon:
                if not port_text.isdigit():
                    self.fail(f"{where}.to", f"{to!r} has a bad port (expected \"ADDRESS:PORT\" like "
                                             "\"192.168.77.10:80\")")
                to_port = self.port(int(port_text), f"{where}.to")
            else:
                to_port = port
            if not any(to_address in locate.cidr(n) for n in inside):
                self.fail(f"{where}.to", f"{to_address} is not on an inside network of this router "
                                         f"(expected an address in {_or_list([str(locate.cidr(n)) for n in inside])})")
            if any(f.protocol == protocol and f.port == port for f in forwards):
                self.fail(f"{where}.port", f"{protocol} port {port} is forwarded twice (expected one forward "
                                           "per protocol and port)")
            forwards.append(Forward(protocol, port, to_address, to_port))
        return Nat(outside=outside,
                   mapping=self.choice(table, "mapping", path, NAT_BEHAVIOURS, "endpoint-independent"),
                   filtering=self.choice(table, "filtering", path, NAT_BEHAVIOURS, "address-and-port-dependent"),
                   port_allocation=self.choice(table, "port_allocation", path, PORT_ALLOCATIONS, "preserve"),
                   udp_timeout=self.seconds(table, "udp_timeout", path, LINUX_UDP_TIMEOUT),
                   udp_stream_timeout=self.seconds(table, "udp_stream_timeout", path, LINUX_UDP_STREAM_TIMEOUT),
                   tcp_timeout=self.seconds(table, "tcp_timeout", path, LINUX_TCP_TIMEOUT),
                   hairpin=self.boolean(table, "hairpin", path, True),
                   forwards=tuple(forwards))

    def seconds(self, table: dict, key: str, path: str, default: float) -> float:
        if key not in table:
            return default
        value = table[key]
        where = _join(path, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(where, f"{_type_name(value)} {value!r} is not a duration (expected seconds >= 1)")
        if not math.isfinite(value) or value < 1:
            self.fail(where, f"{value!r} seconds is out of range (expected a finite number >= 1)")
        return float(value)

    # -- firewalls

    def firewall(self, table: dict, path: str, router_networks: Optional[Sequence[str]] = None) -> Firewall:
        """A firewall table; *router_networks* (a router's networks) allow its forward path."""
        style = self.choice(table, "style", path, FIREWALL_STYLES, "nftables", what="firewall style")
        if style == "aws-sg":
            return self.aws_sg(table, path)
        if style == "azure-nsg":
            return self.azure_nsg(table, path)
        keys = ("style", "policy", "rules", "output_policy", "output", "stateful")
        forward_from = None
        if router_networks is None:
            if "forward_drop_new_from" in table:
                self.fail(_join(path, "forward_drop_new_from"), "only a router forwards packets (expected this "
                                                                "key in a [routers.firewall] table)")
        else:
            keys += ("forward_drop_new_from",)
            forward_from = self.string(table, "forward_drop_new_from", path, None)
            if forward_from is not None and forward_from not in router_networks:
                self.fail(_join(path, "forward_drop_new_from"),
                          f"{forward_from!r} is not one of this router's networks "
                          f"(expected {_or_list(list(router_networks))})")
        self.keys(table, path, keys)
        return Firewall(
            forward_drop_new_from=forward_from,
            style="nftables",
            policy=self.choice(table, "policy", path, ("accept", "drop"), "accept"),
            rules=tuple(self.nft_rule(r, f"{path}.rules[{i}]") for i, r in enumerate(self.array(table, "rules", path))),
            output_policy=self.choice(table, "output_policy", path, ("accept", "drop"), "accept"),
            output=tuple(self.nft_rule(r, f"{path}.output[{i}]")
                         for i, r in enumerate(self.array(table, "output", path))),
            stateful=self.boolean(table, "stateful", path, True))

    def nft_rule(self, raw: object, path: str) -> Rule:
        table = self.table(raw, path)
        self.keys(table, path, ("action", "protocol", "ports", "source", "destination", "with", "name"))
        if "action" not in table:
            self.fail(path, "a rule needs an action (expected accept, drop or reject)")
        action = self.choice(table, "action", path, ACTIONS, what="action")
        protocol = self.choice(table, "protocol", path, ("tcp", "udp"), None, what="protocol")
        reject_with = None
        if "with" in table:
            if action != "reject":
                self.fail(f"{path}.with", f"'with' belongs to reject rules, this one is {action!r} "
                                          "(expected no 'with', or action = \"reject\")")
            reject_with = self.choice(table, "with", path, REJECT_TYPES, what="reject type")
            if reject_with == "tcp-reset" and protocol != "tcp":
                self.fail(f"{path}.with", f"tcp-reset needs protocol = \"tcp\", this rule has "
                                          f"{'protocol = ' + repr(protocol) if protocol else 'no protocol'} "
                                          "(expected protocol = \"tcp\", or an ICMP reject type)")
        elif action == "reject":
            reject_with = "port-unreachable"
        return Rule(action=action, protocol=protocol, ports=self.optional_ports(table, path),
                    source=self.rule_cidr(table, "source", path),
                    destination=self.rule_cidr(table, "destination", path),
                    reject_with=reject_with, name=self.string(table, "name", path, None))

    def optional_ports(self, table: dict, path: str) -> Optional[PortSet]:
        if "ports" not in table:
            return None
        return self.port_set(table["ports"], f"{path}.ports")

    def rule_cidr(self, table: dict, key: str, path: str, tags: Sequence[str] = ()) -> Address:
        if key not in table:
            return None
        value = table[key]
        where = _join(path, key)
        if tags:
            if value == "*":
                return None
            if value in tags:
                return value
        return self.cidr(value, where)

    def aws_sg(self, table: dict, path: str) -> Firewall:
        self.keys(table, path, ("style", "inbound", "outbound"),
                  hint=" (an AWS security group has only inbound and outbound allow rules)")
        inbound = tuple(self.aws_rule(r, f"{path}.inbound[{i}]", "source")
                        for i, r in enumerate(self.array(table, "inbound", path)))
        if "outbound" in table:
            outbound = tuple(self.aws_rule(r, f"{path}.outbound[{i}]", "destination")
                             for i, r in enumerate(self.array(table, "outbound", path)))
        else:
            outbound = AWS_DEFAULT_OUTBOUND
        return Firewall(style="aws-sg", policy="drop", rules=inbound, output_policy="drop",
                        output=outbound, stateful=True)

    def aws_rule(self, raw: object, path: str, peer: str) -> Rule:
        table = self.table(raw, path)
        hint = " (security group rules only allow; there is no action)" if "action" in table else ""
        self.keys(table, path, ("protocol", "ports", peer, "name"), required=("protocol",), hint=hint)
        protocol = self.choice(table, "protocol", path, ("tcp", "udp", "all"), what="protocol")
        if protocol == "all" and "ports" in table:
            self.fail(f"{path}.ports", "protocol \"all\" covers every port (expected no 'ports', "
                                       "or protocol \"tcp\" or \"udp\")")
        return Rule(action="accept", protocol=None if protocol == "all" else protocol,
                    ports=self.optional_ports(table, path),
                    source=self.rule_cidr(table, "source", path) if peer == "source" else None,
                    destination=self.rule_cidr(table, "destination", path) if peer == "destination" else None,
                    name=self.string(table, "name", path, None))

    def azure_nsg(self, table: dict, path: str) -> Firewall:
        self.keys(table, path, ("style", "inbound", "outbound"),
                  hint=" (an Azure NSG has inbound and outbound rules with priorities)")
        inbound = self.azure_rules(table, "inbound", path) + AZURE_DEFAULT_INBOUND
        outbound = self.azure_rules(table, "outbound", path) + AZURE_DEFAULT_OUTBOUND
        return Firewall(style="azure-nsg", policy="drop", rules=inbound, output_policy="drop",
                        output=outbound, stateful=True)

    def azure_rules(self, table: dict, key: str, path: str) -> tuple[Rule, ...]:
        rules: list[Rule] = []
        seen: dict[int, str] = {}
        for i, raw in enumerate(self.array(table, key, path)):
            where = f"{path}.{key}[{i}]"
            rule_table = self.table(raw, where)
            self.keys(rule_table, where, ("priority", "name", "action", "protocol", "ports", "source",
                                          "destination"), required=("priority", "name", "action"))
            priority = self.typed(rule_table["priority"], f"{where}.priority", int,
                                  "a priority (expected an integer 100-4096)")
            if not 100 <= priority <= 4096:
                self.fail(f"{where}.priority", f"priority {priority} is out of range (expected 100-4096)")
            if priority in seen:
                self.fail(f"{where}.priority", f"priority {priority} is already used at {seen[priority]} "
                                               f"(expected unique priorities among {key} rules)")
            seen[priority] = where
            name = self.string(rule_table, "name", where)
            action = self.choice(rule_table, "action", where, ("allow", "deny"), what="action")
            protocol = self.choice(rule_table, "protocol", where, ("tcp", "udp", "*"), "*", what="protocol")
            ports = None
            if rule_table.get("ports", "*") != "*":
                ports = self.port_set(rule_table["ports"], f"{where}.ports")
            rules.append(Rule(action="accept" if action == "allow" else "drop",
                              protocol=None if protocol == "*" else protocol, ports=ports,
                              source=self.rule_cidr(rule_table, "source", where, AZURE_TAGS),
                              destination=self.rule_cidr(rule_table, "destination", where, AZURE_TAGS),
                              priority=priority, name=name))
        return tuple(sorted(rules, key=lambda r: r.priority))


class _Locator:
    """Which network holds an address, for error messages that say why."""

    def __init__(self, reader: _Reader, networks: Sequence[Network]) -> None:
        self.reader = reader
        self.networks = networks

    def network_of(self, address: IPv4Address, path: str) -> str:
        holders = [n for n in self.networks if address in n.cidr]
        if not holders:
            self.reader.fail(path, f"{address} is in no network (expected an address in "
                                   f"{_or_list([str(n.cidr) for n in self.networks])})")
        if len(holders) > 1:  # networks may not overlap, so this is a safety net
            self.reader.fail(path, f"{address} is in two networks, {holders[0].name} and {holders[1].name} "
                                   "(expected exactly one)")
        net = holders[0]
        if address == net.cidr.network_address:
            self.reader.fail(path, f"{address} is the network address of {net.cidr} (expected a host "
                                   f"address, {net.cidr[1]} to {net.cidr[-2]})")
        if address == net.cidr.broadcast_address:
            self.reader.fail(path, f"{address} is the broadcast address of {net.cidr} (expected a host "
                                   f"address, {net.cidr[1]} to {net.cidr[-2]})")
        return net.name

    def check_named(self, name: str, path: str) -> None:
        if not any(n.name == name for n in self.networks):
            self.reader.fail(path, f"no network named {name!r} (expected "
                                   f"{_or_list([n.name for n in self.networks])})")

    def cidr(self, name: str) -> IPv4Network:
        return next(n.cidr for n in self.networks if n.name == name)


def _or_list(options: Iterable[str]) -> str:
    items = list(options)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"


def _replace(obj, **changes):
    from dataclasses import replace
    return replace(obj, **changes)


_TOML_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")


def loads(text: str, filename: str = "<string>") -> Scenario:
    """Read a scenario from TOML text; *filename* names it in error messages."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        found = _TOML_LINE.search(message)
        if found:
            where = f"line {found.group(1)}"
        elif "(at end of document)" in message:
            # An unclosed array or table: tomllib only notices at the end.
            where = f"line {max(len(text.splitlines()), 1)} (end of file)"
        else:
            where = "TOML"
        what = _TOML_LINE.sub("", message).replace("(at end of document)", "").strip()
        raise BadInput(f"{filename}: {where}: TOML syntax error: {what} "
                       f"(expected valid TOML, see docs/scenario-format.md)") from None
    return from_dict(doc, filename)


def from_dict(doc: dict, filename: str = "<dict>") -> Scenario:
    """A scenario from a parsed TOML document (what :func:`tomllib.loads` returns), checked
    exactly as a file is: any problem is one :class:`BadInput` line naming *filename* and
    the key.  For code that edits a scenario as data (the course's firewall editor)."""
    return _Reader(filename).scenario(doc)


def load(path: Union[str, Path]) -> Scenario:
    """Read a scenario file.  Any problem is one :class:`BadInput` line naming file and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such scenario file (expected a .toml file; shipped ones: "
                       f"{', '.join(sorted(shipped())) or 'none'})") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a directory (expected a scenario .toml file)") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text (expected a TOML file)") from None
    except OSError as err:
        raise BadInput(f"{path}: cannot read: {err.strerror} (expected a readable .toml file)") from None
    scenario = loads(text, str(path))
    return _replace(scenario, path=str(path))


def resolve(value: Union["Scenario", str, Path], what: str = "scenario") -> "Scenario":
    """The one way from what a user gives to a Scenario: a Scenario as it is, a file
    path, or the name of a shipped scenario (``home-nat``).  The command line, the
    simulator, the lab and the course all call this.  *what* names the value in the
    error (``--scenario`` on the command line)."""
    if isinstance(value, Scenario):
        return value
    if not isinstance(value, (str, Path)):
        raise BadInput(f"{what} {value!r}: expected a scenario file, a shipped scenario's name or a Scenario")
    text = str(value)
    path = Path(text)
    if not path.exists():
        found = shipped()
        if text in found:
            path = found[text]
        elif "/" not in text and not text.endswith(".toml"):
            raise BadInput(f"{what} {text!r}: no such scenario file "
                           f"(expected a .toml path or a shipped scenario: {', '.join(sorted(found))})")
        # A path that does not exist: load() says so, naming the file.
    return load(path)


def shipped() -> dict[str, Path]:
    """The scenarios that come with portlab: name (file stem) -> path."""
    if not SCENARIO_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(SCENARIO_DIR.glob("*.toml"))}


