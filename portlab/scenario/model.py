"""The scenario model: frozen dataclasses for networks, machines, firewalls and NAT,
and the vocabularies the format allows.  Pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Iterable, Iterator, Optional, Sequence, Union

from ..errors import BadInput
from ..paths import DATA_DIR

ACTIONS = ("accept", "drop", "reject")
# The order of the measured table in docs/design.md (section 4); the first is what a plain `reject` sends.
REJECT_TYPES = (
    "port-unreachable", "tcp-reset", "host-unreachable", "admin-prohibited",
    "net-unreachable", "host-prohibited", "net-prohibited", "prot-unreachable",
)
FIREWALL_STYLES = ("nftables", "aws-sg", "azure-nsg")
NAT_BEHAVIOURS = ("endpoint-independent", "address-dependent", "address-and-port-dependent")
PORT_ALLOCATIONS = ("preserve", "sequential", "random")
AZURE_TAGS = ("VirtualNetwork", "Internet")
# Azure's AzureLoadBalancer service tag stands for this one address (the platform's
# health probes).  No scenario network may hold it, so the default rule that allows
# it matches nothing in a scenario, as the format promises, while keeping the
# contract's types (a CIDR, not a third tag the simulator and the lab would need to know).
AZURE_LOAD_BALANCER = IPv4Network("168.63.129.16/32")

# Scenario networks become the scanner's default scope, so they must be ranges that
# no one owns on the Internet: a scenario must never make a public address look scannable.
ALLOWED_RANGES = tuple(IPv4Network(c) for c in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",   # RFC 1918 private
    "100.64.0.0/10",                                    # RFC 6598 carrier-grade NAT
    "198.18.0.0/15",                                    # RFC 2544 benchmarking
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",  # RFC 5737 documentation
))

SCENARIO_DIR = DATA_DIR / "scenarios"

_SCENARIO_NAME = re.compile(r"[a-z0-9-]{1,24}")
_MACHINE_NAME = re.compile(r"[a-z0-9-]{1,12}")

Address = Union[IPv4Network, str, None]


# ---------------------------------------------------------------------------- ports

@dataclass(frozen=True)
class PortSet:
    """A set of ports as sorted, merged, inclusive ranges: ``"22,80,9000-9010"``."""

    ranges: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        merged: list[list[int]] = []
        for low, high in sorted(self.ranges):
            if not (1 <= low <= high <= 65535):
                raise BadInput(f"port range {low}-{high} is invalid (expected 1-65535, low <= high)")
            if merged and low <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        object.__setattr__(self, "ranges", tuple((lo, hi) for lo, hi in merged))

    @classmethod
    def parse(cls, value: Union[str, int, Sequence[int], "PortSet"]) -> "PortSet":
        """``"22"``, ``"9000-9010"``, ``"22,80,443"``, ``22`` or ``[22, 80]``."""
        if isinstance(value, PortSet):
            return value
        if isinstance(value, bool):
            raise BadInput(f"{value!r} is not a port (expected a port string like \"22,80,9000-9010\")")
        if isinstance(value, int):
            return cls(((_check_port(value), value),))
        if isinstance(value, str):
            return cls(tuple(_parse_port_item(item, value) for item in value.split(",")))
        if isinstance(value, (list, tuple)):
            if not value:
                raise BadInput("an empty port list (expected at least one port)")
            ranges = []
            for item in value:
                if isinstance(item, bool) or not isinstance(item, int):
                    raise BadInput(f"{item!r} in a port list is not a port (expected integers 1-65535)")
                ranges.append((_check_port(item), item))
            return cls(tuple(ranges))
        raise BadInput(f"{value!r} is not a port set (expected a string like \"22,80,9000-9010\")")

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and any(lo <= port <= hi for lo, hi in self.ranges)

    def __iter__(self) -> Iterator[int]:
        for low, high in self.ranges:
            yield from range(low, high + 1)

    def __len__(self) -> int:
        return sum(high - low + 1 for low, high in self.ranges)

    def __str__(self) -> str:
        return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.ranges)


def _check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise BadInput(f"port {port} is out of range (expected 1-65535)")
    return port


def _parse_port_item(item: str, whole: str) -> tuple[int, int]:
    text = item.strip()
    low_text, dash, high_text = text.partition("-")
    if not low_text.isdigit() or (dash and not high_text.isdigit()):
        raise BadInput(f"bad port string {whole!r} (expected ports and ranges like \"22,80,9000-9010\")")
    low = _check_port(int(low_text))
    high = _check_port(int(high_text)) if dash else low
    if high < low:
        raise BadInput(f"port range {text!r} runs backwards (expected low-high, like \"9000-9010\")")
    return low, high


def _set(obj: object, name: str, value: object) -> None:
    """Normalise a field of a frozen dataclass in ``__post_init__``."""
    object.__setattr__(obj, name, value)


def _port_tuple(ports: Iterable[int]) -> tuple[int, ...]:
    """Services as a sorted tuple without repeats, the form a loaded file has."""
    return tuple(sorted(set(ports)))


# ------------------------------------------------------------------------ firewalls

@dataclass(frozen=True)
class Rule:
    """One firewall rule in any style, reduced to what decides a packet's fate.

    ``protocol``/``ports``/``source``/``destination`` of ``None`` match anything.
    ``source``/``destination`` are strings only for Azure's tags ``"VirtualNetwork"``
    and ``"Internet"`` (see :func:`match_address`).  A ``reject`` always has a
    ``reject_with`` (``"port-unreachable"`` when the file said nothing, which is
    what a plain nftables ``reject`` sends); other actions have none.
    """

    action: str
    protocol: Optional[str] = None
    ports: Optional[PortSet] = None
    source: Address = None
    destination: Address = None
    reject_with: Optional[str] = None
    priority: Optional[int] = None
    name: Optional[str] = None

    def __post_init__(self) -> None:
        # Code (a notebook's rule editor, a test) may build rules by hand:
        # Rule("accept", "tcp", "22", source="10.77.0.5") means what the file would.
        if self.ports is not None and not isinstance(self.ports, PortSet):
            _set(self, "ports", PortSet.parse(self.ports))
        for key in ("source", "destination"):
            value = getattr(self, key)
            if value == "*":
                _set(self, key, None)
            elif isinstance(value, IPv4Address):
                _set(self, key, IPv4Network(value))
            elif isinstance(value, str) and value not in AZURE_TAGS:
                try:
                    _set(self, key, IPv4Network(value))
                except ValueError:
                    pass  # an unknown tag stays a string; whoever uses the rule names the problem
        if self.action == "reject" and self.reject_with is None:
            _set(self, "reject_with", "port-unreachable")

    def matches(self, protocol: str, port: int, source: IPv4Address, destination: IPv4Address,
                local: Sequence[IPv4Network] = ()) -> bool:
        """Does a packet (protocol, destination port, addresses) hit this rule?

        *local* is the networks of the machine the firewall sits on; only Azure's
        tags need it.
        """
        return ((self.protocol is None or self.protocol == protocol)
                and (self.ports is None or port in self.ports)
                and match_address(self.source, source, local)
                and match_address(self.destination, destination, local))


def match_address(spec: Address, address: IPv4Address, local: Sequence[IPv4Network] = ()) -> bool:
    """Whether *address* is in a rule's *spec*.

    ``None`` is any; ``"VirtualNetwork"`` is the networks the firewall's machine
    sits on (*local*); ``"Internet"`` is everything else, as Azure defines its tags.
    """
    if spec is None:
        return True
    if spec == "VirtualNetwork":
        return any(address in net for net in local)
    if spec == "Internet":
        return not any(address in net for net in local)
    if isinstance(spec, IPv4Network):
        return address in spec
    raise ValueError(f"unknown address spec {spec!r}")


@dataclass(frozen=True)
class Firewall:
    """A machine's own inbound and outbound filtering, rules in evaluation order.

    Cloud styles are normalised here: an AWS security group is a drop policy with
    its allow rules; an Azure NSG is its rules sorted by priority, defaults
    (priority 65000 and up) included, behind a drop policy.
    """

    style: str = "nftables"
    policy: str = "accept"
    rules: tuple[Rule, ...] = ()
    output_policy: str = "accept"
    output: tuple[Rule, ...] = ()
    stateful: bool = True
    #: A router's forward path (nftables style only): new connections arriving from this
    #: network and passing *through* the router are dropped, unless a port forward (DNAT)
    #: sent them in.  It is what a home router adds to its NAT so that the inside cannot
    #: be reached from outside (nft: ``iifname OUTSIDE ct state new drop``); NAT by
    #: itself does not do it.  ``None``: the router forwards whatever it can route.
    forward_drop_new_from: Optional[str] = None

    def __post_init__(self) -> None:
        _set(self, "rules", tuple(self.rules))
        _set(self, "output", tuple(self.output))


AZURE_DEFAULT_INBOUND = (
    Rule("accept", source="VirtualNetwork", destination="VirtualNetwork", priority=65000,
         name="AllowVnetInBound"),
    Rule("accept", source=AZURE_LOAD_BALANCER, priority=65001, name="AllowAzureLoadBalancerInBound"),
    Rule("drop", priority=65500, name="DenyAllInBound"),
)
AZURE_DEFAULT_OUTBOUND = (
    Rule("accept", source="VirtualNetwork", destination="VirtualNetwork", priority=65000,
         name="AllowVnetOutBound"),
    Rule("accept", destination="Internet", priority=65001, name="AllowInternetOutBound"),
    Rule("drop", priority=65500, name="DenyAllOutBound"),
)
AWS_DEFAULT_OUTBOUND = (Rule("accept"),)


# ------------------------------------------------------------------------- machines

@dataclass(frozen=True)
class Network:
    name: str
    cidr: IPv4Network

    def __post_init__(self) -> None:
        _set(self, "cidr", IPv4Network(self.cidr))


@dataclass(frozen=True)
class Scanner:
    address: IPv4Address
    network: str
    gateway: Optional[IPv4Address] = None
    #: The scanning machine's own firewall: its output chain can stop probes before
    #: they leave (what a scan of a host behind an egress filter sees).
    firewall: Optional["Firewall"] = None

    def __post_init__(self) -> None:
        _set(self, "address", IPv4Address(self.address))
        if self.gateway is not None:
            _set(self, "gateway", IPv4Address(self.gateway))


@dataclass(frozen=True)
class Host:
    name: str
    address: IPv4Address
    network: str
    tcp: tuple[int, ...] = ()
    udp: tuple[int, ...] = ()
    gateway: Optional[IPv4Address] = None
    firewall: Optional[Firewall] = None

    def __post_init__(self) -> None:
        _set(self, "address", IPv4Address(self.address))
        if self.gateway is not None:
            _set(self, "gateway", IPv4Address(self.gateway))
        _set(self, "tcp", _port_tuple(self.tcp))
        _set(self, "udp", _port_tuple(self.udp))


@dataclass(frozen=True)
class Interface:
    network: str
    address: IPv4Address

    def __post_init__(self) -> None:
        _set(self, "address", IPv4Address(self.address))


@dataclass(frozen=True)
class Forward:
    """Static DNAT: *protocol* *port* on the router's outside address goes to *to_address*:*to_port*."""

    protocol: str
    port: int
    to_address: IPv4Address
    to_port: int

    def __post_init__(self) -> None:
        _set(self, "to_address", IPv4Address(self.to_address))


