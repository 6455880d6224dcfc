"""A scenario as an ordered list of ``ip`` / ``nft`` / ``sysctl`` steps.  Pure.

Layout: one namespace per host, per router and for the scanner, and one per
network holding a bridge (never the root namespace).  Each member of a network
gets a veth pair created *from* the network's namespace with its other end moved
straight into the member's namespace, so no link ever appears in the root
namespace and nothing touches the machine's real interfaces.  Default routes
exist only where the scenario names a gateway, and every gateway is a lab
address: no route leaves the lab.

Every resource lives inside a namespace the lab created, so the undo of the
whole plan is: stop the processes in those namespaces, delete the namespaces.
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass, field
from typing import Optional

from . import names, nftables

# The conntrack timeouts a router's NAT mapping lifetimes map to.
UDP_TIMEOUT_SYSCTL = "net.netfilter.nf_conntrack_udp_timeout"
UDP_STREAM_TIMEOUT_SYSCTL = "net.netfilter.nf_conntrack_udp_timeout_stream"
TCP_TIMEOUT_SYSCTL = "net.netfilter.nf_conntrack_tcp_timeout_established"


@dataclass(frozen=True)
class Step:
    argv: tuple[str, ...]
    what: str                              # one line for people (and `up --verbose`)
    stdin: Optional[str] = None
    creates_netns: Optional[str] = None    # recorded in the state file before it runs
    undo: Optional[tuple[str, ...]] = None


@dataclass(frozen=True)
class Service:
    """The daemon of one machine: started last, runs until the lab goes down."""

    machine: str
    netns: str
    tcp: tuple[int, ...]
    udp: tuple[int, ...]

    def argv(self, python: str = sys.executable) -> tuple[str, ...]:
        argv = ["ip", "netns", "exec", self.netns, python, "-m", "portlab.lab.services"]
        if self.tcp:
            argv += ["--tcp", ",".join(map(str, self.tcp))]
        if self.udp:
            argv += ["--udp", ",".join(map(str, self.udp))]
        return tuple(argv)


@dataclass(frozen=True)
class Plan:
    prefix: str
    scenario: str
    scanner_netns: str
    machine_netns: dict[str, str]          # host/router name -> namespace
    network_netns: dict[str, str]          # network name -> namespace of its bridge
    steps: tuple[Step, ...]
    services: tuple[Service, ...]
    rulesets: dict[str, str] = field(default_factory=dict)   # namespace -> nft text

    @property
    def namespaces(self) -> tuple[str, ...]:
        return tuple(s.creates_netns for s in self.steps if s.creates_netns)

    def undo_steps(self) -> list[Step]:
        """Reverse order: the machines first, the bridges last."""
        return [Step(s.undo, f"delete {s.creates_netns}") for s in reversed(self.steps) if s.undo]


def _ip(netns: str, *args: str) -> tuple[str, ...]:
    return ("ip", "-n", netns, *args)


def _exec(netns: str, *args: str) -> tuple[str, ...]:
    return ("ip", "netns", "exec", netns, *args)


def _where(scenario) -> str:
    path = getattr(scenario, "path", None)
    if path:
        from pathlib import Path
        return Path(path).name
    return scenario.name


def build(scenario, prefix: str) -> Plan:
    """Every step, in order, to bring *scenario* up under *prefix*.

    Raises BadInput (before anything runs) for what the kernel cannot build.
    """
    names.check_prefix(prefix)
    file = _where(scenario)
    steps: list[Step] = []
    network_ns = {net.name: names.network_netns(prefix, net.name) for net in scenario.networks}
    cidr = {net.name: net.cidr for net in scenario.networks}
    scanner_ns = names.scanner_netns(prefix)
    machine_ns = {m.name: names.machine_netns(prefix, m.name) for m in (*scenario.hosts, *scenario.routers)}

    # Namespaces: bridges first, so members can be plugged in as they appear.
    for ns in (*network_ns.values(), scanner_ns, *machine_ns.values()):
        steps.append(Step(("ip", "netns", "add", ns), f"namespace {ns}", creates_netns=ns,
                          undo=("ip", "netns", "delete", ns)))
        steps.append(Step(_ip(ns, "link", "set", "lo", "up"), f"{ns}: loopback up"))
    for net in scenario.networks:
        ns = network_ns[net.name]
        steps.append(Step(_ip(ns, "link", "add", names.BRIDGE_IFNAME, "type", "bridge"),
                          f"{ns}: bridge for {net.name} ({net.cidr})"))
        steps.append(Step(_ip(ns, "link", "set", names.BRIDGE_IFNAME, "up"), f"{ns}: bridge up"))

    # Members: (namespace, network, address) in a fixed order; a router has one per interface.
    members: list[tuple[str, str, ipaddress.IPv4Address, int]] = []
    members.append((scanner_ns, scenario.scanner.network, scenario.scanner.address, 0))
    for host in scenario.hosts:
        members.append((machine_ns[host.name], host.network, host.address, 0))
    for router in scenario.routers:
        for i, iface in enumerate(router.interfaces):
            members.append((machine_ns[router.name], iface.network, iface.address, i))
    port_of: dict[str, int] = {}
    for ns, network, address, index in members:
        bridge_ns = network_ns[network]
        member = port_of.get(network, 0)
        port_of[network] = member + 1
        port, ifname = names.bridge_port_ifname(member), names.machine_ifname(index)
        steps += [
            Step(_ip(bridge_ns, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns),
                 f"{ns}: {ifname} on {network}"),
            Step(_ip(bridge_ns, "link", "set", port, "master", names.BRIDGE_IFNAME, "up"),
                 f"{bridge_ns}: {port} into the bridge"),
            Step(_ip(ns, "addr", "add", f"{address}/{cidr[network].prefixlen}", "dev", ifname),
                 f"{ns}: {ifname} = {address}/{cidr[network].prefixlen}"),
            Step(_ip(ns, "link", "set", ifname, "up"), f"{ns}: {ifname} up"),
        ]

    # Default routes, only via the scenario's own gateways (all lab addresses).
    for ns, gateway in [(scanner_ns, scenario.scanner.gateway),
                        *[(machine_ns[h.name], h.gateway) for h in scenario.hosts]]:
        if gateway is not None:
            steps.append(Step(_ip(ns, "route", "add", "default", "via", str(gateway)),
                              f"{ns}: default via {gateway}"))

    rulesets: dict[str, str] = {}
    sysctls: list[Step] = []
    text = nftables.firewall_ruleset(scenario.scanner.firewall, (cidr[scenario.scanner.network],),
                                     f"{file}: scanner.firewall")
    if text:
        rulesets[scanner_ns] = text
    for i, host in enumerate(scenario.hosts):
        text = nftables.firewall_ruleset(host.firewall, (cidr[host.network],), f"{file}: hosts[{i}].firewall")
        if text:
            rulesets[machine_ns[host.name]] = text
    for i, router in enumerate(scenario.routers):
        ns = machine_ns[router.name]
        own = tuple(cidr[iface.network] for iface in router.interfaces)
        steps.append(Step(_exec(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"), f"{ns}: forward IPv4"))
        ifname = {iface.network: names.machine_ifname(k) for k, iface in enumerate(router.interfaces)}
        if router.nat is not None:
            where = f"{file}: routers[{i}].nat"
            outside = [iface for iface in router.interfaces if iface.network == router.nat.outside]
            if not outside:
                from ..errors import BadInput
                raise BadInput(f"{where}.outside: {router.nat.outside!r} is not one of the router's networks")
            inside = [(ifname[iface.network], cidr[iface.network])
                      for iface in router.interfaces if iface.network != router.nat.outside]
            rulesets[ns + "#nat"] = nftables.nat_ruleset(router.nat, ifname[router.nat.outside],
                                                         outside[0].address, inside, where)
            # Mapping lifetimes: on Linux a NAT row is the conntrack entry, so these are
            # per-namespace conntrack timeouts (the nft NAT table loads conntrack).
            for sysctl, seconds, what in ((UDP_TIMEOUT_SYSCTL, router.nat.udp_timeout, "UDP"),
                                          (UDP_STREAM_TIMEOUT_SYSCTL, router.nat.udp_stream_timeout, "UDP stream"),
                                          (TCP_TIMEOUT_SYSCTL, router.nat.tcp_timeout, "established TCP")):
                sysctls.append(Step(_exec(ns, "sysctl", "-qw", f"{sysctl}={int(seconds)}"),
                                    f"{ns}: NAT {what} mapping lifetime {seconds:g}s"))
        text = nftables.firewall_ruleset(router.firewall, own, f"{file}: routers[{i}].firewall", ifname)
        if text:
            rulesets[ns] = text
    for key, text in rulesets.items():
        ns = key.split("#")[0]
        steps.append(Step(_exec(ns, "nft", "-f", "-"), f"{ns}: nftables {'nat' if '#' in key else 'filter'} table",
                          stdin=text))
    steps += sysctls

    services = tuple(Service(m.name, machine_ns[m.name], tuple(m.tcp), tuple(m.udp))
                     for m in (*scenario.hosts, *scenario.routers) if m.tcp or m.udp)
    return Plan(prefix=prefix, scenario=scenario.name, scanner_netns=scanner_ns, machine_netns=machine_ns,
                network_netns=network_ns, steps=tuple(steps), services=services, rulesets=rulesets)