#: Linux's conntrack defaults (Documentation/networking/nf_conntrack-sysctl.rst): on a
#: Linux router the NAT row *is* the conntrack entry, so these are how long it lives idle.
LINUX_UDP_TIMEOUT = 30.0            # nf_conntrack_udp_timeout: a UDP flow not (yet) a stream
LINUX_UDP_STREAM_TIMEOUT = 120.0    # nf_conntrack_udp_timeout_stream: replied, still active after 2 s
LINUX_TCP_TIMEOUT = 432000.0        # nf_conntrack_tcp_timeout_established: 5 days


@dataclass(frozen=True)
class Nat:
    """A router's network address translation: masquerade on *outside*, static forwards.

    Translation only: whether new connections from outside may pass through the router
    is its firewall's business (:attr:`Firewall.forward_drop_new_from`).
    """

    outside: str
    mapping: str = "endpoint-independent"
    filtering: str = "address-and-port-dependent"
    port_allocation: str = "preserve"
    udp_timeout: float = LINUX_UDP_TIMEOUT
    udp_stream_timeout: float = LINUX_UDP_STREAM_TIMEOUT
    tcp_timeout: float = LINUX_TCP_TIMEOUT
    hairpin: bool = True
    forwards: tuple[Forward, ...] = ()

    def __post_init__(self) -> None:
        _set(self, "forwards", tuple(self.forwards))
        _set(self, "udp_timeout", float(self.udp_timeout))
        _set(self, "udp_stream_timeout", float(self.udp_stream_timeout))
        _set(self, "tcp_timeout", float(self.tcp_timeout))

    @property
    def linux_like(self) -> bool:
        """True if this is the NAT Linux conntrack gives, the only kind the live lab builds."""
        return (self.mapping == "endpoint-independent"
                and self.filtering == "address-and-port-dependent"
                and self.port_allocation == "preserve")


@dataclass(frozen=True)
class Router:
    name: str
    interfaces: tuple[Interface, ...]
    tcp: tuple[int, ...] = ()
    udp: tuple[int, ...] = ()
    firewall: Optional[Firewall] = None
    nat: Optional[Nat] = None

    def __post_init__(self) -> None:
        _set(self, "interfaces", tuple(self.interfaces))
        _set(self, "tcp", _port_tuple(self.tcp))
        _set(self, "udp", _port_tuple(self.udp))

    def interface(self, network: str) -> Interface:
        for iface in self.interfaces:
            if iface.network == network:
                return iface
        raise BadInput(f"router {self.name} has no interface on network {network!r} "
                       f"(expected one of {', '.join(i.network for i in self.interfaces)})")

    @property
    def inside(self) -> tuple[str, ...]:
        """The networks that are not the NAT's outside (all of them without NAT)."""
        outside = self.nat.outside if self.nat else None
        return tuple(i.network for i in self.interfaces if i.network != outside)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    scanner: Scanner
    networks: tuple[Network, ...]
    hosts: tuple[Host, ...] = ()
    routers: tuple[Router, ...] = ()
    # Where the file came from; not part of what the scenario *is*, so two loads of
    # the same network compare equal wherever they were read from.
    path: Optional[str] = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for key in ("networks", "hosts", "routers"):
            _set(self, key, tuple(getattr(self, key)))

    def network(self, name: str) -> Network:
        for net in self.networks:
            if net.name == name:
                return net
        raise BadInput(f"scenario {self.name}: no network named {name!r} "
                       f"(expected one of {', '.join(n.name for n in self.networks)})")

    def machine(self, name: str) -> Union[Host, Router]:
        for machine in (*self.hosts, *self.routers):
            if machine.name == name:
                return machine
        names = [m.name for m in (*self.hosts, *self.routers)]
        raise BadInput(f"scenario {self.name}: no machine named {name!r} "
                       f"(expected one of {', '.join(names) or 'none: the scenario has no machines'})")

    def addresses(self) -> dict[IPv4Address, str]:
        """Every address in the scenario -> the machine holding it (``"scanner"`` for the scanner)."""
        found: dict[IPv4Address, str] = {self.scanner.address: "scanner"}
        for host in self.hosts:
            found[host.address] = host.name
        for router in self.routers:
            for iface in router.interfaces:
                found[iface.address] = router.name
        return found

    def cidrs(self) -> list[str]:
        """The scenario's networks as CIDR strings, for the scope guard."""
        return [str(net.cidr) for net in self.networks]

    def local_networks(self, name: str) -> tuple[IPv4Network, ...]:
        """The CIDRs a machine sits on (what Azure's ``VirtualNetwork`` tag means for it)."""
        machine = self.machine(name)
        if isinstance(machine, Host):
            return (self.network(machine.network).cidr,)
        return tuple(self.network(i.network).cidr for i in machine.interfaces)


